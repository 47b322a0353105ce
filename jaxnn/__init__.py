"""jaxnn: weights, biases, initializers, losses and convergence benchmarks in JAX.

The library modules are imported with the package (``import jaxnn; jaxnn.losses.huber(...)``); the benchmark
modules (``jaxnn.sweep``, ``jaxnn.cli``, ``jaxnn.plot``, ...) are imported on demand, as they pull in the
``bench`` extra.
"""

from jaxnn import (
    activations,
    datasets,
    diagnostics,
    initializers,
    losses,
    metrics,
    models,
    monitor,
    regularizers,
    schemes,
    train,
)

__version__ = "0.1.0"

__all__ = [
    "activations",
    "datasets",
    "diagnostics",
    "initializers",
    "losses",
    "metrics",
    "models",
    "monitor",
    "regularizers",
    "schemes",
    "train",
]
