"""Losses: one interface, one reduction mechanism, hardened numerics.

Every loss is a pure function::

    loss(predictions, targets, *, weights=None, where=None, reduction="mean",
         ...)

* ``predictions`` first (optax's order), then ``targets`` / ``labels``.
* ``reduction``: ``"mean"`` (default; a scalar, so
  ``jax.grad(lambda p: loss(f(p, x), y))`` just works), ``"sum"`` or ``"none"``
  (the per-example values, see below).
* ``weights``: per-example weights.  ``"mean"`` divides by the sum of the
  (unmasked) weights, ``"sum"`` and ``"none"`` multiply by them.
* ``where``: a boolean mask.  It is applied to the *inputs* before anything is
  computed, so masked entries contribute nothing to the value and nothing to
  the gradient even when they hold NaN or inf.  A fully masked batch gives 0.

Per-example shape (what ``reduction="none"`` returns, and the shape
``weights``/``where`` refer to):

* elementwise losses (all regression losses, ``binary_cross_entropy``,
  ``binary_focal``, binary ``hinge``/``squared_hinge``): ``predictions.shape``.
  Nothing is averaged over a trailing feature axis (unlike Keras); ``"mean"``
  is the mean over all unmasked elements.
* distribution losses (``categorical_cross_entropy``, ``categorical_focal``,
  multiclass ``hinge``, ``kl_divergence``, ``cosine_distance``):
  ``predictions.shape`` without ``axis``.

``weights`` and ``where`` must have exactly the per-example shape, or a prefix
of it (e.g. ``(N,)`` for per-example values of shape ``(N, D)``; they are then
broadcast over the trailing axes), or be scalars.  Any other shape is a
``ValueError``: nothing is ever broadcast silently.

Precision: float16/bfloat16 inputs are computed in float32 and the result is
returned in the dtype of ``predictions``; float32/float64 are computed as is.

Integer class ids outside ``[0, num_classes)`` cannot raise inside ``jit``.
Policy: they are treated exactly like ``ignore_index`` -- a masked zero (no
value, no gradient, not counted by ``"mean"``).  Validate eagerly with
:func:`check_labels`, which also works under ``jax.experimental.checkify``.

Layout (private modules, everything public is re-exported here): ``_common`` (input checks, masking, the
reduction), ``_regression``, ``_classification`` (cross-entropy, focal, hinge), ``_distribution`` (KL,
cosine), ``_ranking`` (triplet, margin ranking, cosine/hinge embedding, multi-margin), ``_segmentation`` (dice,
tversky), ``_contrastive`` (NT-Xent), ``_sequence`` (CTC, wrapping optax), ``_cross_entropy_variants`` (Poly-1,
sparsemax), ``_validation`` (:func:`check_labels`, :func:`check_probabilities`, :func:`check_binary_labels`),
``_registry`` (:func:`names`, :func:`get`, Keras class names).

Input domains: concrete (eager) inputs outside a loss's domain (probabilities or binary labels outside [0, 1], hinge
labels outside {-1, 0, 1}, pairwise labels outside {-1, 1}) raise a one-line ``ValueError``; NaN and masked entries
are not inspected.  Traced inputs cannot be inspected: validate them with :func:`check_probabilities` /
:func:`check_binary_labels` / :func:`check_labels` under ``jax.experimental.checkify``.
"""

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
from jaxnn.losses._registry import get, names
from jaxnn.losses._regression import (
    gaussian_nll,
    huber,
    log_cosh,
    mae,
    mape,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_log_error,
    mse,
    msle,
    poisson,
    smooth_l1,
)
from jaxnn.losses._segmentation import dice, tversky
from jaxnn.losses._sequence import ctc
from jaxnn.losses._validation import check_binary_labels, check_labels, check_probabilities

__all__ = [
    "mean_squared_error",
    "mse",
    "mean_absolute_error",
    "mae",
    "huber",
    "smooth_l1",
    "log_cosh",
    "mean_squared_log_error",
    "msle",
    "mean_absolute_percentage_error",
    "mape",
    "poisson",
    "gaussian_nll",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "focal",
    "binary_focal",
    "categorical_focal",
    "hinge",
    "squared_hinge",
    "kl_divergence",
    "cosine_distance",
    "triplet_margin",
    "margin_ranking",
    "cosine_embedding",
    "hinge_embedding",
    "multi_margin",
    "ctc",
    "dice",
    "tversky",
    "poly_cross_entropy",
    "sparsemax",
    "ntxent",
    "check_labels",
    "check_probabilities",
    "check_binary_labels",
    "get",
    "names",
]
