"""Tests for the initializer catalogue additions: serialization, Keras class names, ``dirac(groups)``,
torch's ``trunc_normal``, the overflow/NaN refusals and the batch-size independence of every random draw.

Statistical checks use tolerances from the sample size (as in test_initializers.py): a sample mean within 6
standard errors, a sample variance within ``6 * sqrt((kurtosis - 1) / N)`` relative (kurtosis 3 bounds the normal
and its truncations, 1.8 the uniform).
"""

import json
import math
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import initializers as I

KEY = jax.random.key(0)
SIGMAS = 6.0


def _check_moments(w, mean, std, kurtosis=3.0):
    x = np.asarray(w, dtype=np.float64).ravel()
    n = x.size
    assert abs(x.mean() - mean) <= SIGMAS * std / math.sqrt(n), (x.mean(), mean)
    assert abs(x.var() / std**2 - 1.0) <= SIGMAS * math.sqrt((kurtosis - 1.0) / n), (x.std(), std)


def _phi(x):
    return 0.0 if math.isinf(x) else math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _trunc_moments(mean, std, a, b):
    """Mean and std of N(mean, std^2) truncated to the absolute interval [a, b] (closed form)."""
    al, be = (a - mean) / std, (b - mean) / std
    z = 0.5 * (math.erf(be / math.sqrt(2)) - math.erf(al / math.sqrt(2)))
    d = (_phi(al) - _phi(be)) / z
    ap = 0.0 if math.isinf(al) else al * _phi(al)
    bp = 0.0 if math.isinf(be) else be * _phi(be)
    return mean + std * d, std * math.sqrt(1 + (ap - bp) / z - d * d)


# --------------------------------------------------------------------------- #
# Serialization
# --------------------------------------------------------------------------- #
# One or more built initializers per registry name (aliases serialize under the name they alias).
BUILT = {
    "zeros": [I.zeros],
    "ones": [I.ones],
    "constant": [I.constant(0.25), I.constant(np.arange(4, dtype=np.float32) / 3), I.constant(jnp.float32(0.1))],
    "prior_bias": [I.prior_bias(0.1), I.prior_bias([0.2, 0.3, 0.5])],
    "normal": [I.normal(), I.normal(0.3, mean=-1.0)],
    "uniform": [I.uniform(), I.uniform(-0.1, 0.7)],
    "truncated_normal": [I.truncated_normal(0.2, 0.1, -1.5, 2.5)],
    "trunc_normal": [I.trunc_normal(), I.trunc_normal(0.1, 0.02, -0.3, 0.5)],
    "variance_scaling": [
        I.variance_scaling(2.0, "fan_avg", "truncated_normal"),
        I.variance_scaling(0.5, "fan_geo_avg", "untruncated_normal", in_axis=0, out_axis=(1, 2)),
        I.variance_scaling(3.0, "fan_out", "uniform"),
    ],
    "glorot_normal": [I.glorot_normal(1.3)],
    "glorot_uniform": [I.glorot_uniform()],
    "xavier_normal": [I.xavier_normal()],
    "xavier_uniform": [I.xavier_uniform(gain=0.5)],
    "he_normal": [I.he_normal(0.1)],
    "he_uniform": [I.he_uniform(gain=1.7)],
    "kaiming_normal": [I.kaiming_normal(gain=2.0)],
    "kaiming_uniform": [I.kaiming_uniform()],
    "lecun_normal": [I.lecun_normal()],
    "lecun_uniform": [I.lecun_uniform(np.float32(1.5))],
    "torch_linear_default": [I.torch_linear_default(), I.torch_linear_default(fan_in=np.int64(7))],
    "orthogonal": [I.orthogonal(1.5), I.orthogonal(column_axis=0)],
    "delta_orthogonal": [I.delta_orthogonal(2.0)],
    "identity": [I.identity(2.0)],
    "dirac": [I.dirac(), I.dirac(0.5, groups=2)],
    "sparse": [I.sparse(0.3, 0.2)],
}
CASES = [(name, i, init) for name, inits in BUILT.items() for i, init in enumerate(inits)]


def _shape(name, init):
    if name in ("delta_orthogonal", "dirac"):
        return (3, 3, 4, 8)
    if name == "variance_scaling" and dict(init.kwargs)["in_axis"] == 0:  # the (in, heads, head_dim) example
        return (6, 2, 4)
    if name == "prior_bias" and init.kwargs[0][1] != 0.1:
        return (5, 3)
    if name == "constant" and np.ndim(init.kwargs[0][1]) == 1:
        return (3, 4)
    return (6, 5)


def test_every_registry_name_is_covered():
    assert set(BUILT) == set(I.names())


@pytest.mark.parametrize(("name", "i", "init"), CASES, ids=[f"{n}-{i}" for n, i, _ in CASES])
def test_serialize_round_trip_draws_identical_values(name, i, init):
    spec = I.serialize(init)
    text = json.dumps(spec)  # JSON-able, strictly (no NaN/inf)
    assert "NaN" not in text and "Infinity" not in text
    back = I.deserialize(json.loads(text))
    assert I.serialize(back) == json.loads(text)
    assert spec["name"] == I.get(name)().name if name in ("zeros", "ones") else spec["name"] in I.names()
    shape = _shape(name, init)
    for seed in (0, 5):
        key = jax.random.key(seed)
        for dtype in (jnp.float32, jnp.bfloat16):
            a, b = init(key, shape, dtype), back(key, shape, dtype)
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))
    if name in ("zeros", "ones"):
        assert back is init


def test_aliases_and_keras_names_serialize_under_the_registry_name():
    assert I.serialize(I.xavier_normal())["name"] == "glorot_normal"
    assert I.serialize(I.kaiming_uniform())["name"] == "he_uniform"
    assert I.serialize(I.get("HeNormal")()) == I.serialize(I.he_normal())
    assert I.serialize(I.get("Orthogonal")(gain=2.0))["kwargs"]["scale"] == 2.0
    spec = I.serialize(I.get("TruncatedNormal")(mean=0.5, stddev=0.1))
    assert spec == {"name": "trunc_normal", "kwargs": {"mean": 0.5, "std": 0.1, "a": 0.5 - 0.2, "b": 0.5 + 0.2}}


def test_serialize_keeps_defaults_and_converts_arrays():
    spec = I.serialize(I.he_normal())
    assert spec == {
        "name": "he_normal",
        "kwargs": {"negative_slope": 0.0, "gain": None, "in_axis": -2, "out_axis": -1, "batch_axis": []},
    }
    spec = I.serialize(I.constant(jnp.arange(3, dtype=jnp.float16)))
    assert spec == {"name": "constant", "kwargs": {"value": [0.0, 1.0, 2.0]}}
    assert I.serialize(I.zeros) == {"name": "zeros", "kwargs": {}}


def test_serialize_refuses_foreign_callables_in_one_line():
    for foreign in (jax.nn.initializers.he_normal(), lambda key, shape, dtype=jnp.float32: jnp.zeros(shape), 3):
        with pytest.raises(TypeError, match="not an initializer built by a jaxnn.initializers factory") as err:
            I.serialize(foreign)
        assert "\n" not in str(err.value)
    with pytest.raises(TypeError, match="not JSON-able"):
        I.serialize(I.constant(np.array([1 + 2j])))


def test_deserialize_names_args_and_bad_specs():
    np.testing.assert_array_equal(I.deserialize("he_normal")(KEY, (4, 3)), I.he_normal()(KEY, (4, 3)))
    np.testing.assert_array_equal(I.deserialize("HeNormal")(KEY, (4, 3)), I.he_normal()(KEY, (4, 3)))
    np.testing.assert_array_equal(
        I.deserialize({"name": "normal", "args": [0.3], "kwargs": {"mean": 1.0}})(KEY, (5,)),
        I.normal(0.3, 1.0)(KEY, (5,)),
    )
    for bad, match in (
        ({"kwargs": {}}, "'name' is missing"),
        ({"name": "normal", "extra": 1}, "unexpected keys"),
        ({"name": "normal", "args": 0.3}, "'args' must be a list"),
        ({"name": "he_norm"}, "unknown initializer"),
    ):
        with pytest.raises(ValueError, match=match):
            I.deserialize(bad)
    with pytest.raises(TypeError, match="spec must be a dict or a name"):
        I.deserialize(3)


def test_recorded_initializer_behaves_like_the_function():
    init = I.he_normal(gain=2.0)
    assert init.__name__ == "variance_scaling(truncated_normal, fan_in)"
    assert repr(init) == "he_normal(gain=2.0)"
    assert "He/Kaiming normal" in I.he_normal.__doc__ and "all zeros" in I.zeros.__doc__
    with pytest.raises(AttributeError):
        init.name = "x"
    w = init(KEY, (8, 4))
    np.testing.assert_array_equal(jax.jit(init, static_argnums=(1, 2))(KEY, (8, 4), jnp.float32), w)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(init))(KEY, (8, 4)), w)
    assert pickle.loads(pickle.dumps(I.zeros)) is I.zeros


# --------------------------------------------------------------------------- #
# Keras class names
# --------------------------------------------------------------------------- #
FAN_IN, FAN_OUT = 256, 512
SHAPE = (FAN_IN, FAN_OUT)


@pytest.mark.parametrize(
    ("name", "mean", "std", "kurtosis", "bound"),
    [
        ("HeNormal", 0.0, math.sqrt(2 / FAN_IN), 3.0, 2 * math.sqrt(2 / FAN_IN) / 0.87962566103423978),
        ("HeUniform", 0.0, math.sqrt(2 / FAN_IN), 1.8, math.sqrt(6 / FAN_IN)),
        ("GlorotNormal", 0.0, math.sqrt(2 / (FAN_IN + FAN_OUT)), 3.0, None),
        ("GlorotUniform", 0.0, math.sqrt(2 / (FAN_IN + FAN_OUT)), 1.8, math.sqrt(6 / (FAN_IN + FAN_OUT))),
        ("LecunNormal", 0.0, math.sqrt(1 / FAN_IN), 3.0, None),
        ("LecunUniform", 0.0, math.sqrt(1 / FAN_IN), 1.8, math.sqrt(3 / FAN_IN)),
        ("VarianceScaling", 0.0, math.sqrt(1 / FAN_IN), 3.0, 2 * math.sqrt(1 / FAN_IN) / 0.87962566103423978),
        ("RandomNormal", 0.0, 0.05, 3.0, None),
        ("RandomUniform", 0.0, 0.05 / math.sqrt(3), 1.8, 0.05),
        # Keras's TruncatedNormal is not std-corrected: std 0.05 * 0.8796, cut at +-2 * 0.05
        ("TruncatedNormal", 0.0, 0.05 * 0.87962566103423978, 3.0, 0.1),
    ],
)
def test_keras_names_resolve_to_keras_distributions(name, mean, std, kurtosis, bound):
    w = np.asarray(I.get(name)()(KEY, SHAPE), np.float64)
    _check_moments(w, mean, std, kurtosis)
    if bound is not None:
        assert np.abs(w).max() <= bound * (1 + 1e-6)


def test_keras_deterministic_names_and_arguments():
    np.testing.assert_array_equal(I.get("Zeros")()(KEY, (3, 2)), np.zeros((3, 2)))
    np.testing.assert_array_equal(I.get("Ones")()(KEY, (3, 2)), np.ones((3, 2)))
    np.testing.assert_array_equal(I.get("Constant")()(KEY, (3, 2)), np.zeros((3, 2)))  # Keras default value 0
    np.testing.assert_array_equal(I.get("Constant")(value=2.5)(KEY, (2,)), [2.5, 2.5])
    np.testing.assert_array_equal(I.get("Identity")(gain=3.0)(KEY, (3, 4)), 3.0 * np.eye(3, 4))
    q = np.asarray(I.get("Orthogonal")(gain=2.0)(KEY, (64, 32)), np.float64)
    np.testing.assert_allclose(q.T @ q, 4.0 * np.eye(32), atol=1e-5)
    # Keras's TruncatedNormal(mean, stddev) is trunc_normal cut at mean +- 2 stddev (same numbers)
    np.testing.assert_array_equal(
        I.get("TruncatedNormal")(mean=1.0, stddev=0.2)(KEY, (50,)), I.trunc_normal(1.0, 0.2, 0.6, 1.4)(KEY, (50,))
    )
    np.testing.assert_array_equal(
        I.get("VarianceScaling")(2.0, "fan_avg", "uniform")(KEY, (8, 4)),
        I.variance_scaling(2.0, "fan_avg", "uniform")(KEY, (8, 4)),
    )
    assert set(I.keras_names()) == {
        "HeNormal", "HeUniform", "GlorotNormal", "GlorotUniform", "LecunNormal", "LecunUniform", "Orthogonal",
        "TruncatedNormal", "RandomNormal", "RandomUniform", "Zeros", "Ones", "Constant", "Identity",
        "VarianceScaling",
    }  # fmt: skip
    for name in I.keras_names():
        assert callable(I.get(name))
    assert I.get("truncated_normal") is I.truncated_normal  # snake case stays jaxnn's (corrected)
    with pytest.raises(ValueError, match="Keras class names"):
        I.get("HeNormall")


# --------------------------------------------------------------------------- #
# dirac(groups)
# --------------------------------------------------------------------------- #
def _torch_dirac_hwio(shape_hwio, groups, scale=1.0):
    """torch.nn.init.dirac_ written out on the OIHW weight, returned in HWIO."""
    *k, c_in, c_out = shape_hwio
    w = np.zeros((c_out, c_in, *k))
    out_per_group = c_out // groups
    for g in range(groups):
        for d in range(min(out_per_group, c_in)):
            w[(g * out_per_group + d, d) + tuple(s // 2 for s in k)] = scale
    return np.moveaxis(w, (0, 1), (-1, -2))


@pytest.mark.parametrize(
    ("shape", "groups"),
    [((3, 3, 2, 6), 3), ((3, 3, 4, 4), 2), ((5, 3, 1, 4), 4), ((3, 4, 6), 2), ((3, 3, 3, 4), 2), ((2, 2, 2, 3, 6), 3)],
)
def test_dirac_groups_matches_hand_built(shape, groups):
    w = np.asarray(I.dirac(1.5, groups=groups)(KEY, shape))
    np.testing.assert_array_equal(w, _torch_dirac_hwio(shape, groups, 1.5))


def test_dirac_groups_explicit_tensor_and_grouped_conv_identity():
    w = np.asarray(I.dirac(groups=2)(KEY, (1, 3, 2, 4)))  # (W, I, O): 2 groups of 2 out channels
    expected = np.zeros((1, 3, 2, 4))
    expected[0, 1, 0, 0] = expected[0, 1, 1, 1] = expected[0, 1, 0, 2] = expected[0, 1, 1, 3] = 1.0
    np.testing.assert_array_equal(w, expected)
    x = jax.random.normal(KEY, (2, 7, 7, 6))  # NHWC, 3 groups of 2 channels
    kernel = I.dirac(groups=3)(KEY, (3, 3, 2, 6))
    y = jax.lax.conv_general_dilated(
        x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=3
    )
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(I.dirac(groups=1)(KEY, (3, 3, 4, 5)), I.dirac()(KEY, (3, 3, 4, 5)))


def test_dirac_groups_errors():
    with pytest.raises(ValueError, match="not divisible by groups=4"):
        I.dirac(groups=4)(KEY, (3, 3, 2, 6))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="groups must be a positive int"):
            I.dirac(groups=bad)


# --------------------------------------------------------------------------- #
# trunc_normal (torch semantics)
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("mean", "std", "a", "b"),
    [
        (0.0, 1.0, -2.0, 2.0),  # torch's defaults
        (0.0, 0.02, -2.0, 2.0),  # ViT: bounds at 100 std, effectively untruncated
        (0.5, 1.0, 0.0, 1.0),  # narrow: nearly uniform
        (0.0, 1.0, -1.0, 3.0),  # asymmetric
        (1.0, 2.0, 1.5, math.inf),  # one-sided, in the upper half
        (0.0, 1.0, -math.inf, math.inf),  # no bounds: the normal
    ],
)
def test_trunc_normal_moments_and_bounds(mean, std, a, b):
    n = 200_000
    w = np.asarray(I.trunc_normal(mean, std, a, b)(KEY, (n,)), np.float64)
    m, s = _trunc_moments(mean, std, a, b)
    _check_moments(w, m, s)
    assert w.min() >= a and w.max() <= b
    lo = np.asarray(I.trunc_normal(mean, std, a, b)(KEY, (4096,), jnp.bfloat16), np.float64)
    assert lo.min() >= a and lo.max() <= b
    assert np.all(np.isfinite(w))


def test_trunc_normal_differs_from_truncated_normal_as_documented():
    n = 200_000
    # jaxnn's truncated_normal: bounds in std units, resulting std = stddev
    _check_moments(I.truncated_normal(0.02)(KEY, (n,)), 0.0, 0.02)
    # torch's: std 0.02 with absolute bounds +-2 is untruncated, std 0.02 as well
    w = np.asarray(I.trunc_normal(std=0.02)(KEY, (n,)))
    _check_moments(w, 0.0, 0.02)
    assert np.abs(w).max() < 0.2
    # torch's default: N(0, 1) cut at +-2, std 0.8796 (no correction)
    _check_moments(I.trunc_normal()(KEY, (n,)), 0.0, 0.87962566103423978)


def test_trunc_normal_errors():
    for kwargs, match in (
        (dict(std=0.0), "std must be > 0"),
        (dict(std=-1.0), "std must be >= 0"),
        (dict(a=1.0, b=1.0), "need a < b"),
        (dict(a=40.0, b=50.0), "too far in the tail"),
        (dict(mean=float("nan")), "mean must not be NaN"),
    ):
        with pytest.raises(ValueError, match=match):
            I.trunc_normal(**kwargs)


# --------------------------------------------------------------------------- #
# Overflow and NaN refusals (issue 14, item 8)
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: I.normal(1e39), r"normal: stddev=1e\+39, mean=0.0 gives values beyond float32"),
        (lambda: I.normal(1.0, mean=-1e39), r"mean=-1e\+39"),
        (lambda: I.uniform(-3e38, 3e38), r"uniform: minval=-3e\+38, maxval=3e\+38"),
        (lambda: I.truncated_normal(2e38), r"truncated_normal: stddev=2e\+38"),
        (lambda: I.trunc_normal(0.0, 1e38, -1e39, 1e39), r"trunc_normal: .*std=1e\+38"),
        (lambda: I.variance_scaling(1e78, "fan_in", "normal"), r"variance_scaling: scale=1e\+78"),
        (lambda: I.he_normal(gain=2e38), r"variance_scaling: scale=[0-9.]+e\+76"),
        (lambda: I.orthogonal(1e39), r"orthogonal: scale=1e\+39"),
        (lambda: I.delta_orthogonal(1e39), r"delta_orthogonal: scale=1e\+39"),
        (lambda: I.identity(1e39), r"identity: scale=1e\+39"),
        (lambda: I.dirac(1e39), r"dirac: scale=1e\+39"),
        (lambda: I.sparse(0.5, 1e38), r"sparse: stddev=1e\+38"),
        (lambda: I.constant(1e39), r"constant: value=1e\+39"),
        (lambda: I.constant(float("nan")), r"constant: value must be finite, got value=nan"),
        (lambda: I.constant(float("inf")), r"constant: value must be finite, got value=inf"),
        (lambda: I.constant(-np.inf), r"value=-inf"),
        (lambda: I.constant([1.0, np.nan, np.inf]), r"2 NaN/inf entries in value"),
        (lambda: I.identity(np.inf), r"identity: scale must be finite"),
    ],
)
def test_overflowing_or_nan_parameters_are_refused_when_built(build, match):
    assert not jax.config.jax_enable_x64
    with pytest.raises(ValueError, match=match) as err:
        build()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("init", "shape", "dtype", "match"),
    [
        (I.normal(1e5), (4, 4), jnp.float16, r"normal: stddev=100000.0, mean=0.0 gives values beyond float16"),
        (I.uniform(0.0, 7e4), (4, 4), jnp.float16, r"uniform: minval=0.0, maxval=70000.0"),
        (I.constant(1e5), (3,), jnp.float16, r"constant: value=100000.0 gives values beyond float16"),
        (I.orthogonal(1e5), (4, 4), jnp.float16, r"orthogonal: scale=100000.0"),
        (I.identity(1e5), (4, 4), jnp.float16, r"identity: scale=100000.0"),
        (I.variance_scaling(1e12, "fan_in", "uniform"), (4, 4), jnp.float16, r"scale=1000000000000.0 with this shape"),
        (I.normal(0.0, mean=3.395e38), (4,), jnp.bfloat16, r"beyond bfloat16"),  # fits float32
    ],
)
def test_low_precision_overflow_is_refused_when_called(init, shape, dtype, match):
    with pytest.raises(ValueError, match=match) as err:
        init(KEY, shape, dtype)
    assert "\n" not in str(err.value)
    init(KEY, shape, jnp.float32)  # float32 holds it


def test_parameters_that_fit_are_accepted():
    w = I.normal(1e4)(KEY, (64, 64), jnp.float16)  # 6 std = 60000 < 65504
    assert np.all(np.isfinite(np.asarray(w, np.float32)))
    assert np.all(np.isfinite(I.normal(5e37)(KEY, (64, 64))))  # 6 std = 3e38 < float32's 3.4e38
    I.constant(65504.0)(KEY, (2,), jnp.float16)


def test_float64_draws_with_x64():
    with jax.enable_x64(True):
        init = I.normal(1e39)  # float64 can hold it: refused only for a narrower dtype, when called
        w = init(KEY, (100,), jnp.float64)
        assert w.dtype == jnp.float64 and np.all(np.isfinite(w))
        with pytest.raises(ValueError, match="beyond float32"):
            init(KEY, (100,), jnp.float32)


# --------------------------------------------------------------------------- #
# A seed's draw does not depend on how many seeds are drawn together
# --------------------------------------------------------------------------- #
RANDOM = {
    "normal": I.normal(0.3, 0.1),
    "uniform": I.uniform(-0.2, 0.4),
    "truncated_normal": I.truncated_normal(0.2),
    "trunc_normal": I.trunc_normal(0.0, 0.5, -0.4, 1.0),
    "vs_truncated": I.he_normal(),
    "vs_normal": I.variance_scaling(1.0, "fan_avg", "normal"),
    "vs_uniform": I.glorot_uniform(),
    "torch_linear_default": I.torch_linear_default(),
    "sparse": I.sparse(0.4),
    "orthogonal": I.orthogonal(),
    "orthogonal_col0": I.orthogonal(column_axis=0),
    "delta_orthogonal": I.delta_orthogonal(),
}


@pytest.mark.parametrize("name", list(RANDOM))
def test_vmap_draw_independent_of_batch_size(name):
    init = RANDOM[name]
    shapes = [(3, 3, 8, 16)] if name == "delta_orthogonal" else [(24, 24), (40, 12), (12, 40), (3, 3, 4, 8)]
    if name.startswith("orthogonal"):
        shapes.append((300, 280))  # two blocks of reflectors
    keys = jax.random.split(jax.random.key(42), 6)
    for shape in shapes:
        draw = jax.vmap(lambda k, shape=shape: init(k, shape))
        three, six = np.asarray(draw(keys[:3])), np.asarray(draw(keys))
        jitted = np.asarray(jax.jit(draw)(keys))
        alone = np.stack([np.asarray(init(k, shape)) for k in keys])
        np.testing.assert_array_equal(three, six[:3])
        np.testing.assert_array_equal(six, alone)
        np.testing.assert_array_equal(jitted, alone)
