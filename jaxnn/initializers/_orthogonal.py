"""Orthogonal initializers: Haar-distributed (semi-)orthogonal matrices from directly drawn Householder
reflectors (Stewart 1980) accumulated in compact-WY blocks, and the delta-orthogonal conv kernel.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxnn._util import Initializer
from jaxnn.initializers._checks import _check_fits_build, _check_real, _spatial_centre
from jaxnn.initializers._draw import _random_initializer, _recorded

# Reflectors per block in _haar_columns (see docs/performance.md for the measurements behind the choice).
_ORTHO_BLOCK = 256


def _dot(a, b):
    return jnp.matmul(a, b, precision=lax.Precision.HIGHEST)


def _wy_factor(gram: jax.Array) -> jax.Array:
    """The upper-triangular ``T`` of ``H_1 ... H_b = I - V T V^T`` for unit
    reflectors ``H_i = I - 2 v_i v_i^T``, from ``gram = V^T V`` (a stack
    ``(..., b, b)``), column by column as LAPACK ``larft`` does:
    ``T_ii = 2``, ``T[:i, i] = -2 T[:i, :i] gram[:i, i]``. A ``fori_loop``
    of ``b`` small matvecs: cheap to run and to compile."""
    b = gram.shape[-1]
    idx = jnp.arange(b)

    def column(i, t):
        g = jnp.where(idx < i, gram[..., :, i], 0)
        col = -2 * jnp.einsum("...rc,...c->...r", t, g, precision=lax.Precision.HIGHEST)
        col = jnp.where(idx == i, 2, col).astype(t.dtype)
        return lax.dynamic_update_slice_in_dim(t, col[..., :, None], i, axis=-1)

    return lax.fori_loop(0, b, column, jnp.zeros_like(gram))


def _reflector_block(x):
    """Random Householder reflectors from a Gaussian ``x`` (rows, width) (Stewart 1980).

    Column ``i`` of ``x`` restricted to rows ``>= i`` is the i-th column of the
    not-yet-reduced part of a Gaussian matrix during Householder QR; ``v_i =
    x_i + sign(x_ii) |x_i| e_i`` (unit-normalised) reflects it onto
    ``-sign(x_ii) |x_i| e_i``, so ``d_i = -sign(x_ii)`` is the sign of R's
    diagonal. Returns ``V`` (rows, width), the unit ``d`` and ``V^T V``.
    """
    (rows, width), dtype = x.shape, x.dtype
    r = lax.broadcasted_iota(jnp.int32, (rows, width), 0)
    c = lax.broadcasted_iota(jnp.int32, (rows, width), 1)
    x = jnp.where(r >= c, x, 0)
    s = jnp.where(jnp.diagonal(x) >= 0, 1, -1).astype(dtype)
    v = x + jnp.where(r == c, s * jnp.sqrt(jnp.sum(x * x, axis=0)), 0)
    norm = jnp.sqrt(jnp.sum(v * v, axis=0))
    v = jnp.where(norm > 0, v / jnp.where(norm > 0, norm, 1), (r == c).astype(dtype))  # x_i = 0: H_i = -e_i e_i^T
    return v, -s, _dot(v.T, v)


def _fast_normals(key, n: int, dtype) -> jax.Array:
    """``n`` standard normals in ``dtype`` (float32 or float64) from XLA's native
    threefry bit generator (``lax.rng_bit_generator``), seeded by ``key``.

    Faster than ``jax.random.normal``, whose threefry is built from jnp ops
    (measurements: ``docs/performance.md``). Bits to normals
    as jax does: a uniform on ``(-1, 1)`` from the mantissa bits, then
    ``sqrt(2) erfinv``. A given key gives the same numbers on every backend (the
    algorithm is fixed, not XLA's backend default). ``lax.rng_bit_generator``'s
    own vmap rule draws every batch member from the *first* key, so the draw is
    ``sequential_vmap``-ed: ``vmap(init)(keys)[i] == init(keys[i])``.
    """
    f64 = jnp.dtype(dtype) == jnp.float64
    ubits, fbits, mant, one = (
        (jnp.uint64, jnp.float64, 52, 0x3FF0000000000000) if f64 else (jnp.uint32, jnp.float32, 23, 0x3F800000)
    )

    @jax.custom_batching.sequential_vmap
    def bits(seed):
        return lax.rng_bit_generator(seed, (n,), ubits, algorithm=lax.RandomAlgorithm.RNG_THREE_FRY)[1]

    b = bits(jax.random.bits(key, (4,), jnp.uint32))
    shift = np.dtype(ubits).itemsize * 8 - mant
    unit = lax.bitcast_convert_type((b >> shift) | np.array(one, ubits), fbits) - 1  # [0, 1)
    lo = np.nextafter(np.array(-1, fbits), np.array(0, fbits))
    u = jnp.maximum(lo, unit * 2 - 1)  # (-1, 1)
    return (np.sqrt(2).astype(fbits) * lax.erf_inv(u)).astype(dtype)


def _haar_columns(key, m: int, k: int, dtype, block: int | None = None) -> jax.Array:
    r"""``Q`` (m x k, m >= k) with orthonormal columns: the first ``k`` columns
    of a Haar-distributed ``O(m)`` matrix.

    Stewart's (1980) algorithm: Householder QR of a Gaussian ``A`` reduces one
    column at a time, and the column it reduces at step ``i`` is, by rotation
    invariance, a fresh ``N(0, I_{m-i})`` vector independent of the past. So
    the reflectors ``H_i`` can be drawn directly, skipping the factorization
    itself, and ``Q = H_1 ... H_k [D; 0]`` with ``D = diag(sign R_ii)`` is
    exactly the sign-corrected QR factor of a Gaussian (Mezzadri 2007), i.e.
    Haar. Q is accumulated backwards in blocks of ``block`` reflectors (compact
    WY, the LAPACK ``orgqr`` scheme): ``2 m k^2 - 2/3 k^3`` flops (4/3 n^3
    square), nearly all in GEMMs, against twice that (``geqrf`` + ``orgqr``)
    for the QR of a Gaussian that jax computes.

    Block ``j`` (columns ``c0:c0+w``) maps the trailing ``E = [[D_j, 0], [0, q]]``
    to ``E - V (T V^T E)``: one GEMM for ``V^T E``, one for the rank-``w`` update,
    and one fused pass that pads ``q`` into ``E`` and subtracts.
    """
    block = min(_ORTHO_BLOCK if block is None else block, k)
    nb = -(-k // block)
    spans = [(j * block, min(block, k - j * block)) for j in range(nb)]
    sizes = [(m - c0) * w for c0, w in spans]
    # One draw for all blocks: one compiled generator, not one per block shape.
    flat = _fast_normals(key, sum(sizes), dtype)
    offsets = np.cumsum([0] + sizes)
    vs, ds, grams = [], [], []
    for (c0, w), o in zip(spans, offsets):
        v, d, gram = _reflector_block(flat[o : o + (m - c0) * w].reshape(m - c0, w))
        vs.append(v)
        ds.append(d)
        grams.append(jnp.pad(gram, ((0, block - w), (0, block - w))))  # the last block may be narrower
    ts = _wy_factor(jnp.stack(grams))  # all blocks in one batch
    q = jnp.zeros((m - k, 0), dtype)  # Q[c0:, c0:] of the blocks applied so far, last block first
    for j in reversed(range(nb)):
        (c0, w), v, d = spans[j], vs[j], ds[j]
        rest = q.shape[1]
        vte = jnp.concatenate([v[:w].T * d, _dot(v[w:].T, q)], axis=1)  # V^T E, (w, m - c0)
        e = jnp.pad(q, ((w, 0), (w, 0))) + jnp.pad(jnp.diag(d), ((0, m - c0 - w), (0, rest)))
        q = e - _dot(v, _dot(ts[j, :w, :w], vte))
    return q


def _sample_orthogonal(key, shape, cdtype, static, scale):
    """The draw, ``sequential_vmap``-ed: under ``vmap`` each key's draw runs alone in a loop, as unbatched, so
    ``vmap(init)(keys)[i]`` is bitwise ``init(keys[i])`` whatever the number of keys (batched GEMMs would
    round differently from one batch size to another)."""
    return jax.custom_batching.sequential_vmap(lambda k, s: _orthogonal_draw(k, shape, cdtype, static, s))(key, scale)


def _orthogonal_draw(key, shape, cdtype, static, scale):
    (column_axis,) = static
    if math.prod(shape) == 0:
        return jnp.zeros(shape, cdtype)
    n_cols = shape[column_axis]
    n_rows = math.prod(shape) // n_cols
    q = _haar_columns(key, max(n_rows, n_cols), min(n_rows, n_cols), cdtype)
    if n_rows < n_cols:
        q = q.T
    q = q.reshape(tuple(np.delete(shape, column_axis)) + (n_cols,))
    return jnp.moveaxis(q, -1, column_axis) * scale


@_recorded("orthogonal")
def orthogonal(scale: float = 1.0, column_axis: int = -1) -> Initializer:
    r"""Factory: (semi-)orthogonal ``W`` times ``scale`` (Saxe et al. 2014).

    Flattened like jax: ``cols = shape[column_axis]``, ``rows = prod(other
    axes)``. ``A ~ N(0, 1)^{max x min}``, ``Q`` its QR factor with positive
    ``diag(R)`` (Mezzadri 2007: Haar-distributed), transposed when rows < cols,
    so ``W^T W = scale^2 I`` (rows >= cols) or ``W W^T = scale^2 I``.

    Same distribution as ``jax.nn.initializers.orthogonal`` (Haar), not the
    same numbers for a key: instead of factorizing a Gaussian matrix, the
    Householder reflectors that factorization would produce are drawn directly
    (Stewart 1980, :func:`_haar_columns`), which halves the flops and puts them
    in GEMMs (speed and ``max|W^T W - I|`` from ``benchmarks/initializers.py``:
    ``docs/performance.md``). Computed in float32
    (float64 for float64), cast to ``dtype``. Keras flattens rows =
    prod(shape[:-1]); torch rows = shape[0]. ``out_sharding`` raises
    ``NotImplementedError`` (as in jax). A seed's draw does not depend on how
    many are drawn together: ``jax.vmap(init)(keys)[i]`` is bitwise
    ``init(keys[i])`` (the draw runs key by key under ``vmap``).
    """
    scale = _check_real(scale, "scale", "orthogonal", nonneg=True)
    _check_fits_build(scale, f"scale={scale!r}", "orthogonal")
    if not isinstance(column_axis, (int, np.integer)) or isinstance(column_axis, bool):
        raise TypeError(f"orthogonal: column_axis must be an int, got column_axis={column_axis!r}.")

    def params(shape):
        if len(shape) < 2:
            raise ValueError(f"orthogonal: shape={shape} has rank {len(shape)}; needs rank >= 2.")
        if not -len(shape) <= column_axis < len(shape):
            raise ValueError(f"orthogonal: column_axis={column_axis} is out of range for shape={shape}.")
        return (scale,)

    return _random_initializer(
        _sample_orthogonal,
        params,
        "orthogonal",
        static=(int(column_axis),),
        shardable=False,
        limit=lambda s: (s, f"scale={scale!r}"),
    )


def _sample_delta_orthogonal(key, shape, cdtype, static, scale):
    q = _sample_orthogonal(key, shape[-2:], cdtype, (-1,), scale)
    centre = _spatial_centre(shape, lambda k: (k - 1) // 2)
    return jnp.zeros(shape, cdtype).at[centre].set(q)


@_recorded("delta_orthogonal")
def delta_orthogonal(scale: float = 1.0) -> Initializer:
    r"""Factory: delta-orthogonal conv kernel (Xiao et al. 2018).

    For an HWIO (or WIO / DHWIO) kernel of rank 3-5 with ``c_in <= c_out``:
    zeros except the centre tap, which is ``scale * orthogonal`` ``(c_in, c_out)``
    (orthonormal rows). Centre ``(k - 1) // 2`` per spatial axis, like jax (the
    tap that is the identity under ``"SAME"`` padding); torch's ``dirac_`` and
    :func:`dirac` use ``k // 2`` -- they differ for even kernel sizes. Same layout
    and distribution as ``jax.nn.initializers.delta_orthogonal``; the centre tap
    comes from :func:`orthogonal`, so not the same numbers for a key.
    """
    scale = _check_real(scale, "scale", "delta_orthogonal", nonneg=True)
    _check_fits_build(scale, f"scale={scale!r}", "delta_orthogonal")

    def params(shape):
        if len(shape) not in (3, 4, 5):
            raise ValueError(
                f"delta_orthogonal: shape={shape} must be a 3D, 4D or 5D conv kernel (spatial..., in, out)."
            )
        if shape[-2] > shape[-1]:
            raise ValueError(
                f"delta_orthogonal: needs in channels <= out channels, got shape={shape} ({shape[-2]} > {shape[-1]})."
            )
        return (scale,)

    return _random_initializer(
        _sample_delta_orthogonal, params, "delta_orthogonal", shardable=False, limit=lambda s: (s, f"scale={scale!r}")
    )
