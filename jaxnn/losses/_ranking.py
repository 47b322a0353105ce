"""Metric-learning and margin losses (torch's ``TripletMarginLoss``, ``MarginRankingLoss``,
``CosineEmbeddingLoss``, ``HingeEmbeddingLoss``, ``MultiMarginLoss``).

Labels ``y`` of the pairwise losses are ``+1`` (similar / ``x1`` ranks higher)
or ``-1``; concrete labels outside ``{-1, 1}`` raise ``ValueError`` (masked
entries are not inspected); under ``jit`` validate them with
``check_binary_labels(y, signed=True)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn._util import Array
from jaxnn.losses._common import (
    _abs,
    _canonical_axis,
    _check_concrete_values,
    _check_nonnegative,
    _check_positive,
    _check_reduction,
    _check_same_shape,
    _compute_dtype,
    _dtype_eps,
    _elementwise,
    _float_array,
    _in_pm1,
    _label_array,
    _mask_inputs,
    _per_example,
    _reduce,
)

_PM1 = "in {-1, 1}"


def _vector_inputs(loss_name, arrays, names, axis, weights, where, reduction):
    """Float arrays of one shape with a feature ``axis``; returns (first, moved/masked arrays, mask, w, ax)."""
    _check_reduction(reduction, loss_name)
    xs = [_float_array(a, n, loss_name) for a, n in zip(arrays, names)]
    for a, n in zip(xs[1:], names[1:]):
        _check_same_shape(xs[0], a, names[0], n, loss_name)
    if xs[0].ndim == 0:
        raise ValueError(f"{loss_name}: {names[0]} must have a feature axis, got a scalar.")
    ax = _canonical_axis(axis, xs[0].ndim, loss_name)
    example_shape = xs[0].shape[:ax] + xs[0].shape[ax + 1 :]
    mask = _per_example(where, "where", example_shape, loss_name, is_mask=True)
    w = _per_example(weights, "weights", example_shape, loss_name, is_mask=False)
    cdt = _compute_dtype(*xs)
    masked = _mask_inputs(mask, *xs, axis=ax) if mask is not None else tuple(xs)
    if not isinstance(masked, tuple):
        masked = (masked,)
    moved = [jnp.moveaxis(a, ax, -1).astype(cdt) for a in masked]
    return xs[0], moved, mask, w, example_shape


def _signed_labels(y, arg, shape, loss_name, mask, axis=None):
    y = _label_array(y, arg, loss_name)
    if y.shape != tuple(shape):
        raise ValueError(
            f"{loss_name}: {arg} has shape {y.shape}, expected {tuple(shape)} (one +-1 label per example)."
        )
    _check_concrete_values(y, _in_pm1, _PM1, arg, loss_name, mask=mask, axis=axis)
    return y


def _pairwise_distance(d, p, eps):
    r"""torch's ``pairwise_distance``: :math:`\|d + \epsilon\|_p`, with gradient 0 (not NaN) at norm 0."""
    d = d + eps
    s = jnp.sum(_abs(d) ** p, axis=-1)
    pos = s > 0
    safe = jnp.where(pos, s, jnp.ones((), s.dtype))
    return jnp.where(pos, safe ** (1.0 / p), jnp.zeros((), s.dtype))


def triplet_margin(
    anchor,
    positive,
    negative,
    *,
    margin=1.0,
    p=2,
    eps=1e-6,
    axis=-1,
    weights=None,
    where=None,
    reduction="mean",
) -> Array:
    r"""Triplet margin loss (Schroff et al. 2015, FaceNet; Balntas et al. 2016).

    .. math::
      \max(d(a, p) - d(a, n) + m,\ 0),\quad d(x, y) = \|x - y + \epsilon\|_p

    The distance is torch's documented ``pairwise_distance`` (``eps`` added to
    the *difference* before the norm, torch ``TripletMarginLoss`` default
    ``eps=1e-6``); optax's ``triplet_margin_loss`` instead adds ``eps`` to the
    sum of powers, :math:`(\sum |x-y|^p + \epsilon)^{1/p}`, so the two agree
    exactly at ``eps=0`` and to about ``eps`` otherwise.  Per-example shape:
    ``anchor.shape`` without ``axis``.  ``p`` must be > 0 (a norm for p >= 1);
    the gradient at distance 0 is 0.
    """
    name = "triplet_margin"
    _check_positive(p, "p", name)
    _check_nonnegative(eps, "eps", name)
    first, (a, pos, neg), mask, w, _ = _vector_inputs(
        name, (anchor, positive, negative), ("anchor", "positive", "negative"), axis, weights, where, reduction
    )
    values = jnp.maximum(_pairwise_distance(a - pos, p, eps) - _pairwise_distance(a - neg, p, eps) + margin, 0.0)
    return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=first.dtype)


def margin_ranking(x1, x2, y, *, margin=0.0, weights=None, where=None, reduction="mean") -> Array:
    r"""Margin ranking loss (torch ``MarginRankingLoss``), elementwise.

    .. math:: \max(0,\ -y\,(x_1 - x_2) + m)

    ``y = 1``: ``x1`` should rank higher than ``x2`` by ``margin``; ``y = -1``:
    the reverse.  ``x1``, ``x2``, ``y`` share one shape (the per-example
    shape).  Used for learning to rank (pairwise, e.g. RankNet-style setups).
    """
    name = "margin_ranking"
    a = _float_array(x1, "x1", name)
    mask = _per_example(where, "where", a.shape, name, is_mask=True)
    yy = _signed_labels(y, "y", a.shape, name, mask)
    return _elementwise(
        name,
        lambda u, v, s: jnp.maximum(0.0, -s * (u - v) + margin),
        a,
        _float_array(x2, "x2", name),
        weights,
        where,
        reduction,
        extra=(yy,),
    )


def _unit(v, eps):
    n2 = jnp.sum(jnp.square(v), axis=-1, keepdims=True)
    return v * jax.lax.rsqrt(jnp.maximum(n2, jnp.square(eps)))


def cosine_embedding(
    x1, x2, y, *, margin=0.0, axis=-1, epsilon=None, weights=None, where=None, reduction="mean"
) -> Array:
    r"""Cosine embedding loss (torch ``CosineEmbeddingLoss``).

    .. math::
      \ell = \begin{cases} 1 - \cos(x_1, x_2) & y = 1 \\
        \max(0, \cos(x_1, x_2) - m) & y = -1 \end{cases},\quad
      \cos = \frac{x_1 \cdot x_2}{\max(\|x_1\|, \epsilon)\max(\|x_2\|, \epsilon)}

    ``y`` has the per-example shape (``x1.shape`` without ``axis``).  ``epsilon``
    defaults to the dtype's machine epsilon (torch adds 1e-12 to the squared
    norms instead: the values agree to ~1e-12 for non-tiny vectors); a zero
    vector has cos 0, a finite value and a finite gradient.  ``margin`` in
    [-1, 1], typically 0 to 0.5.  For learning embeddings of similar /
    dissimilar pairs.
    """
    name = "cosine_embedding"
    first, (a, b), mask, w, example_shape = _vector_inputs(
        name, (x1, x2), ("x1", "x2"), axis, weights, where, reduction
    )
    yy = _signed_labels(y, "y", example_shape, name, mask)
    eps = _dtype_eps(first.dtype) if epsilon is None else epsilon
    _check_positive(eps, "epsilon", name)
    cos = jnp.sum(_unit(a, eps) * _unit(b, eps), axis=-1)
    values = jnp.where(yy > 0, 1.0 - cos, jnp.maximum(0.0, cos - margin))
    return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=first.dtype)


def hinge_embedding(distances, y, *, margin=1.0, weights=None, where=None, reduction="mean") -> Array:
    r"""Hinge embedding loss (torch ``HingeEmbeddingLoss``), elementwise.

    .. math::
      \ell = \begin{cases} x & y = 1 \\ \max(0, m - x) & y = -1 \end{cases}

    ``distances`` are typically non-negative distances (e.g. L1) between pairs;
    similar pairs (``y = 1``) are pulled together, dissimilar ones pushed
    beyond ``margin``.  Used for semi-supervised embeddings (Mobahi et al.
    2009).
    """
    name = "hinge_embedding"
    x = _float_array(distances, "distances", name)
    mask = _per_example(where, "where", x.shape, name, is_mask=True)
    yy = _signed_labels(y, "y", x.shape, name, mask)
    return _elementwise(
        name,
        lambda d, s: jnp.where(s > 0, d, jnp.maximum(0.0, margin - d)),
        x,
        yy.astype(x.dtype),
        weights,
        where,
        reduction,
    )


def multi_margin(
    logits, labels, *, margin=1.0, p=1, class_weights=None, axis=-1, weights=None, where=None, reduction="mean"
) -> Array:
    r"""Multi-class margin loss (torch ``MultiMarginLoss``; Weston & Watkins 1999).

    .. math::
      \frac{1}{C} \sum_{j \ne y} c_y \max(0,\ m - x_y + x_j)^p

    Unlike :func:`hinge` (Crammer-Singer: only the worst competitor) every
    class inside the margin contributes; divided by the number of classes
    ``C`` as in torch.  ``p`` is 1 or 2 (torch's choices).  ``class_weights``
    ``(C,)`` multiply by the weight of the true class (torch ``weight``;
    ``"mean"`` still divides by the number of examples, as torch does).
    Integer ``labels`` of ``logits.shape`` without ``axis``; ids outside
    ``[0, C)`` are masked (as in the cross-entropies; see :func:`check_labels`).
    """
    name = "multi_margin"
    if p not in (1, 2):
        raise ValueError(f"{name}: p must be 1 or 2 (torch's MultiMarginLoss), got {p!r}.")
    _check_reduction(reduction, name)
    x = _float_array(logits, "logits", name)
    if x.ndim == 0:
        raise ValueError(f"{name}: logits must have a class axis, got a scalar.")
    ax = _canonical_axis(axis, x.ndim, name)
    k = x.shape[ax]
    example_shape = x.shape[:ax] + x.shape[ax + 1 :]
    y = jnp.asarray(labels)
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise TypeError(f"{name}: labels must be integer class ids, got dtype {y.dtype}.")
    if y.shape != example_shape:
        raise ValueError(f"{name}: logits have shape {x.shape}; labels must have shape {example_shape}, got {y.shape}.")
    cw = None
    if class_weights is not None:
        cw = jnp.asarray(class_weights)
        if cw.shape != (k,):
            raise ValueError(f"{name}: class_weights has shape {cw.shape}, expected ({k},) (one per class).")
    mask = _per_example(where, "where", example_shape, name, is_mask=True)
    w = _per_example(weights, "weights", example_shape, name, is_mask=False)
    valid = (y >= 0) & (y < k)
    mask = valid if mask is None else mask & valid
    cdt = _compute_dtype(x)
    xs = jnp.moveaxis(_mask_inputs(mask, x, axis=ax), ax, -1).astype(cdt)
    ys = jnp.where(mask, y, 0)
    is_true = jnp.arange(k) == ys[..., None]
    true_score = jnp.sum(jnp.where(is_true, xs, 0), axis=-1, keepdims=True)
    terms = jnp.maximum(0.0, margin - true_score + xs) ** p
    values = jnp.sum(jnp.where(is_true, 0.0, terms), axis=-1) / k
    if cw is not None:
        values = values * cw.astype(cdt)[ys]
    return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=x.dtype)
