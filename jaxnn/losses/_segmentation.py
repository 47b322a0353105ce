"""Overlap losses for segmentation: :func:`dice` and :func:`tversky`.

Per-example shape: ``predictions.shape`` without the summed ``axis`` (default:
every axis but the first, i.e. one value per image; pass e.g. ``axis=(1, 2)``
for ``(N, H, W, C)`` inputs to get one value per image and class).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxnn._util import Array
from jaxnn.losses._common import (
    _check_concrete_values,
    _check_nonnegative,
    _check_reduction,
    _check_same_shape,
    _compute_dtype,
    _float_array,
    _in_unit_interval,
    _label_array,
    _mask_inputs,
    _per_example,
    _reduce,
)


def _axes(axis, ndim, loss_name):
    if axis is None:
        return tuple(range(1, ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool) or not -ndim <= a < ndim:
            raise ValueError(f"{loss_name}: axis={axis!r} is not a valid axis (or tuple of axes) for {ndim}-d inputs.")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{loss_name}: axis={axis!r} repeats an axis.")
    return tuple(sorted(out))


def _tversky_loss(loss_name, predictions, targets, alpha, beta, smooth, axis, weights, where, reduction):
    _check_reduction(reduction, loss_name)
    _check_nonnegative(alpha, "alpha", loss_name)
    _check_nonnegative(beta, "beta", loss_name)
    _check_nonnegative(smooth, "smooth", loss_name)
    p = _float_array(predictions, "predictions", loss_name)
    t = _label_array(targets, "targets", loss_name)
    _check_same_shape(p, t, "predictions", "targets", loss_name)
    axes = _axes(axis, p.ndim, loss_name)
    example_shape = tuple(d for i, d in enumerate(p.shape) if i not in axes)
    mask = _per_example(where, "where", example_shape, loss_name, is_mask=True)
    w = _per_example(weights, "weights", example_shape, loss_name, is_mask=False)
    _check_concrete_values(p, _in_unit_interval, "probabilities in [0, 1]", "predictions", loss_name, mask, axes)
    _check_concrete_values(t, _in_unit_interval, "in [0, 1]", "targets", loss_name, mask, axes)
    cdt = _compute_dtype(p, *([t] if jnp.issubdtype(t.dtype, jnp.floating) else []))
    ps, ts = _mask_inputs(mask, p, t, axis=axes) if mask is not None else (p, t)
    ps, ts = ps.astype(cdt), ts.astype(cdt)
    tp = jnp.sum(ps * ts, axis=axes)
    fp = jnp.sum(ps * (1.0 - ts), axis=axes)
    fn = jnp.sum((1.0 - ps) * ts, axis=axes)
    num = tp + smooth
    den = tp + alpha * fp + beta * fn + smooth
    nz = den != 0
    # 0/0 (nothing predicted, nothing to find, smooth=0) is a perfect score: loss 0, gradient finite.
    index = jnp.where(nz, num / jnp.where(nz, den, jnp.ones((), cdt)), jnp.ones((), cdt))
    return _reduce(1.0 - index, weights=w, mask=mask, reduction=reduction, out_dtype=p.dtype)


def tversky(
    predictions, targets, *, alpha=0.5, beta=0.5, smooth=1.0, axis=None, weights=None, where=None, reduction="mean"
) -> Array:
    r"""Tversky loss (Salehi et al. 2017, "Tversky loss function for image
    segmentation using 3D fully convolutional deep networks").

    .. math::
      1 - \frac{TP + s}{TP + \alpha\,FP + \beta\,FN + s},\quad
      TP = \sum p t,\ FP = \sum p (1 - t),\ FN = \sum (1 - p) t

    summed over ``axis``.  ``predictions`` are probabilities (apply
    ``sigmoid``/``softmax`` first), ``targets`` in ``[0, 1]``; concrete inputs
    outside ``[0, 1]`` raise ``ValueError`` (:func:`check_probabilities` under
    ``jit``).  ``alpha`` weights false positives, ``beta`` false negatives
    (optax's ``dice_loss`` convention; Keras's ``tversky`` code applies its
    ``alpha`` to false negatives -- equal at the default 0.5/0.5).
    ``alpha = beta = 0.5`` is :func:`dice` with the same ``smooth``.  Empty
    targets with empty predictions give 0 with a finite gradient (also at
    ``smooth=0``).  For imbalanced segmentation (``beta > alpha`` favours
    recall).
    """
    return _tversky_loss("tversky", predictions, targets, alpha, beta, smooth, axis, weights, where, reduction)


def dice(predictions, targets, *, smooth=1.0, axis=None, weights=None, where=None, reduction="mean") -> Array:
    r"""Soft Dice loss (Milletari et al. 2016, V-Net; Sudre et al. 2017).

    .. math::
      1 - \frac{2\,TP + 2s}{\sum p + \sum t + 2s}
      = \mathrm{tversky}(\alpha = \beta = \tfrac12, s)

    with :math:`TP = \sum p t` over ``axis``: optax's ``dice_loss`` (its
    generalized form at ``alpha = beta = 0.5``; optax sums over the spatial
    axes, keeps the class axis and then averages over classes -- pass
    ``axis=(1, ..., ndim - 2)`` and average the ``"none"`` values over the last
    axis to reproduce it).  Keras's ``dice`` is
    :math:`1 - 2TP / (\sum p + \sum t + 10^{-7})` over the whole batch; ``smooth``
    ``5e-8`` reproduces it per example to ~1e-7.  Inputs and edge cases as in
    :func:`tversky`.
    """
    return _tversky_loss("dice", predictions, targets, 0.5, 0.5, smooth, axis, weights, where, reduction)
