"""Tests for jaxnn.initializers.

Statistical checks use tolerances derived from the sample size: a sample mean
is within 6 standard errors, a sample variance within 6 * sqrt((kurtosis - 1) / N)
relative (kurtosis 3 for the normal, 1.8 for the uniform; <= 3 for truncations).
"""

import math
import os
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import activations
from jaxnn import initializers as I
from jaxnn.initializers import _orthogonal

KEY = jax.random.key(0)
F32 = jnp.float32
SIGMAS = 6.0


def _check_moments(w, mean, std, kurtosis=3.0):
    x = np.asarray(w, dtype=np.float64).ravel()
    n = x.size
    assert abs(x.mean() - mean) <= SIGMAS * std / math.sqrt(n), (x.mean(), mean)
    rel = SIGMAS * math.sqrt((kurtosis - 1.0) / n)
    assert abs(x.var() / std**2 - 1.0) <= rel, (x.std(), std)


# --------------------------------------------------------------------------- #
# Fans
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "shape, kwargs, expected",
    [
        ((784, 256), {}, (784, 256)),
        ((3, 3, 64, 128), {}, (576, 1152)),
        ((5, 32, 16), {}, (160, 80)),  # 1-D conv WIO
        ((3, 3, 3, 8, 16), {}, (216, 432)),  # 3-D conv
        ((512, 8, 64), dict(in_axis=0, out_axis=(1, 2)), (512, 512)),
        ((8, 64, 512), dict(in_axis=(0, 1), out_axis=2), (512, 512)),
        ((4, 10, 20), dict(batch_axis=0), (10, 20)),
        ((4, 3, 3, 10, 20), dict(batch_axis=(0,)), (90, 180)),
    ],
)
def test_compute_fans(shape, kwargs, expected):
    fans = I.compute_fans(shape, **kwargs)
    assert fans == expected
    assert all(isinstance(f, int) for f in fans)
    try:  # jax's private helper, where this jax version has it
        from jax._src.nn.initializers import _compute_fans
    except ImportError:
        return
    assert tuple(_compute_fans(shape, **kwargs)) == pytest.approx(expected)


@pytest.mark.parametrize(
    "shape, kwargs, match",
    [
        ((5,), {}, "rank 1"),
        ((), {}, "rank 0"),
        ((512, 8, 64), dict(out_axis=(1, 2)), "share axes"),
        ((4, 5), dict(in_axis=2), "out of range"),
        ((4, 5), dict(in_axis=(0, 0), out_axis=1), "repeats"),
        ((4, 5, 6), dict(batch_axis=1), "share axes"),
    ],
)
def test_compute_fans_errors(shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        I.compute_fans(shape, **kwargs)


@pytest.mark.parametrize("factory", [I.he_normal, I.glorot_uniform, I.lecun_normal, I.torch_linear_default])
def test_fan_schemes_reject_rank_1_and_zero_fans(factory):
    init = factory()
    with pytest.raises(ValueError, match="rank 1"):
        init(KEY, (16,))
    with pytest.raises(ValueError, match="fan of 0"):
        init(KEY, (0, 0))
    with pytest.raises(ValueError, match="fan of 0"):
        init(KEY, (0, 3, 4, 8))  # zero receptive field


def test_zero_fan_only_matters_for_the_mode_used():
    # fan_out mode on an empty (0, 5) weight: fan_out = 5, the result is just empty
    w = I.variance_scaling(1.0, "fan_out", "normal")(KEY, (0, 5))
    assert w.shape == (0, 5)
    with pytest.raises(ValueError, match="fan_in=0"):
        I.variance_scaling(1.0, "fan_in", "normal")(KEY, (0, 5))


# --------------------------------------------------------------------------- #
# Statistics of every random scheme
# --------------------------------------------------------------------------- #
CONV = (3, 3, 64, 128)  # fan_in 576, fan_out 1152, N = 73728
DENSE = (256, 512)  # fan_in 256, fan_out 512, N = 131072


def _fan_n(mode, shape=CONV):
    fi, fo = I.compute_fans(shape)
    return {"fan_in": fi, "fan_out": fo, "fan_avg": (fi + fo) / 2, "fan_geo_avg": math.sqrt(fi * fo)}[mode]


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
def test_variance_scaling_statistics(mode, distribution):
    scale = 2.0
    w = I.variance_scaling(scale, mode, distribution)(KEY, CONV)
    std = math.sqrt(scale / _fan_n(mode))
    kurt = {"normal": 3.0, "uniform": 1.8, "truncated_normal": 3.0}[distribution]
    _check_moments(w, 0.0, std, kurt)
    bound = {"normal": np.inf, "uniform": math.sqrt(3) * std, "truncated_normal": 2 * std / 0.87962566103423978}[
        distribution
    ]
    assert float(jnp.max(jnp.abs(w))) <= bound * (1 + 1e-6)
    if distribution == "uniform":  # and it reaches close to its bound
        assert float(jnp.max(jnp.abs(w))) > 0.999 * bound


@pytest.mark.parametrize(
    "init, std, kurt",
    [
        (I.glorot_normal(), math.sqrt(2 / (256 + 512)), 3.0),
        (I.glorot_uniform(), math.sqrt(2 / (256 + 512)), 1.8),
        (I.xavier_uniform(gain=5 / 3), 5 / 3 * math.sqrt(2 / (256 + 512)), 1.8),
        (I.he_normal(), math.sqrt(2 / 256), 3.0),
        (I.he_uniform(), math.sqrt(2 / 256), 1.8),
        (I.kaiming_normal(negative_slope=0.2), math.sqrt(2 / (1.04 * 256)), 3.0),
        (I.kaiming_uniform(negative_slope=0.2), math.sqrt(2 / (1.04 * 256)), 1.8),
        (I.he_normal(gain=activations.gain("tanh")), 5 / 3 / 16, 3.0),
        (I.lecun_normal(), 1 / 16, 3.0),
        (I.lecun_uniform(), 1 / 16, 1.8),
        (I.torch_linear_default(), 1 / math.sqrt(3 * 256), 1.8),
        (I.normal(stddev=0.3), 0.3, 3.0),
        (I.uniform(-0.2, 0.2), 0.4 / math.sqrt(12), 1.8),
        (I.truncated_normal(stddev=0.7), 0.7, 3.0),
    ],
)
def test_named_scheme_statistics(init, std, kurt):
    _check_moments(init(KEY, DENSE), 0.0, std, kurt)


def test_nonzero_means():
    _check_moments(I.normal(stddev=0.3, mean=1.5)(KEY, DENSE), 1.5, 0.3)
    w = I.uniform(0.5, 2.5)(KEY, DENSE)
    _check_moments(w, 1.5, 2 / math.sqrt(12), 1.8)
    assert float(w.min()) >= 0.5 and float(w.max()) < 2.5


def test_uniform_is_symmetric_unlike_jax():
    w = I.uniform()(KEY, DENSE)
    assert float(w.min()) < -0.049 and float(w.max()) > 0.049
    assert float(jax.nn.initializers.uniform(0.05)(KEY, DENSE).min()) >= 0.0


def test_he_and_lecun_with_gain_match_variance_scaling():
    g = activations.numerical_gain(jax.nn.gelu)
    a = I.he_normal(gain=g)(KEY, DENSE)
    b = I.variance_scaling(g**2, "fan_in", "truncated_normal")(KEY, DENSE)
    c = I.lecun_normal(gain=g)(KEY, DENSE)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


# --------------------------------------------------------------------------- #
# Truncated normal
# --------------------------------------------------------------------------- #
def test_truncated_normal_std_closed_form():
    assert I.truncated_normal_std(-2.0, 2.0) == pytest.approx(0.87962566103423978, rel=1e-14)
    assert I.truncated_normal_std(-np.inf, np.inf) == pytest.approx(1.0, rel=1e-14)
    assert I.truncated_normal_std(0.0, np.inf) == pytest.approx(math.sqrt(1 - 2 / math.pi), rel=1e-12)
    # against numerical integration on a fine grid
    for lo, hi in [(-1.0, 3.0), (-0.5, 0.5), (1.0, 4.0), (-6.0, -5.0)]:
        x = np.linspace(lo, hi, 200_001)
        pdf = np.exp(-x * x / 2)
        trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz
        m = trapezoid(x * pdf, x) / trapezoid(pdf, x)
        v = trapezoid((x - m) ** 2 * pdf, x) / trapezoid(pdf, x)
        assert I.truncated_normal_std(lo, hi) == pytest.approx(math.sqrt(v), rel=1e-6)


def test_truncated_normal_resulting_std_is_requested_std():
    std, mean = 0.05, 0.2
    w = I.truncated_normal(stddev=std, mean=mean)(KEY, DENSE)
    _check_moments(w, mean, std)
    s = std / 0.87962566103423978  # the untruncated std: bounds are mean +- 2 s
    assert float(w.min()) > mean - 2 * s and float(w.max()) < mean + 2 * s
    assert float(w.max()) > mean + 1.99 * s
    # jax's truncated_normal does not correct: its std is 0.88 * stddev
    wj = jax.nn.initializers.truncated_normal(std)(KEY, DENSE)
    assert float(jnp.std(wj)) == pytest.approx(0.87962566 * std, rel=0.02)


def test_truncated_normal_asymmetric_bounds():
    lo, hi, std = -1.0, 3.0, 1.0
    w = I.truncated_normal(stddev=std, lower=lo, upper=hi)(KEY, DENSE)
    tau = I.truncated_normal_std(lo, hi)
    s = std / tau
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    mass = 0.5 * (math.erf(hi / math.sqrt(2)) - math.erf(lo / math.sqrt(2)))
    mean = s * (phi(lo) - phi(hi)) / mass
    _check_moments(w, mean, std)
    assert float(w.min()) > lo * s and float(w.max()) < hi * s


# --------------------------------------------------------------------------- #
# Agreement with jax.nn.initializers
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
def test_variance_scaling_equals_jax_in_float32(mode, distribution):
    ours = I.variance_scaling(1.7, mode, distribution)(KEY, (3, 3, 8, 16), F32)
    ref = jax.nn.initializers.variance_scaling(1.7, mode, distribution)(KEY, (3, 3, 8, 16), F32)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "shape, axes",
    [
        ((64, 32), {}),
        ((32, 4, 8), dict(in_axis=0, out_axis=(1, 2))),
        ((2, 16, 8), dict(batch_axis=0)),
    ],
)
def test_variance_scaling_axes_equal_jax_in_float32(shape, axes):
    ours = I.variance_scaling(1.7, "fan_avg", "normal", **axes)(KEY, shape, F32)
    ref = jax.nn.initializers.variance_scaling(1.7, "fan_avg", "normal", **axes)(KEY, shape, F32)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "ours, ref",
    [
        (I.glorot_normal, jax.nn.initializers.glorot_normal),
        (I.glorot_uniform, jax.nn.initializers.glorot_uniform),
        (I.he_normal, jax.nn.initializers.he_normal),
        (I.he_uniform, jax.nn.initializers.he_uniform),
        (I.lecun_normal, jax.nn.initializers.lecun_normal),
        (I.lecun_uniform, jax.nn.initializers.lecun_uniform),
    ],
)
def test_named_schemes_equal_jax_in_float32(ours, ref):
    np.testing.assert_allclose(ours()(KEY, (3, 3, 8, 16), F32), ref()(KEY, (3, 3, 8, 16), F32), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "shape, column_axis",
    [
        ((64, 32), -1),
        ((32, 64), -1),
        ((3, 3, 8, 16), -1),
        ((20, 30), 0),
        ((4, 6, 5), 1),
        ((7, 7), -1),
    ],
)
def test_orthogonal_is_orthogonal_with_jax_layout(shape, column_axis):
    ours = I.orthogonal(scale=1.5, column_axis=column_axis)(KEY, shape, F32)
    assert ours.shape == shape and ours.dtype == F32
    m = jnp.moveaxis(ours, column_axis, -1).reshape(-1, shape[column_axis]) / 1.5
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, np.eye(gram.shape[0]), atol=1e-5)


@pytest.mark.parametrize("shape", [(3, 4, 8), (3, 3, 4, 8), (4, 4, 4, 8), (2, 3, 3, 4, 4)])
def test_delta_orthogonal_centre_tap_is_orthogonal(shape):
    ours = I.delta_orthogonal(scale=2.0)(KEY, shape, F32)
    centre = tuple((k - 1) // 2 for k in shape[:-2])  # jax's centre tap
    q = ours[centre] / 2.0
    np.testing.assert_allclose(q @ q.T, np.eye(shape[-2]), atol=1e-5)
    assert float(jnp.abs(ours).sum()) == pytest.approx(float(jnp.abs(ours[centre]).sum()), rel=1e-6)


# --------------------------------------------------------------------------- #
# Haar sampling by random reflectors (Stewart 1980)
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("b", [1, 5, 8])
def test_wy_factor_gives_the_product_of_reflectors(b):
    """Against the explicit product of the reflectors: one reflector, an odd and a power-of-two count."""
    v = jax.random.normal(KEY, (2, 9, b), jnp.float64 if jax.config.jax_enable_x64 else F32)
    v = v / jnp.linalg.norm(v, axis=1, keepdims=True)
    t = _orthogonal._wy_factor(jnp.einsum("...ri,...rj->...ij", v, v))
    assert t.shape == (2, b, b)
    for vb, tb in zip(np.asarray(v, np.float64), np.asarray(t, np.float64)):
        want = np.eye(9)
        for i in range(b):
            want = want @ (np.eye(9) - 2 * np.outer(vb[:, i], vb[:, i]))
        np.testing.assert_allclose(np.eye(9) - vb @ tb @ vb.T, want, atol=1e-5)
        assert np.all(np.tril(tb, -1) == 0)


def test_fast_normals_are_standard_normal():
    """Moments of N(0, 1) within 6 sigma of the sample: mean 0, E z^2 = 1, E z^4 = 3, P(z < 0) = 1/2,
    P(|z| > 2) = 0.0455 (a wrong bits-to-uniform map or a missing sqrt(2) fails these)."""
    n = 200_000
    z = np.asarray(_orthogonal._fast_normals(KEY, n, F32), np.float64)
    assert z.shape == (n,) and np.isfinite(z).all()
    for x, want in ((z, 0.0), (z**2, 1.0), (z**4, 3.0), (z < 0, 0.5), (np.abs(z) > 2, 0.04550026)):
        assert abs(x.mean() - want) < SIGMAS * x.std() / math.sqrt(n), (want, x.mean())


def test_fast_normals_keys_and_vmap():
    """Same key, same numbers; other keys differ; vmap over keys equals the loop (lax.rng_bit_generator's
    own vmap rule would draw every member from the first key)."""
    a = _orthogonal._fast_normals(KEY, 64, F32)
    np.testing.assert_array_equal(a, _orthogonal._fast_normals(KEY, 64, F32))
    keys = jax.random.split(jax.random.key(3), 3)
    loop = np.stack([_orthogonal._fast_normals(k, 64, F32) for k in keys])
    assert not np.allclose(loop[0], loop[1])
    np.testing.assert_array_equal(jax.vmap(lambda k: _orthogonal._fast_normals(k, 64, F32))(keys), loop)
    np.testing.assert_array_equal(jax.jit(jax.vmap(lambda k: _orthogonal._fast_normals(k, 64, F32)))(keys), loop)


def test_float64_normals_and_orthogonal_in_a_subprocess():
    """The float64 path (52 mantissa bits from uint64) needs jax_enable_x64, so it runs in its own process:
    N(0, 1) moments, and an orthogonal float64 draw orthogonal to float64 precision."""
    script = textwrap.dedent("""
      import math
      import jax, jax.numpy as jnp, numpy as np
      from jaxnn import initializers as I
      from jaxnn.initializers import _orthogonal
      n = 100_000
      z = np.asarray(_orthogonal._fast_normals(jax.random.key(0), n, jnp.float64))
      assert z.dtype == np.float64
      for x, want in ((z, 0.0), (z**2, 1.0), (z**4, 3.0), (np.abs(z) > 2, 0.04550026)):
        assert abs(x.mean() - want) < 6 * x.std() / math.sqrt(n), (want, x.mean())
      w = I.orthogonal()(jax.random.key(1), (300, 200), jnp.float64)
      assert w.dtype == jnp.float64
      assert float(jnp.abs(w.T @ w - jnp.eye(200)).max()) < 1e-12
      print("ok")
  """)
    env = dict(os.environ, JAX_ENABLE_X64="1", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


def _haar_samples(n, k, block, reps):
    keys = jax.random.split(KEY, reps)
    return np.asarray(jax.jit(jax.vmap(lambda kk: _orthogonal._haar_columns(kk, n, k, F32, block)))(keys), np.float64)


@pytest.mark.parametrize("n, k, block", [(12, 12, 4), (13, 13, 4), (10, 6, 4), (9, 9, 16)])
def test_haar_columns_are_orthonormal(n, k, block):
    q = _haar_samples(n, k, block, 4)
    np.testing.assert_allclose(np.einsum("rmi,rmj->rij", q, q), np.broadcast_to(np.eye(k), (4, k, k)), atol=1e-5)


@pytest.mark.parametrize("n, block", [(16, 4), (7, 2)])
def test_haar_columns_moments_match_haar(n, block):
    """Closed-form Haar O(n) moments, several reflector blocks: E[tr Q] = 0, E[tr(Q)^2] = 1 (Diaconis &
    Shahshahani 1994), and the first column uniform on the sphere: E[Q_00^2] = 1/n, E[Q_00^4] = 3/(n(n+2)).
    Dropping the sign matrix D makes E[tr Q] = -n + ...: far outside these tolerances."""
    reps = 4000
    q = _haar_samples(n, n, block, reps)
    tr = np.trace(q, axis1=1, axis2=2)
    assert abs(tr.mean()) < SIGMAS * tr.std() / math.sqrt(reps)
    tr2 = tr**2
    assert abs(tr2.mean() - 1.0) < SIGMAS * tr2.std() / math.sqrt(reps)
    for power, want in ((2, 1 / n), (4, 3 / (n * (n + 2)))):
        x = q[:, 0, 0] ** power
        assert abs(x.mean() - want) < SIGMAS * x.std() / math.sqrt(reps), (power, x.mean(), want)
    # an entry deep in the last block has the same law as the first (Haar is permutation invariant)
    x = q[:, -1, -1] ** 2
    assert abs(x.mean() - 1 / n) < SIGMAS * x.std() / math.sqrt(reps)


def test_haar_semi_orthogonal_frame_moments():
    """First k columns of Haar O(n): E[Q Q^T] = (k/n) I."""
    n, k, reps = 10, 6, 3000
    q = _haar_samples(n, k, 4, reps)
    qqt = np.einsum("rik,rjk->rij", q, q)
    mean, err = qqt.mean(0), qqt.std(0) / math.sqrt(reps)
    assert np.all(np.abs(mean - k / n * np.eye(n)) < SIGMAS * err + 1e-9)


def test_orthogonal_distribution_matches_jax():
    """Same law as jax.nn.initializers.orthogonal (both Haar): the mean of Q_00^2 and of tr(Q)^2 agree."""
    n, reps = 8, 3000
    keys = jax.random.split(jax.random.key(7), reps)
    ours = np.asarray(jax.vmap(lambda kk: I.orthogonal()(kk, (n, n)))(keys), np.float64)
    ref = np.asarray(jax.vmap(lambda kk: jax.nn.initializers.orthogonal()(kk, (n, n)))(keys), np.float64)
    for f in (lambda q: q[:, 0, 0] ** 2, lambda q: np.trace(q, axis1=1, axis2=2) ** 2):
        a, b = f(ours), f(ref)
        assert abs(a.mean() - b.mean()) < SIGMAS * math.sqrt(a.var() / reps + b.var() / reps)


def test_orthogonal_multi_block_path_through_public_api(monkeypatch):
    monkeypatch.setattr(_orthogonal, "_ORTHO_BLOCK", 64)  # so that (320, 200) takes 4 blocks, the last one narrower
    w = I.orthogonal()(KEY, (320, 200))
    np.testing.assert_allclose(w.T @ w, np.eye(200), atol=1e-5)
    w2 = I.orthogonal()(KEY, (200, 320))
    np.testing.assert_allclose(w2 @ w2.T, np.eye(200), atol=1e-5)


# --------------------------------------------------------------------------- #
# Keys, jit, vmap, dtypes
# --------------------------------------------------------------------------- #
TRANSFORM_INITS = ("he_normal", "uniform", "truncated_normal", "orthogonal", "sparse")
RANDOM_INITS = {
    "normal": I.normal(),
    "uniform": I.uniform(),
    "truncated_normal": I.truncated_normal(),
    "he_normal": I.he_normal(),
    "glorot_uniform": I.glorot_uniform(),
    "lecun_normal": I.lecun_normal(),
    "torch_linear_default": I.torch_linear_default(),
    "orthogonal": I.orthogonal(),
    "sparse": I.sparse(0.5),
    "delta_orthogonal": I.delta_orthogonal(),
}
SHAPE = {"delta_orthogonal": (3, 3, 4, 8)}


class TestKeysAndTransforms(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_same_key_same_array_different_keys_differ(self):
        for name in TRANSFORM_INITS:
            init, shape = RANDOM_INITS[name], (16, 24)
            f = self.variant(lambda k, init=init, shape=shape: init(k, shape))
            a, b = f(jax.random.key(1)), f(jax.random.key(1))
            c = f(jax.random.key(2))
            chex.assert_trees_all_equal(a, b)
            assert not np.array_equal(a, c), name
            chex.assert_shape(a, shape)

    def test_jit_equals_eager_and_vmap_equals_loop(self):
        keys = jax.random.split(KEY, 3)
        for name in TRANSFORM_INITS:
            init, shape = RANDOM_INITS[name], (16, 24)
            f = lambda k, init=init, shape=shape: init(k, shape)
            batched = jax.vmap(f)(keys)
            chex.assert_shape(batched, (3, *shape))
            for i in range(3):
                np.testing.assert_allclose(batched[i], f(keys[i]), atol=1e-6, err_msg=name)
            np.testing.assert_allclose(jax.jit(f)(KEY), f(KEY), atol=1e-6, err_msg=name)
            # a concrete key inside an enclosing jit: the draw is staged into the outer program, where jax refuses
            # the CPU compile options of a top-level draw; the initializer falls back to the plain program
            np.testing.assert_allclose(jax.jit(lambda x, f=f: f(KEY) + x)(0.0), f(KEY), atol=1e-6, err_msg=name)

    def test_raw_uint32_keys_work(self):
        w = I.he_normal()(jax.random.PRNGKey(0), (8, 4))
        chex.assert_shape(w, (8, 4))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize(
    "name", ["normal", "uniform", "he_normal", "glorot_uniform", "orthogonal", "sparse", "delta_orthogonal"]
)
def test_result_dtype_is_requested_dtype(name, dtype):
    w = RANDOM_INITS[name](KEY, SHAPE.get(name, (16, 24)), dtype)
    chex.assert_type(w, dtype)
    assert bool(jnp.all(jnp.isfinite(w.astype(jnp.float32))))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.int32])
def test_deterministic_inits_dtypes(dtype):
    for init in (I.zeros, I.ones, I.constant(3), I.identity(), I.dirac()):
        shape = (3, 3, 4, 4) if init.__name__ == "dirac" else (4, 4)
        chex.assert_type(init(KEY, shape, dtype), dtype)


def test_low_precision_draws_are_unbiased():
    """jax samples bf16 directly: uniform(-1, 1) mean ~ -1/128. We sample in f32 and cast."""
    n = 1 << 20
    shape = (1024, 1024)
    w = I.uniform(-1.0, 1.0)(KEY, shape, jnp.bfloat16).astype(jnp.float32)
    se = (1 / math.sqrt(3)) / math.sqrt(n)
    assert abs(float(w.mean())) < SIGMAS * se
    biased = jax.random.uniform(KEY, shape, jnp.bfloat16, -1.0, 1.0).astype(jnp.float32)
    assert abs(float(biased.mean())) > SIGMAS * se  # the anchor fact this test guards against
    for dtype in (jnp.bfloat16, jnp.float16):
        for init in (I.he_normal(), I.variance_scaling(1.0, "fan_in", "normal"), I.glorot_uniform()):
            x = init(KEY, shape, dtype).astype(jnp.float32)
            std = float(x.std())
            assert abs(float(x.mean())) < SIGMAS * std / math.sqrt(n)


@pytest.mark.skipif(not jax.config.jax_enable_x64, reason="float64 needs jax_enable_x64")
def test_float64_when_enabled():
    chex.assert_type(I.he_normal()(KEY, (8, 4), jnp.float64), jnp.float64)


# --------------------------------------------------------------------------- #
# Structured and bias initializers
# --------------------------------------------------------------------------- #
def test_identity_and_non_square():
    np.testing.assert_array_equal(I.identity()(KEY, (3, 3)), np.eye(3))
    np.testing.assert_array_equal(I.identity(2.0)(KEY, (2, 4)), 2 * np.eye(2, 4))
    np.testing.assert_array_equal(I.identity()(KEY, (4, 2)), np.eye(4, 2))


def test_dirac_centre_and_identity_convolution():
    w = I.dirac()(KEY, (4, 4, 3, 5))  # even kernel: torch's centre k // 2 = 2
    assert float(w.sum()) == 3.0
    for i in range(3):
        assert float(w[2, 2, i, i]) == 1.0
    w = I.dirac()(KEY, (3, 3, 4, 4))
    x = jax.random.normal(KEY, (2, 7, 7, 4), F32)
    y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(y, x, atol=1e-6)
    w1 = I.dirac(0.5)(KEY, (3, 2, 2))
    np.testing.assert_array_equal(w1[1], 0.5 * np.eye(2))


def test_delta_orthogonal_conv_preserves_norm():
    w = I.delta_orthogonal()(KEY, (3, 3, 4, 8))
    x = jax.random.normal(KEY, (2, 7, 7, 4), F32)
    y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(jnp.sum(y**2, -1), jnp.sum(x**2, -1), rtol=1e-5)


def test_sparse_exact_zero_count_per_unit():
    rows, cols, s = 50, 40, 0.9
    w = I.sparse(s, stddev=0.5)(KEY, (rows, cols))
    zeros_per_column = np.sum(np.asarray(w) == 0, axis=0)
    np.testing.assert_array_equal(zeros_per_column, math.ceil(s * rows))
    big = I.sparse(0.5, stddev=0.5)(KEY, DENSE)
    nz = np.asarray(big)[np.asarray(big) != 0]
    _check_moments(nz, 0.0, 0.5)
    assert np.all(np.sum(np.asarray(big) == 0, axis=0) == 128)
    assert float(jnp.abs(I.sparse(0.0)(KEY, (8, 8))).min()) > 0


def test_prior_bias():
    b = I.prior_bias(0.1)(KEY, (3,))
    np.testing.assert_allclose(jax.nn.sigmoid(b), 0.1, rtol=1e-6)
    p = np.array([0.2, 0.3, 0.5])
    b = I.prior_bias(p)(KEY, (3,))
    np.testing.assert_allclose(jax.nn.softmax(b), p, rtol=1e-6)
    b = I.prior_bias([0.1, 0.9], activation="sigmoid")(KEY, (2,))  # multi-label
    np.testing.assert_allclose(jax.nn.sigmoid(b), [0.1, 0.9], rtol=1e-6)
    # as a flax/MLP output bias the initial prediction equals the prior
    logits = jnp.zeros((5, 3)) @ jnp.ones((3, 3)) + I.prior_bias(p)(KEY, (3,))
    np.testing.assert_allclose(jax.nn.softmax(logits), np.broadcast_to(p, (5, 3)), rtol=1e-6)


def test_torch_linear_default():
    w = I.torch_linear_default()(KEY, (400, 300))
    assert float(jnp.abs(w).max()) <= 1 / 20 and float(jnp.abs(w).max()) > 0.999 / 20
    conv = I.torch_linear_default()(KEY, (3, 3, 16, 32))  # fan_in = 144
    assert float(jnp.abs(conv).max()) <= 1 / 12
    b = I.torch_linear_default(fan_in=400)(KEY, (300,))
    assert float(jnp.abs(b).max()) <= 1 / 20 and float(jnp.abs(b).max()) > 0.99 / 20
    with pytest.raises(ValueError, match="fan_in"):
        I.torch_linear_default()(KEY, (300,))
    with pytest.raises(ValueError, match="fan_in"):
        I.torch_linear_default(fan_in=0)


def test_constant_and_zeros_ones():
    np.testing.assert_array_equal(I.zeros(KEY, (2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(I.ones(KEY, (2, 3), jnp.bfloat16), np.ones((2, 3)))
    np.testing.assert_array_equal(I.constant(-7)(KEY, (2, 3)), np.full((2, 3), -7.0))
    np.testing.assert_array_equal(I.constant([1.0, 2.0, 3.0])(KEY, (2, 3)), [[1, 2, 3]] * 2)
    with pytest.raises(ValueError, match="broadcast"):
        I.constant([1.0, 2.0])(KEY, (2, 3))


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: I.he_normal()(KEY, (4, 4), jnp.int32), TypeError, "dtype=.*int32"),
        (lambda: I.normal()(KEY, (4, 4), jnp.uint8), TypeError, "dtype"),
        (lambda: I.orthogonal()(KEY, (4, 4), jnp.int32), TypeError, "dtype"),
        (lambda: I.normal(stddev=-1.0), ValueError, "stddev=-1.0"),
        (lambda: I.truncated_normal(stddev=-0.1), ValueError, "stddev=-0.1"),
        (lambda: I.sparse(0.5, stddev=-1), ValueError, "stddev=-1"),
        (lambda: I.variance_scaling(-1.0, "fan_in", "normal"), ValueError, "scale=-1.0"),
        (lambda: I.orthogonal(scale=-2.0), ValueError, "scale=-2.0"),
        (lambda: I.he_normal(gain=-1.0), ValueError, "gain=-1.0"),
        (lambda: I.he_normal(0.1, gain=1.0), ValueError, "negative_slope"),
        (lambda: I.uniform(1.0, 0.0), ValueError, "minval=1.0, maxval=0.0"),
        (lambda: I.truncated_normal(lower=2.0, upper=-2.0), ValueError, "lower=2.0, upper=-2.0"),
        (lambda: I.variance_scaling(1.0, "fan_sum", "normal"), ValueError, "mode='fan_sum'"),
        (lambda: I.variance_scaling(1.0, "fan_in", "cauchy"), ValueError, "distribution='cauchy'"),
        (lambda: I.sparse(1.0), ValueError, "sparsity=1.0"),
        (lambda: I.sparse(-0.1), ValueError, "sparsity=-0.1"),
        (lambda: I.orthogonal()(KEY, (5,)), ValueError, "rank 1"),
        (lambda: I.orthogonal(column_axis=3)(KEY, (5, 4)), ValueError, "column_axis=3"),
        (lambda: I.delta_orthogonal()(KEY, (3, 3, 8, 4)), ValueError, "in channels <= out"),
        (lambda: I.delta_orthogonal()(KEY, (8, 8)), ValueError, "3D, 4D or 5D"),
        (lambda: I.dirac()(KEY, (8, 8)), ValueError, "3D, 4D or 5D"),
        (lambda: I.identity()(KEY, (3, 3, 3)), ValueError, "2-D"),
        (lambda: I.sparse(0.5)(KEY, (8,)), ValueError, "rank 1"),
        (lambda: I.prior_bias(0.0), ValueError, "p="),
        (lambda: I.prior_bias(1.0), ValueError, "p="),
        (lambda: I.prior_bias([0.5, 0.6]), ValueError, "sum to 1"),
        (lambda: I.prior_bias(0.3, activation="tanh"), ValueError, "activation='tanh'"),
        (lambda: I.prior_bias([0.5, 0.5])(KEY, (3,)), ValueError, "shape\\[-1\\]"),
        (lambda: I.normal()(KEY, (4, -1)), ValueError, "shape"),
        (lambda: I.normal()(KEY, "ab"), TypeError, "shape"),
        (lambda: I.normal(stddev="big"), TypeError, "stddev='big'"),
    ],
)
def test_bad_input_errors_name_argument_and_value(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --------------------------------------------------------------------------- #
# Lookup, flax, sharding
# --------------------------------------------------------------------------- #
def test_get_every_name_and_unknown():
    for name in I.names():
        assert callable(I.get(name))
    assert I.get("zeros")() is I.zeros and I.get("ones")() is I.ones
    assert I.get("xavier_normal") is I.glorot_normal and I.get("KAIMING_UNIFORM") is I.he_uniform
    no_arg = [n for n in I.names() if n not in ("constant", "prior_bias", "variance_scaling", "sparse")]
    for name in no_arg:
        shape = (3, 3, 4, 8) if name in ("delta_orthogonal", "dirac") else (8, 8)
        chex.assert_shape(I.get(name)()(KEY, shape), shape)
    with pytest.raises(ValueError, match="unknown initializer name='he_norm'") as err:
        I.get("he_norm")
    assert "he_normal" in str(err.value) and "orthogonal" in str(err.value)


def test_all_is_complete():
    for name in I.__all__:
        assert hasattr(I, name), name
    for name in I.names():
        assert name in I.__all__


def test_flax_dense_and_conv_interop():
    import flax.linen as nn

    dense = nn.Dense(256, kernel_init=I.he_normal(), bias_init=I.zeros)
    params = dense.init(KEY, jnp.ones((1, 512)))["params"]
    chex.assert_shape(params["kernel"], (512, 256))
    _check_moments(params["kernel"], 0.0, math.sqrt(2 / 512))
    np.testing.assert_array_equal(params["bias"], np.zeros(256))
    conv = nn.Conv(64, (3, 3), kernel_init=I.he_normal(), bias_init=I.prior_bias(0.25))
    p = conv.init(KEY, jnp.ones((1, 8, 8, 32)))["params"]
    chex.assert_shape(p["kernel"], (3, 3, 32, 64))
    _check_moments(p["kernel"], 0.0, math.sqrt(2 / (9 * 32)))
    np.testing.assert_allclose(jax.nn.sigmoid(p["bias"]), 0.25, rtol=1e-6)
    ortho = nn.Dense(64, kernel_init=I.orthogonal(), param_dtype=jnp.bfloat16)
    k = ortho.init(KEY, jnp.ones((1, 64)))["params"]["kernel"]
    chex.assert_type(k, jnp.bfloat16)
    np.testing.assert_allclose(k.astype(jnp.float32).T @ k.astype(jnp.float32), np.eye(64), atol=2e-2)


def test_out_sharding_single_device():
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("x",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x", None))
    for init in (I.he_normal(), I.uniform(), I.sparse(0.5), I.normal()):
        a = init(KEY, (16, 8), out_sharding=sharding)
        np.testing.assert_array_equal(a, init(KEY, (16, 8)))
        assert a.sharding == sharding
    z = I.zeros(KEY, (16, 8), out_sharding=sharding)
    assert z.sharding == sharding
    with pytest.raises(NotImplementedError, match="out_sharding"):
        I.orthogonal()(KEY, (16, 8), out_sharding=sharding)


def test_out_sharding_four_cpu_devices_matches_unsharded():
    script = textwrap.dedent("""
      import numpy as np, jax
      from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
      from jaxnn import initializers as I
      assert jax.config.jax_threefry_partitionable
      mesh = Mesh(np.array(jax.devices()[:4]).reshape(2, 2), ("a", "b"))
      s = NamedSharding(mesh, P("a", "b"))
      key = jax.random.key(3)
      for init in (I.he_normal(), I.glorot_uniform(), I.truncated_normal(), I.sparse(0.3)):
          x = init(key, (64, 32), out_sharding=s)
          assert x.sharding == s and len(x.addressable_shards) == 4
          np.testing.assert_array_equal(np.asarray(x), np.asarray(init(key, (64, 32))))
      print("ok")
  """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]
