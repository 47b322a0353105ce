"""jaxnn: weights, biases, initializers, losses and convergence benchmarks in JAX.

The library modules are imported with the package (``import jaxnn; jaxnn.losses.huber(...)``). The benchmark
application lives in :mod:`jaxnn.bench` (``jaxnn-bench``); it is imported on demand, pulls in the ``bench``
extra, and the library never imports it.
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
    rules,
    schemes,
    train,
)
from jaxnn._reinit import reinit

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
    "reinit",
    "rules",
    "schemes",
    "train",
]
