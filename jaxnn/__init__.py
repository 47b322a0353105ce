"""jaxnn: weights, biases, initializers, losses and convergence benchmarks in JAX."""

__version__ = "0.1.0"
