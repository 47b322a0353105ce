"""Lookup by name: :func:`names` and :func:`get` (canonical names and aliases)."""

from __future__ import annotations

import functools
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
from jaxnn.losses._contrastive import ntxent
from jaxnn.losses._cross_entropy_variants import poly_cross_entropy, sparsemax
from jaxnn.losses._distribution import cosine_distance, kl_divergence
from jaxnn.losses._ranking import cosine_embedding, hinge_embedding, margin_ranking, multi_margin, triplet_margin
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
from jaxnn.losses._segmentation import dice, tversky
from jaxnn.losses._sequence import ctc

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
    "triplet_margin": triplet_margin,
    "margin_ranking": margin_ranking,
    "cosine_embedding": cosine_embedding,
    "hinge_embedding": hinge_embedding,
    "multi_margin": multi_margin,
    "ctc": ctc,
    "dice": dice,
    "tversky": tversky,
    "poly_cross_entropy": poly_cross_entropy,
    "sparsemax": sparsemax,
    "ntxent": ntxent,
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
    # metric learning / ranking (optax, torch names)
    "triplet_margin_loss": "triplet_margin",
    "margin_ranking_loss": "margin_ranking",
    "cosine_embedding_loss": "cosine_embedding",
    "hinge_embedding_loss": "hinge_embedding",
    "multi_margin_loss": "multi_margin",
    "ctc_loss": "ctc",
    "dice_loss": "dice",
    "tversky_loss": "tversky",
    "poly_loss": "poly_cross_entropy",
    "poly_loss_cross_entropy": "poly_cross_entropy",
    "poly1": "poly_cross_entropy",
    "sparsemax_loss": "sparsemax",
    "multiclass_sparsemax_loss": "sparsemax",
    "nt_xent": "ntxent",
    "simclr": "ntxent",
}


def _keras(fn, **defaults):
    """``fn`` with Keras's defaults bound (the same function when none differ)."""
    if not defaults:
        return fn
    bound = functools.partial(fn, **defaults)
    bound.__name__ = fn.__name__  # type: ignore[attr-defined]
    bound.__doc__ = f"{fn.__name__} with Keras's defaults {defaults}.\n\n{fn.__doc__}"
    return bound


# Keras class names (exact CamelCase, matched before the case-insensitive names): the jaxnn loss with Keras's
# defaults bound where they differ.  Keras reduces a trailing feature axis and then the batch; jaxnn's "mean"
# averages all elements (equal for "mean" when every row has the same length).
_KERAS = {
    "MeanSquaredError": _keras(mean_squared_error),
    "MeanAbsoluteError": _keras(mean_absolute_error),
    "MeanSquaredLogarithmicError": _keras(mean_squared_log_error),
    "MeanAbsolutePercentageError": _keras(mean_absolute_percentage_error),
    "Huber": _keras(huber),  # delta=1.0 in both
    "LogCosh": _keras(log_cosh),
    # Keras takes probabilities (from_logits=False) by default; jaxnn takes logits.
    "BinaryCrossentropy": _keras(binary_cross_entropy, from_logits=False),
    "CategoricalCrossentropy": _keras(categorical_cross_entropy, from_logits=False),
    "SparseCategoricalCrossentropy": _keras(categorical_cross_entropy, from_logits=False),
    "BinaryFocalCrossentropy": _keras(binary_focal, from_logits=False),  # gamma=2, no class balancing
    "CategoricalFocalCrossentropy": _keras(categorical_focal, from_logits=False, alpha=0.25),
    "KLDivergence": _keras(kl_divergence, from_logits=False),  # probabilities, not logits
    "Poisson": _keras(poisson, log_input=False),  # rates, not log-rates
    # Keras's CosineSimilarity is -cos; cosine_distance is 1 - cos (same gradients, value + 1).
    "CosineSimilarity": _keras(cosine_distance),
    "Hinge": _keras(hinge),
    "SquaredHinge": _keras(squared_hinge),
    # Keras's CategoricalHinge also counts 0 as a competitor: equal when some non-target logit is >= 0.
    "CategoricalHinge": _keras(hinge),
    # Keras: 1 - 2TP / (sum p + sum t + 1e-7) and TP / (TP + a.. + b.. + 1e-7) over the whole batch.
    "Dice": _keras(dice, smooth=5e-8),
    "Tversky": _keras(tversky, alpha=0.5, beta=0.5, smooth=1e-7),
    "CTC": _keras(ctc),
}


def names() -> tuple[str, ...]:
    """All names accepted by :func:`get` (canonical names, aliases and Keras class names)."""
    return tuple(sorted(set(_REGISTRY) | set(_ALIASES) | set(_KERAS)))


def get(name: str) -> Callable[..., Array]:
    """Returns the loss called ``name`` (case-insensitive, ``-`` = ``_``).

    Keras class names (``"SparseCategoricalCrossentropy"``, ``"BinaryCrossentropy"``,
    ``"Huber"``, ``"Dice"``, ...), spelled exactly, resolve first: to the jaxnn
    loss with Keras's defaults bound by ``functools.partial`` where they
    differ (``from_logits=False`` for the cross-entropies and ``KLDivergence``,
    ``log_input=False`` for ``Poisson``, ``alpha=0.25`` for
    ``CategoricalFocalCrossentropy``, Keras's 1e-7 smoothing for ``Dice`` and
    ``Tversky``).  So ``get("Poisson")`` takes rates while ``get("poisson")``
    takes log-rates.  Raises ``ValueError`` listing the valid names for an
    unknown one.
    """
    if callable(name):
        return name
    if not isinstance(name, str):
        raise TypeError(f"losses.get: name must be a string, got {name!r}.")
    if name.strip() in _KERAS:
        return _KERAS[name.strip()]
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(f"Unknown loss {name!r}; valid names: {', '.join(names())}.")
    return _REGISTRY[key]
