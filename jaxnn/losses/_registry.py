"""Lookup by name: :func:`names` and :func:`get` (canonical names and aliases)."""

from __future__ import annotations

from collections.abc import Callable

from jaxnn._util import Array
from jaxnn.losses._classification import (
    binary_cross_entropy,
    binary_focal,
    categorical_cross_entropy,
    categorical_focal,
    focal,
    hinge,
    squared_hinge,
)
from jaxnn.losses._distribution import cosine_distance, kl_divergence
from jaxnn.losses._regression import (
    gaussian_nll,
    huber,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_log_error,
    poisson,
    smooth_l1,
)

_REGISTRY = {
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "huber": huber,
    "smooth_l1": smooth_l1,
    "log_cosh": log_cosh,
    "mean_squared_log_error": mean_squared_log_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "poisson": poisson,
    "gaussian_nll": gaussian_nll,
    "binary_cross_entropy": binary_cross_entropy,
    "categorical_cross_entropy": categorical_cross_entropy,
    "focal": focal,
    "binary_focal": binary_focal,
    "categorical_focal": categorical_focal,
    "hinge": hinge,
    "squared_hinge": squared_hinge,
    "kl_divergence": kl_divergence,
    "cosine_distance": cosine_distance,
}

_ALIASES = {
    # regression
    "mse": "mean_squared_error",
    "squared_error": "mean_squared_error",
    "mae": "mean_absolute_error",
    "l1": "mean_absolute_error",
    "huber_loss": "huber",
    "smooth_l1_loss": "smooth_l1",
    "logcosh": "log_cosh",
    "msle": "mean_squared_log_error",
    "mape": "mean_absolute_percentage_error",
    "poisson_nll": "poisson",
    "gaussian_nll_loss": "gaussian_nll",
    # binary
    "bce": "binary_cross_entropy",
    "binary_crossentropy": "binary_cross_entropy",
    "sigmoid_binary_cross_entropy": "binary_cross_entropy",
    "binary_cross_entropy_with_logits": "binary_cross_entropy",
    # categorical
    "cce": "categorical_cross_entropy",
    "ce": "categorical_cross_entropy",
    "cross_entropy": "categorical_cross_entropy",
    "categorical_crossentropy": "categorical_cross_entropy",
    "sparse_categorical_crossentropy": "categorical_cross_entropy",
    "sparse_categorical_cross_entropy": "categorical_cross_entropy",
    "softmax_cross_entropy": "categorical_cross_entropy",
    "softmax_cross_entropy_with_integer_labels": "categorical_cross_entropy",
    "nll": "categorical_cross_entropy",
    # focal
    "focal_loss": "focal",
    "sigmoid_focal_loss": "binary_focal",
    "binary_focal_crossentropy": "binary_focal",
    "categorical_focal_crossentropy": "categorical_focal",
    # margins / distributions
    "hinge_loss": "hinge",
    "multiclass_hinge_loss": "hinge",
    "kld": "kl_divergence",
    "kl_div": "kl_divergence",
    "kl": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "cosine": "cosine_distance",
}


def names() -> tuple[str, ...]:
    """All names accepted by :func:`get` (canonical names and aliases)."""
    return tuple(sorted(set(_REGISTRY) | set(_ALIASES)))


def get(name: str) -> Callable[..., Array]:
    """Returns the loss called ``name`` (case-insensitive, ``-`` = ``_``).

    Raises ``ValueError`` listing the valid names for an unknown one.
    """
    if callable(name):
        return name
    if not isinstance(name, str):
        raise TypeError(f"losses.get: name must be a string, got {name!r}.")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(f"Unknown loss {name!r}; valid names: {', '.join(names())}.")
    return _REGISTRY[key]
