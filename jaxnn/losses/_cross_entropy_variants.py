"""Cross-entropy variants: :func:`poly_cross_entropy` (Poly-1) and :func:`sparsemax` (wraps optax)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxnn._util import Array
from jaxnn.losses._classification import _categorical
from jaxnn.losses._common import (
    _canonical_axis,
    _check_concrete_values,
    _check_reduction,
    _compute_dtype,
    _elementwise,
    _float_array,
    _mask_inputs,
    _per_example,
    _reduce,
)


def _in_01(v):
    return (v == 0) | (v == 1)


def poly_cross_entropy(
    logits, labels, *, epsilon=1.0, label_smoothing=0.0, axis=-1, weights=None, where=None, reduction="mean"
) -> Array:
    r"""Poly-1 cross-entropy (Leng et al. 2022, "PolyLoss: A Polynomial
    Expansion Perspective of Classification Loss Functions").

    .. math::
      \mathrm{CE} + \epsilon\,(1 - p_t),\quad
      1 - p_t = \sum_k y_k (1 - \mathrm{softmax}(x)_k)

    ``labels`` as in :func:`categorical_cross_entropy` (integer ids, or
    probabilities of ``logits``' shape; out-of-range ids are masked), and so
    are ``label_smoothing`` (applied to the CE term only) and the ``-inf``
    logit handling.  ``epsilon = 0`` is cross-entropy; the paper uses
    ``epsilon`` in [-1, 2] (optax's default is 2.0, jaxnn's 1.0 is the
    paper's Poly-1 default).  For probability labels the :math:`1-p_t` term is
    optax's ``poly_loss_cross_entropy`` exactly; ``1 - p_y`` for ids is
    computed as ``-expm1(log p_y)`` (accurate when ``p_y`` is tiny).
    """
    name = "poly_cross_entropy"
    _check_reduction(reduction, name)
    # Validates shapes/dtypes and gives the masked CE values (zero where masked or an id is out of range).
    ce = _categorical(
        name,
        logits,
        labels,
        from_logits=True,
        label_smoothing=label_smoothing,
        class_weights=None,
        ignore_index=None,
        axis=axis,
        weights=None,
        where=where,
        reduction="none",
    )
    x = jnp.asarray(logits)
    ax = _canonical_axis(axis, x.ndim, name)
    k = x.shape[ax]
    example_shape = x.shape[:ax] + x.shape[ax + 1 :]
    y = jnp.asarray(labels)
    integer = y.ndim == x.ndim - 1
    mask = _per_example(where, "where", example_shape, name, is_mask=True)
    w = _per_example(weights, "weights", example_shape, name, is_mask=False)
    if integer:
        valid = (y >= 0) & (y < k)
        mask = valid if mask is None else mask & valid
    cdt = _compute_dtype(x) if integer else _compute_dtype(x, *([y] if jnp.issubdtype(y.dtype, jnp.floating) else []))
    xs = jnp.moveaxis(_mask_inputs(mask, x, axis=ax), ax, -1).astype(cdt)
    logp = jax.nn.log_softmax(xs, axis=-1)
    one_minus_p = -jnp.expm1(logp)
    if integer:
        ys = jnp.where(mask, y, 0) if mask is not None else y
        one_minus_pt = jnp.take_along_axis(one_minus_p, ys[..., None], axis=-1)[..., 0]
    else:
        ys = jnp.moveaxis(_mask_inputs(mask, y, axis=ax), ax, -1).astype(cdt)
        one_minus_pt = jnp.sum(jnp.where(ys != 0, ys * one_minus_p, jnp.zeros((), cdt)), axis=-1)
    values = ce.astype(cdt) + epsilon * one_minus_pt
    return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=x.dtype)


def sparsemax(logits, labels, *, axis=-1, weights=None, where=None, reduction="mean") -> Array:
    r"""Sparsemax loss (Martins & Astudillo 2016, "From Softmax to Sparsemax").

    Wraps optax (the computation is optax's):

    * integer ``labels`` of ``logits.shape`` without ``axis``: the multiclass
      sparsemax loss ``optax.multiclass_sparsemax_loss``,
      :math:`\langle p, x\rangle - x_y + \tfrac12 (1 - \|p\|^2)` with
      :math:`p = \mathrm{sparsemax}(x)`,
      the loss whose gradient is :math:`\mathrm{sparsemax}(x) - e_y`
      (ids outside ``[0, K)`` are masked, see :func:`check_labels`);
    * ``labels`` of ``logits.shape`` in ``{0, 1}``: the elementwise binary
      sparsemax loss ``optax.sparsemax_loss``,
      :math:`\mathrm{sparse\_plus}(\mp x)` (concrete labels outside ``{0, 1}``
      raise ``ValueError``).

    Zero loss once the true class wins by a margin (sparse probabilities):
    classification and multi-label problems that want sparse outputs.
    """
    name = "sparsemax"
    x = _float_array(logits, "logits", name)
    y = jnp.asarray(labels)
    if y.shape == x.shape:
        mask = _per_example(where, "where", x.shape, name, is_mask=True)
        _check_concrete_values(y, _in_01, "in {0, 1}", "labels", name, mask=mask)
        return _elementwise(
            name,
            lambda s, t: optax.losses.sparsemax_loss(s, t),
            x,
            y.astype(x.dtype) if y.dtype == jnp.bool_ else y,
            weights,
            where,
            reduction,
            integer_targets=True,
        )
    _check_reduction(reduction, name)
    if x.ndim == 0:
        raise ValueError(f"{name}: logits must have a class axis, got a scalar.")
    ax = _canonical_axis(axis, x.ndim, name)
    k = x.shape[ax]
    example_shape = x.shape[:ax] + x.shape[ax + 1 :]
    if y.shape != example_shape:
        raise ValueError(
            f"{name}: logits have shape {x.shape}; labels must be integer ids of shape {example_shape} "
            f"or 0/1 labels of shape {x.shape}, got {y.shape}."
        )
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise TypeError(f"{name}: labels of shape {y.shape} are class ids and must be integers, got {y.dtype}.")
    mask = _per_example(where, "where", example_shape, name, is_mask=True)
    w = _per_example(weights, "weights", example_shape, name, is_mask=False)
    valid = (y >= 0) & (y < k)
    mask = valid if mask is None else mask & valid
    cdt = _compute_dtype(x)
    xs = jnp.moveaxis(_mask_inputs(mask, x, axis=ax), ax, -1).astype(cdt)
    ys = jnp.where(mask, y, 0)
    flat = optax.losses.multiclass_sparsemax_loss(xs.reshape(-1, k), ys.reshape(-1))
    values = flat.reshape(example_shape)
    return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=x.dtype)
