"""Distribution and embedding losses: KL divergence and cosine distance.

Per-example shape: ``predictions.shape`` without ``axis``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn._util import Array
from jaxnn.losses._common import (
    _canonical_axis,
    _check_positive,
    _check_reduction,
    _check_same_shape,
    _compute_dtype,
    _dtype_eps,
    _float_array,
    _mask_inputs,
    _per_example,
    _reduce,
)

# ----------------------------------------------------------------------------
# Distribution / embedding losses.
# ----------------------------------------------------------------------------


def _distribution_inputs(loss_name, predictions, targets, axis, weights, where, reduction):
    _check_reduction(reduction, loss_name)
    p = _float_array(predictions, "predictions", loss_name)
    t = _float_array(targets, "targets", loss_name)
    _check_same_shape(p, t, "predictions", "targets", loss_name)
    if p.ndim == 0:
        raise ValueError(f"{loss_name}: predictions must have at least one axis.")
    ax = _canonical_axis(axis, p.ndim, loss_name)
    example_shape = p.shape[:ax] + p.shape[ax + 1 :]
    mask = _per_example(where, "where", example_shape, loss_name, is_mask=True)
    w = _per_example(weights, "weights", example_shape, loss_name, is_mask=False)
    cdt = _compute_dtype(p, t)
    ps, ts = _mask_inputs(mask, p, t, axis=ax) if mask is not None else (p, t)
    ps = jnp.moveaxis(ps, ax, -1).astype(cdt)
    ts = jnp.moveaxis(ts, ax, -1).astype(cdt)
    return p, ps, ts, mask, w


def kl_divergence(
    predictions, targets, *, from_logits=True, log_target=False, axis=-1, weights=None, where=None, reduction="mean"
) -> Array:
    r"""Kullback-Leibler divergence :math:`KL(t \,\|\, p) = \sum_k t_k
    (\log t_k - \log p_k)`, with :math:`0 \log 0 = 0`.

    ``from_logits=True``: ``log p = log_softmax(predictions)``, so logits *and*
    log-probabilities (optax/torch inputs) both work.  ``from_logits=False``:
    probabilities (Keras), ``log((p + eps)/(1 + eps))``.  ``targets`` are
    probabilities, or with ``log_target=True`` (torch's ``log_target``, optax's
    ``kl_divergence_with_log_targets``) log-probabilities :math:`\log t`
    (``-inf`` for a zero probability contributes 0).  For distillation /
    matching distributions.  Per example (torch's ``"batchmean"``, not its
    element mean).
    """
    name = "kl_divergence"
    p, ps, ts, mask, w = _distribution_inputs(name, predictions, targets, axis, weights, where, reduction)
    eps = _dtype_eps(p.dtype)
    if from_logits:
        logp = jax.nn.log_softmax(ps, axis=-1)
    else:
        logp = jnp.log((ps + eps) / (1.0 + eps))
    if log_target:
        pos = ts != -jnp.inf  # (NaN targets propagate)
        log_t = jnp.where(pos, ts, 0.0)
        ts = jnp.exp(log_t) * pos
    else:
        pos = ts != 0  # (NaN targets propagate)
        log_t = jnp.log(jnp.where(pos, ts, 1.0))
    logp = jnp.where(pos, logp, 0.0)
    values = jnp.sum(jnp.where(pos, ts * (log_t - logp), 0.0), axis=-1)
    return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=p.dtype)


def cosine_distance(
    predictions, targets, *, axis=-1, epsilon=None, weights=None, where=None, reduction="mean"
) -> Array:
    r"""Cosine distance :math:`1 - \frac{p \cdot t}{\max(\|p\|, \epsilon)
    \max(\|t\|, \epsilon)}`.

    For embeddings / directions where scale does not matter.  ``epsilon``
    defaults to the machine epsilon of the predictions' dtype; a zero vector
    gives distance 1 with a finite gradient (optax gives NaN).  Range [0, 2].
    """
    name = "cosine_distance"
    p, ps, ts, mask, w = _distribution_inputs(name, predictions, targets, axis, weights, where, reduction)
    eps = _dtype_eps(p.dtype) if epsilon is None else epsilon
    _check_positive(eps, "epsilon", name)

    def unit(v):
        n2 = jnp.sum(jnp.square(v), axis=-1, keepdims=True)
        # rsqrt(max(|v|^2, eps^2)): the max keeps the gradient finite at v = 0.
        return v * jax.lax.rsqrt(jnp.maximum(n2, jnp.square(eps)))

    values = 1.0 - jnp.sum(unit(ps) * unit(ts), axis=-1)
    return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=p.dtype)
