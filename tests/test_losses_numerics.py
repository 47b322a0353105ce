"""jaxnn.losses: the numerical edge cases where optax / Keras / torch fail."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import losses as L

HALF = [jnp.float16, jnp.bfloat16]
FLOATS = [jnp.float16, jnp.bfloat16, jnp.float32]


def finite(*xs):
    return all(np.all(np.isfinite(np.asarray(x, np.float64))) for x in xs)


def close(a, b, rtol=1e-6, atol=0.0):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


# ------------------------------------------------------- huge logits ----


def test_huge_logits_binary_cross_entropy_and_focal():
    x = jnp.array([1e4, -1e4, 1e4, -1e4], jnp.float32)
    y = jnp.array([1.0, 1.0, 0.0, 0.0])
    close(L.binary_cross_entropy(x, y, reduction="none"), [0, 1e4, 1e4, 0])
    g = jax.grad(lambda z: L.binary_cross_entropy(z, y, reduction="sum"))(x)
    close(g, jax.nn.sigmoid(x) - y)  # = [0, -1, 1, 0]
    for gamma in (2.0, 0.5):
        v = L.binary_focal(x, y, gamma=gamma, reduction="none")
        close(v, [0, 1e4, 1e4, 0])
        g = jax.grad(lambda z: L.binary_focal(z, y, gamma=gamma, reduction="sum"))(x)
        # d/dx of (1-p_t)^g * CE: at a confident-correct logit it is 0; at a
        # confident-wrong one the factor is 1 and the CE slope is +-1.
        close(g, [0, -1, 1, 0], atol=1e-6)
    # Keras gives a NaN gradient at logit 100 with gamma < 1.
    g = jax.grad(lambda z: L.binary_focal(z, jnp.ones(1), gamma=0.3))(jnp.array([100.0]))
    assert finite(g)


@pytest.mark.parametrize("labels", ["ids", "onehot"])
def test_huge_logits_categorical_cross_entropy_and_focal(labels):
    x = jnp.array([[1e4, -1e4, 0.0], [1e4, -1e4, 0.0], [-1e4, 0.0, 1e4]])
    ids = jnp.array([0, 1, 1])
    y = ids if labels == "ids" else jax.nn.one_hot(ids, 3)
    close(L.categorical_cross_entropy(x, y, reduction="none"), [0, 2e4, 1e4])
    g = jax.grad(lambda z: L.categorical_cross_entropy(z, y, reduction="sum"))(x)
    close(g, jax.nn.softmax(x) - jax.nn.one_hot(ids, 3), atol=1e-7)
    for gamma in (2.0, 0.5):
        f = lambda z, gamma=gamma: L.categorical_focal(z, y, gamma=gamma, reduction="sum")
        close(L.categorical_focal(x, y, gamma=gamma, reduction="none"), [0, 2e4, 1e4])
        g = jax.jit(jax.grad(f))(x)
        assert finite(g)
        # Row 0 is confidently right: zero gradient.  Rows 1-2 are confidently
        # wrong: the focal factor is 1, so the gradient is the CE gradient.
        close(g, jax.nn.softmax(x) - jax.nn.one_hot(ids, 3), atol=1e-7)


@pytest.mark.parametrize("dtype", HALF)
def test_half_precision_computes_in_float32_and_returns_input_dtype(dtype):
    rng = np.random.default_rng(1)
    x32 = jnp.asarray(rng.normal(size=(4, 3)) * 4, jnp.float32)
    t32 = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    x, t = x32.astype(dtype), t32.astype(dtype)
    cases = [
        (L.binary_cross_entropy, (t > 0).astype(dtype)),
        (L.binary_focal, (t > 0).astype(dtype)),
        (L.categorical_cross_entropy, jnp.array([0, 1, 2, 1])),
        (L.categorical_focal, jnp.array([0, 1, 2, 1])),
        (L.log_cosh, t),
        (L.mse, t),
        (L.huber, t),
        (L.kl_divergence, jax.nn.softmax(t)),
    ]
    for fn, y in cases:
        run = jax.jit(lambda a, b, fn=fn: (fn(a, b), fn(a, b, reduction="none"), jax.grad(fn)(a, b)))
        mean, none, g = run(x, y)
        y32 = y.astype(jnp.float32) if jnp.issubdtype(y.dtype, jnp.floating) else y
        ref_mean, ref_none, _ = run(x.astype(jnp.float32), y32)
        for out, ref in ((mean, ref_mean), (none, ref_none)):
            assert out.dtype == dtype, fn.__name__
            np.testing.assert_array_equal(np.asarray(out, np.float32), np.asarray(ref.astype(dtype), np.float32))
        assert g.dtype == dtype and finite(g)
    # +-1e4 logits in half precision (1e4 is representable in both).
    big = jnp.array([[1e4, -1e4, 0.0]], dtype)
    v = L.categorical_cross_entropy(big, jnp.array([1]))
    assert v.dtype == dtype and float(v) == 2 * float(big[0, 0])
    g = jax.grad(lambda z: L.categorical_cross_entropy(z, jnp.array([1])))(big)
    close(g.astype(jnp.float32), [[1, -1, 0]])


# -------------------------------------------------- masked vocabulary ----


@pytest.mark.parametrize("labels", ["ids", "onehot"])
def test_minus_inf_logit_on_label_zero_class(labels):
    x = jnp.array([[2.0, -jnp.inf, 0.5, -1.0], [0.3, 0.1, -jnp.inf, 1.0]])
    ids = jnp.array([0, 3])
    y = ids if labels == "ids" else jax.nn.one_hot(ids, 4)
    keep = np.isfinite(np.asarray(x))
    ref = [float(-jax.nn.log_softmax(x[i][keep[i]])[[0, 2][i]]) for i in range(2)]
    f = lambda z: L.categorical_cross_entropy(z, y, reduction="sum")
    close(L.categorical_cross_entropy(x, y, reduction="none"), ref, rtol=1e-6)
    for jac in (jax.jit(jax.grad(f))(x), jax.jit(jax.jacfwd(f))(x), jax.jit(jax.jacrev(f))(x)):
        assert finite(jac)
        assert jac[0, 1] == 0 and jac[1, 2] == 0
        sm = np.zeros((2, 4))
        for i in range(2):
            sm[i, keep[i]] = np.asarray(jax.nn.softmax(x[i][keep[i]]))
        close(jac, sm - np.asarray(jax.nn.one_hot(ids, 4)), atol=1e-6)
    # Label smoothing spreads its mass only over the finite classes.
    s = 0.1
    v = L.categorical_cross_entropy(x, y, label_smoothing=s, reduction="none")
    lp0 = np.asarray(jax.nn.log_softmax(x[0][keep[0]]))
    close(v[0], -(1 - s) * lp0[0] - s * lp0.mean(), rtol=1e-6)
    assert finite(jax.jit(jax.jacfwd(lambda z: L.categorical_cross_entropy(z, y, label_smoothing=s)))(x))
    # Focal loss too.
    assert finite(
        L.categorical_focal(x, y),
        jax.jit(jax.grad(lambda z: L.categorical_focal(z, y, gamma=0.5)))(x),
        jax.jit(jax.jacfwd(lambda z: L.categorical_focal(z, y)))(x),
    )


def test_minus_inf_logit_on_the_true_class_is_infinite_not_nan():
    x = jnp.array([[-jnp.inf, 1.0, 0.0]])
    for y in (jnp.array([0]), jnp.array([[1.0, 0.0, 0.0]])):
        assert float(L.categorical_cross_entropy(x, y)) == np.inf


# -------------------------------------------- probabilities at 0 and 1 ----


@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_cross_entropy_from_probabilities_at_0_and_1(dtype):
    p = jnp.array([0.0, 1.0, 0.0, 1.0], dtype)
    y = jnp.array([1.0, 0.0, 0.0, 1.0], dtype)
    v = L.binary_cross_entropy(p, y, from_logits=False, reduction="none")
    assert v.dtype == dtype and finite(v)
    eps = float(jnp.finfo(dtype).eps)
    close(v.astype(jnp.float32), [-np.log(eps / (1 + eps))] * 2 + [0, 0], rtol=float(jnp.finfo(dtype).eps) * 4)
    g = jax.grad(lambda q: L.binary_cross_entropy(q, y, from_logits=False, reduction="sum"))(p)
    assert g.dtype == dtype and finite(g)
    g = np.asarray(g, np.float64)
    assert g[0] < -1.0 and g[1] > 1.0  # wrong predictions: a strong push back
    # Focal from probabilities as well.
    v = L.binary_focal(p, y, from_logits=False, reduction="none")
    assert finite(v, jax.grad(lambda q: L.binary_focal(q, y, from_logits=False))(p))


def test_categorical_and_kl_from_probabilities_with_zeros():
    p = jnp.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
    ids = jnp.array([0, 1])
    v = L.categorical_cross_entropy(p, ids, from_logits=False, reduction="none")
    eps = float(jnp.finfo(jnp.float32).eps)
    close(v, [-np.log(eps / (1 + eps)), -np.log((0.5 + eps) / (1 + eps))], rtol=1e-6)
    g = jax.grad(lambda q: L.categorical_cross_entropy(q, ids, from_logits=False))(p)
    assert finite(g) and g[0, 0] < -1.0
    t = jnp.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    assert finite(
        L.kl_divergence(p, t, from_logits=False), jax.grad(lambda q: L.kl_divergence(q, t, from_logits=False))(p)
    )
    assert finite(
        L.categorical_focal(p, ids, from_logits=False),
        jax.grad(lambda q: L.categorical_focal(q, ids, from_logits=False))(p),
    )


# ------------------------------------------------------------ log_cosh ----


@pytest.mark.parametrize("dtype", FLOATS + ["float64"])
def test_log_cosh_exact_for_tiny_and_huge_errors(dtype):
    with jax.enable_x64(dtype == "float64"):
        dt = jnp.dtype(dtype)
        big = {"float16": 6e4, "bfloat16": 1e38, "float32": 1e38, "float64": 1e300}[dt.name]
        vals = np.array([1e-3, 0.01, -0.01, 0.1, 0.5, 1.9, 2.1, 5.0, 30.0, 1e3, big])
        e = jnp.asarray(vals).astype(dt)
        ev = np.asarray(e, np.float64)  # the rounded inputs
        # Reference in extended precision: log1p(2 sinh(x/2)^2) below 20 (no
        # cancellation), |x| - log 2 above (exact to far below an ulp there).
        xl = np.minimum(np.abs(ev), 20).astype(np.longdouble)
        small = np.log1p(2 * np.sinh(xl / 2) ** 2)
        ref = np.where(np.abs(ev) < 20, small.astype(np.float64), np.abs(ev) - np.log(2))
        got = L.log_cosh(e, jnp.zeros_like(e), reduction="none")
        assert got.dtype == dt
        ulp = float(jnp.finfo(dt).eps)
        # Exact up to the rounding of the result (and the half-ulp of a
        # float16 subnormal at 5e-5).
        close(got, ref.astype(dt).astype(np.float64), rtol=4 * ulp, atol=float(jnp.finfo(dt).smallest_subnormal))
        assert np.all(np.asarray(got, np.float64) >= 0)
        g = jax.grad(lambda z: L.log_cosh(z, jnp.zeros_like(z), reduction="sum"))(e)
        close(g, np.tanh(ev).astype(dt).astype(np.float64), rtol=2 * ulp)


def test_log_cosh_is_never_negative_in_float16():
    e = jnp.asarray(np.linspace(-3, 3, 601), jnp.float16)
    v = L.log_cosh(e, jnp.zeros_like(e), reduction="none")
    assert np.all(np.asarray(v, np.float32) >= 0)


# -------------------------------------------------------------- cosine ----


def test_cosine_distance_with_zero_vectors():
    a = jnp.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    b = jnp.array([[1.0, -1.0, 2.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    v = L.cosine_distance(a, b, reduction="none")
    close(v, [1, 1, 1])
    for argnum in (0, 1):
        g = jax.grad(L.cosine_distance, argnums=argnum)(a, b)
        assert finite(g)
    g16 = jax.grad(L.cosine_distance)(a.astype(jnp.float16), b.astype(jnp.float16))
    assert g16.dtype == jnp.float16 and finite(g16)


# ----------------------------------------------- kinks and transitions ----


@pytest.mark.parametrize("loss,param", [(L.huber, 1.0), (L.huber, 0.3), (L.smooth_l1, 1.0), (L.smooth_l1, 0.3)])
def test_huber_smooth_l1_continuous_value_and_slope(loss, param):
    kw = {"delta": param} if loss is L.huber else {"beta": param}
    slope = param if loss is L.huber else 1.0
    with jax.enable_x64(True):
        f = lambda e: loss(e, jnp.zeros_like(e), reduction="sum", **kw)
        h = 1e-9
        for sgn in (1.0, -1.0):
            e = sgn * jnp.array([param - h, param, param + h])
            v = jax.vmap(f)(e[:, None])
            close(v, v[1], rtol=1e-8)
            g = jax.vmap(jax.grad(f))(e[:, None])[:, 0]
            close(g, sgn * slope, rtol=1e-8)
        # Second derivative jumps but stays bounded; first derivative at 0 is 0.
        assert float(jax.grad(f)(jnp.zeros(1))[0]) == 0.0


def test_mae_gradient_at_zero_is_zero():
    g = jax.grad(L.mae)(jnp.array([0.0, 1.0, -1.0]), jnp.array([0.0, 0.0, 0.0]))
    close(g, [0, 1 / 3, -1 / 3])


# ------------------------------------------- NaN policy and masking ----


CASES = {
    "mse": (L.mse, "reg"),
    "mae": (L.mae, "reg"),
    "huber": (L.huber, "reg"),
    "smooth_l1": (L.smooth_l1, "reg"),
    "log_cosh": (L.log_cosh, "reg"),
    "msle": (L.msle, "reg"),
    "mape": (L.mape, "reg"),
    "poisson": (L.poisson, "reg"),
    "poisson_rate": (lambda p, t, **k: L.poisson(p, t, log_input=False, **k), "reg"),
    "gaussian_nll": (lambda p, t, **k: L.gaussian_nll(p, t, variance=jnp.full(p.shape, 0.7), **k), "reg"),
    "bce": (L.binary_cross_entropy, "bin"),
    "bce_probs": (lambda p, t, **k: L.binary_cross_entropy(p, t, from_logits=False, **k), "bin"),
    "binary_focal": (lambda p, t, **k: L.binary_focal(p, t, gamma=0.5, **k), "bin"),
    "hinge": (L.hinge, "bin"),
    "squared_hinge": (L.squared_hinge, "bin"),
    "cce": (L.categorical_cross_entropy, "ids"),
    "cce_smooth": (lambda p, t, **k: L.categorical_cross_entropy(p, t, label_smoothing=0.1, **k), "ids"),
    "categorical_focal": (L.categorical_focal, "ids"),
    "multiclass_hinge": (L.hinge, "ids"),
    "kl": (L.kl_divergence, "dist"),
    "cosine": (L.cosine_distance, "dist"),
}
EXTREME = np.array([[-1e4, -1.0, 0.0, 1e-30], [1e-3, 1.0, 30.0, 1e4], [0.0, 0.0, 0.0, 0.0]], np.float32)


def _targets(kind):
    if kind == "reg":
        return np.abs(EXTREME[::-1]).copy()
    if kind == "bin":
        return np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]], np.float32)
    if kind == "ids":
        return np.array([0, 3, 1], np.int32)
    return np.array([[0.5, 0.5, 0, 0], [0.1, 0.2, 0.3, 0.4], [0, 0, 0, 1]], np.float32)


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_nan_from_finite_inputs(name):
    fn, kind = CASES[name]
    p, t = EXTREME, _targets(kind)
    if name in ("bce_probs",):
        p = np.clip(np.abs(p), 0, 1)
    v = fn(p, t, reduction="none")
    g = jax.grad(lambda z: fn(z, t))(jnp.asarray(p))
    assert not np.any(np.isnan(np.asarray(v))), v
    assert not np.any(np.isnan(np.asarray(g))), g


@pytest.mark.parametrize("name", sorted(CASES))
def test_masked_nan_and_inf_give_zero_value_and_gradient(name):
    fn, kind = CASES[name]
    rng = np.random.default_rng(3)
    p = rng.uniform(0.1, 0.9, size=(3, 4)).astype(np.float32)
    t = _targets(kind)
    if kind == "reg":
        t = rng.uniform(0.1, 2.0, size=(3, 4)).astype(np.float32)
    bad = p.copy()
    bad[1] = [np.nan, np.inf, -np.inf, np.nan]
    ex_shape = (3,) if kind in ("ids", "dist") else (3, 4)
    mask = np.ones(ex_shape, bool)
    mask[1] = False
    tt = t.copy()
    if kind != "ids":
        tt[1] = np.nan
    v = fn(bad, tt, where=mask)
    close(v, fn(p, t, where=mask), rtol=1e-6)
    g = jax.grad(lambda z: fn(z, tt, where=mask))(jnp.asarray(bad))
    assert finite(g) and np.all(np.asarray(g)[1] == 0)
    # NaN outside the mask propagates; out-of-domain probabilities (inf) given eagerly are refused.
    if name == "bce_probs":
        with pytest.raises(ValueError, match="predictions must be probabilities in"):
            fn(bad, tt)
        assert np.isnan(float(jax.jit(fn)(bad, tt)))
    else:
        assert np.isnan(float(fn(bad, tt)))
    # Fully masked: 0, with a zero (not NaN) gradient.
    none = np.zeros(ex_shape, bool)
    assert float(fn(bad, tt, where=none)) == 0.0
    g = jax.grad(lambda z: fn(z, tt, where=none))(jnp.asarray(bad))
    assert np.all(np.asarray(g) == 0)
