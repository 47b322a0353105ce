"""Contrastive losses: :func:`ntxent` (SimCLR's two-view NT-Xent)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn._util import Array
from jaxnn.losses._common import (
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


def ntxent(z1, z2, *, temperature=0.1, weights=None, where=None, reduction="mean") -> Array:
    r"""NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR
    (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
    Representations"; Sohn 2016's N-pair loss).

    ``z1[i]`` and ``z2[i]`` (shape ``(N, D)``) are two views of example ``i``.
    With the ``2N`` embeddings :math:`z = [z_1; z_2]`,
    :math:`s_{ij} = \cos(z_i, z_j) / \tau` and :math:`i^+` the other view of
    ``i``:

    .. math::
      \ell_i = -\log \frac{e^{s_{i i^+}}}{\sum_{k \ne i} e^{s_{ik}}}

    The per-example value (shape ``(N,)``) is :math:`(\ell_i + \ell_{i+N}) / 2`,
    so ``"mean"`` is SimCLR's average over the ``2N`` anchors and equals
    ``optax.ntxent(concatenate([z1, z2]), labels=[0..N-1, 0..N-1], temperature)``.
    ``where`` removes a pair entirely (its views are neither anchors nor
    negatives; NaN there never reaches the gradient); ``weights`` weight the
    pairs.  A zero embedding has cosine 0 with everything (finite gradient).
    SimCLR's ``temperature`` is 0.1-0.5 (optax's default 0.07).
    """
    name = "ntxent"
    _check_reduction(reduction, name)
    _check_positive(temperature, "temperature", name)
    a = _float_array(z1, "z1", name)
    b = _float_array(z2, "z2", name)
    _check_same_shape(a, b, "z1", "z2", name)
    if a.ndim != 2:
        raise ValueError(f"{name}: z1 must have shape (N, D) (N pairs of D-dim embeddings), got {a.shape}.")
    n = a.shape[0]
    mask = _per_example(where, "where", (n,), name, is_mask=True)
    w = _per_example(weights, "weights", (n,), name, is_mask=False)
    cdt = _compute_dtype(a, b)
    am, bm = _mask_inputs(mask, a, b, axis=-1) if mask is not None else (a, b)
    z = jnp.concatenate([am, bm], axis=0).astype(cdt)
    eps = _dtype_eps(a.dtype)
    n2 = jnp.sum(jnp.square(z), axis=-1, keepdims=True)
    u = z * jax.lax.rsqrt(jnp.maximum(n2, jnp.square(eps)))
    sim = (u @ u.T) / jnp.asarray(temperature, cdt)
    idx = jnp.arange(2 * n)
    col_ok = ~jnp.eye(2 * n, dtype=bool)
    if mask is not None:
        both = jnp.concatenate([mask, mask])
        # Masked views are no negatives; a masked anchor's own row stays finite (it is zeroed below).
        col_ok = col_ok & (both[None, :] | ~both[:, None])
    pos = (idx + n) % (2 * n)
    positive = sim[idx, pos]
    lse = jax.nn.logsumexp(jnp.where(col_ok, sim, -jnp.inf), axis=-1)
    per_anchor = lse - positive
    if mask is not None:
        per_anchor = jnp.where(jnp.concatenate([mask, mask]), per_anchor, jnp.zeros((), cdt))
    values = 0.5 * (per_anchor[:n] + per_anchor[n:])
    return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=a.dtype)
