"""Structured initializers: ``identity`` and ``dirac`` (deterministic) and ``sparse`` (Martens 2010)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn._util import Initializer, positive_int
from jaxnn.initializers._checks import _NORMAL_LIMIT, _check_fits, _check_fits_build, _check_real, _spatial_centre
from jaxnn.initializers._draw import _constant_initializer, _random_initializer, _recorded


def _finite_scale(scale, who: str) -> float:
    scale = _check_real(scale, "scale", who)
    if math.isinf(scale):
        raise ValueError(f"{who}: scale must be finite, got scale={scale!r}.")
    _check_fits_build(abs(scale), f"scale={scale!r}", who)
    return scale


@_recorded("identity")
def identity(scale: float = 1.0) -> Initializer:
    r"""Factory: ``scale * I`` for a 2-D ``(in, out)`` weight; non-square gives ``eye(in, out)``.

    Like torch ``eye_`` / Keras ``Identity``. Deterministic (key ignored); for
    conv kernels use :func:`dirac`.
    """
    scale = _finite_scale(scale, "identity")

    def fill(shape, dtype):
        if len(shape) != 2:
            raise ValueError(f"identity: shape={tuple(shape)} must be 2-D (in, out); use dirac() for conv kernels.")
        _check_fits(abs(scale), f"scale={scale!r}", "identity", np.dtype(dtype))
        return jnp.eye(shape[0], shape[1], dtype=dtype) * jnp.asarray(scale, dtype)

    return _constant_initializer(fill, "identity")


@_recorded("dirac")
def dirac(scale: float = 1.0, groups: int = 1) -> Initializer:
    r"""Factory: Dirac-delta conv kernel: ``W[centre, i, g * out_per_group + i] = scale``, else 0.

    For a rank 3-5 kernel (spatial..., in, out): the convolution copies input
    channel ``i`` to output channel ``i`` for ``i < min(c_in, c_out)``, preserving
    the input (torch ``dirac_``). Centre ``k // 2`` per spatial axis, like torch.
    Note: for an *even* kernel with ``lax.conv`` ``"SAME"`` padding the identity
    tap is ``(k - 1) // 2`` (as in :func:`delta_orthogonal`), so ``k // 2`` shifts
    the signal by one position there; use odd kernels for an exact identity.
    Deterministic (key ignored).

    ``groups`` (torch ``dirac_(w, groups)``), for a grouped convolution
    (``lax.conv_general_dilated(..., feature_group_count=groups)``, kernel
    ``(spatial..., c_in / groups, c_out)``): the ``c_out`` output channels are
    split into ``groups`` blocks of ``c_out / groups``, and block ``g`` gets its
    own identity: ``W[centre, i, g * (c_out / groups) + i] = scale`` for
    ``i < min(c_in_per_group, c_out / groups)`` -- output channel
    ``g * (c_out / groups) + i`` copies channel ``i`` of group ``g``'s input.
    ``c_out`` must be divisible by ``groups``. torch's weight is
    ``(c_out, c_in / groups, *k)``; this is the same tensor in HWIO.
    """
    scale = _finite_scale(scale, "dirac")
    groups = positive_int(groups, "dirac: groups")

    def fill(shape, dtype):
        if len(shape) not in (3, 4, 5):
            raise ValueError(f"dirac: shape={tuple(shape)} must be a 3D, 4D or 5D conv kernel (spatial..., in, out).")
        if shape[-1] % groups:
            raise ValueError(
                f"dirac: {shape[-1]} out channels are not divisible by groups={groups} (shape={tuple(shape)})."
            )
        _check_fits(abs(scale), f"scale={scale!r}", "dirac", np.dtype(dtype))
        out_per_group = shape[-1] // groups
        c = min(shape[-2], out_per_group)
        centre = _spatial_centre(shape, lambda k: k // 2)
        w = jnp.zeros(shape, dtype)
        if c == 0 or math.prod(shape[:-2]) == 0:
            return w
        idx = np.arange(c)
        ins = np.tile(idx, groups)
        outs = (np.arange(groups)[:, None] * out_per_group + idx).ravel()
        return w.at[centre + (ins, outs)].set(jnp.asarray(scale, dtype))

    return _constant_initializer(fill, "dirac")


def _sample_sparse(key, shape, cdtype, static, stddev):
    (sparsity,) = static
    rows, cols = math.prod(shape[:-1]), shape[-1]
    n_zeros = math.ceil(sparsity * rows)
    k_perm, k_val = jax.random.split(key)
    # argsort of argsort of iid uniforms: a uniformly random permutation per column (ties
    # broken by index), so each column has exactly n_zeros zeros
    ranks = jnp.argsort(jnp.argsort(jax.random.uniform(k_perm, (rows, cols)), axis=0), axis=0)
    values = jax.random.normal(k_val, (rows, cols), cdtype) * stddev
    return jnp.where(ranks >= n_zeros, values, 0).reshape(shape)


@_recorded("sparse")
def sparse(sparsity: float, stddev: float = 0.01) -> Initializer:
    r"""Factory: sparse init (Martens 2010): each unit keeps a few incoming weights.

    For a weight ``(in, out)`` (or ``(..., out)``, flattened to
    ``rows = prod(shape[:-1])`` inputs): in every output column, exactly
    ``ceil(sparsity * rows)`` randomly chosen entries are 0 and the others are
    ``N(0, stddev^2)``. Same rule as torch ``sparse_`` (which zeroes per column of
    its ``(out, in)`` weight, i.e. per input); here each *output unit* gets a
    fixed number of non-zero incoming connections, as in Martens (2010).
    """
    sparsity = _check_real(sparsity, "sparsity", "sparse")
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparse: sparsity must be in [0, 1), got sparsity={sparsity!r}.")
    stddev = _check_real(stddev, "stddev", "sparse", nonneg=True)
    what = f"stddev={stddev!r}"
    _check_fits_build(_NORMAL_LIMIT * stddev, what, "sparse")

    def params(shape):
        if len(shape) < 2:
            raise ValueError(f"sparse: shape={shape} has rank {len(shape)}; needs rank >= 2.")
        return (stddev,)

    return _random_initializer(
        _sample_sparse, params, "sparse", static=(sparsity,), limit=lambda s: (_NORMAL_LIMIT * s, what)
    )
