"""Sequence losses: :func:`ctc` (wraps ``optax.ctc_loss``)."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from jaxnn._util import Array
from jaxnn.losses._common import _check_reduction, _compute_dtype, _float_array, _per_example, _reduce


def ctc(
    logits, labels, *, logit_paddings, label_paddings, blank_id=0, weights=None, where=None, reduction="mean"
) -> Array:
    r"""Connectionist temporal classification loss (Graves et al. 2006), the
    negative log-likelihood of the label sequence summed over all alignments.

    .. math::
      -\log \sum_{\pi \in \mathcal{B}^{-1}(l)} \prod_t \mathrm{softmax}(x_t)_{\pi_t}

    A thin wrapper of ``optax.ctc_loss`` (the computation is optax's, unchanged)
    under jaxnn's interface.  ``logits``: ``(B, T, K)``; ``labels``: integer
    ``(B, N)``; ``logit_paddings`` ``(B, T)`` and ``label_paddings`` ``(B, N)``:
    1.0 marks padding (optax's convention).  ``blank_id`` in ``[0, K)``.
    Per-example shape ``(B,)``; ``"mean"`` is the plain mean over sequences
    (torch's ``"mean"`` first divides each by its target length: use
    ``weights=1 / target_lengths`` for that).  Infeasible alignments (labels
    longer than the frames allow) give a huge finite value (optax's
    ``log_epsilon``), not inf.  For speech and handwriting recognition.
    """
    name = "ctc"
    _check_reduction(reduction, name)
    x = _float_array(logits, "logits", name)
    if x.ndim != 3:
        raise ValueError(f"{name}: logits must have shape (B, T, K), got {x.shape}.")
    b, t, k = x.shape
    y = jnp.asarray(labels)
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise TypeError(f"{name}: labels must be integer class ids, got dtype {y.dtype}.")
    if y.ndim != 2 or y.shape[0] != b:
        raise ValueError(f"{name}: labels must have shape ({b}, N) (batch of logits {x.shape}), got {y.shape}.")
    lp = _float_array(logit_paddings, "logit_paddings", name)
    if lp.shape != (b, t):
        raise ValueError(f"{name}: logit_paddings must have shape {(b, t)} (logits' batch and time), got {lp.shape}.")
    yp = _float_array(label_paddings, "label_paddings", name)
    if yp.shape != y.shape:
        raise ValueError(f"{name}: label_paddings must have labels' shape {y.shape}, got {yp.shape}.")
    if not isinstance(blank_id, int) or isinstance(blank_id, bool) or not 0 <= blank_id < k:
        raise ValueError(f"{name}: blank_id must be an int in [0, {k}), got {blank_id!r}.")
    mask = _per_example(where, "where", (b,), name, is_mask=True)
    w = _per_example(weights, "weights", (b,), name, is_mask=False)
    cdt = _compute_dtype(x)
    x = x.astype(cdt)
    lp, yp = lp.astype(cdt), yp.astype(cdt)
    if mask is not None:
        # Masked sequences: zero logits, no labels -- finite, and NaN there never reaches the gradient.
        x = jnp.where(mask[:, None, None], x, jnp.zeros((), cdt))
        lp = jnp.where(mask[:, None], lp, jnp.zeros((), cdt))
        y = jnp.where(mask[:, None], y, 0)
        yp = jnp.where(mask[:, None], yp, jnp.ones((), cdt))
    values = optax.losses.ctc_loss(x, lp, y, yp, blank_id=blank_id)
    return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=jnp.asarray(logits).dtype)
