"""Tests for jaxnn.diagnostics: moments against direct computation and hand-written backprop, the Jacobian
spectrum against closed forms, the Lanczos estimator against the exact one, verdicts and plots."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import diagnostics as D

# ------------------------------------------------------------------ a tiny local MLP (stand-in, own code)


def _init(key, sizes, std=None, bias=0.0):
    keys = jax.random.split(key, len(sizes) - 1)
    out = []
    for k, (a, b) in zip(keys, zip(sizes[:-1], sizes[1:])):
        s = np.sqrt(2.0 / a) if std is None else std
        out.append({"w": s * jax.random.normal(k, (a, b)), "b": jnp.full((b,), bias, jnp.float32)})
    return out


def _apply(params, x, *, act=jax.nn.relu, return_activations=False):
    h, rec = x, []
    for i, layer in enumerate(params):
        z = h @ layer["w"] + layer["b"]
        h = z if i == len(params) - 1 else act(z)
        rec.append({"pre": z, "post": h})
    return (h, rec) if return_activations else h


def _manual_backward(params, x, u, dact):
    """E[g_l^2] by hand: g_L = u; g_{l-1} = (g_l * phi'(z_l)) W_l^T (phi' = 1 on the last layer)."""
    params = [{k: np.asarray(v, np.float64) for k, v in p.items()} for p in params]
    h, zs = np.asarray(x, np.float64), []
    for i, p in enumerate(params):
        z = h @ p["w"] + p["b"]
        zs.append(z)
        h = z if i == len(params) - 1 else _np_act(z)
    g = np.asarray(u, np.float64)
    moments = [np.mean(g**2)]
    for i in range(len(params) - 1, 0, -1):
        d = np.ones_like(zs[i]) if i == len(params) - 1 else dact(zs[i])
        g = (g * d) @ params[i]["w"].T
        moments.append(np.mean(g**2))
    return np.asarray(moments[::-1])


def _np_act(z):
    return np.maximum(z, 0.0)


def _relu_prime(z):
    return (z > 0).astype(np.float64)


KEY = jax.random.PRNGKey(0)
X = jax.random.normal(jax.random.PRNGKey(1), (64, 12))
SIZES = [12, 16, 16, 16, 5]  # one shape for most tests: compiled programs are reused across tests
_tanh_apply = functools.partial(_apply, act=jnp.tanh)


def test_forward_moments_match_direct_computation():
    params = _init(KEY, SIZES)
    r = D.signal_propagation(params, _apply, X, KEY, jacobian="none")
    _, acts = _apply(params, X, return_activations=True)
    np.testing.assert_allclose(r.pre_moment, [float(jnp.mean(a["pre"] ** 2)) for a in acts], rtol=1e-6)
    np.testing.assert_allclose(r.post_moment, [float(jnp.mean(a["post"] ** 2)) for a in acts], rtol=1e-6)
    assert r.num_layers == 4 and r.activation == "relu"
    s = D.summary(r)  # no Jacobian requested: its statistics are NaN, and the verdict does not use them
    assert r.jacobian_method == "none" and np.isnan(s["jac_spread_log10"]) and np.isnan(s["jac_sigma_median"])
    assert "Jacobian" not in D.verdict(r)


@pytest.mark.parametrize("jit_apply", [False, True])
def test_backward_moments_match_hand_written_backprop(jit_apply):
    params = _init(KEY, SIZES)
    apply_fn = jax.jit(_apply, static_argnames=("act", "return_activations")) if jit_apply else _apply
    k_cot, _ = jax.random.split(KEY)  # signal_propagation's own split
    r = D.signal_propagation(params, apply_fn, X, KEY, jacobian="none")
    u = jax.random.normal(k_cot, (X.shape[0], 5), jnp.float32)
    expected = _manual_backward(params, X, u, _relu_prime)
    np.testing.assert_allclose(r.grad_moment, expected, rtol=1e-4)
    # the output layer's post is the output: its gradient is u itself
    np.testing.assert_allclose(r.grad_moment[-1], float(jnp.mean(u**2)), rtol=1e-6)


def test_layer_moments_is_jit_and_vmap_clean():
    keys = jax.random.split(KEY, 3)
    stacked = jax.vmap(lambda k: _init(k, SIZES))(keys)
    got = jax.jit(jax.vmap(lambda p: D.layer_moments(p, _apply, X, KEY)))(stacked)
    one_fn = jax.jit(lambda p: D.layer_moments(p, _apply, X, KEY))
    for i in range(3):
        one = one_fn(jax.tree.map(lambda a: a[i], stacked))
        for k in ("pre", "post", "grad"):
            np.testing.assert_allclose(got[k][i], one[k], rtol=1e-5)


def test_taps_inside_scan_are_refused():
    def scan_apply(w, x, return_activations=False):
        def body(h, wi):
            z = h @ wi
            return jnp.tanh(z), (z, jnp.tanh(z))

        h, (zs, hs) = jax.lax.scan(body, x, w)
        acts = [{"pre": zs[i], "post": hs[i]} for i in range(w.shape[0])]
        return (h, acts) if return_activations else h

    with pytest.raises(ValueError, match="scan"):
        D.signal_propagation(0.3 * jnp.ones((3, 12, 12)), scan_apply, X, KEY)


def test_bad_inputs():
    params = _init(KEY, SIZES)
    with pytest.raises(ValueError, match="return_activations"):
        D.signal_propagation(params, lambda p, x, return_activations=False: (x, x), X, KEY)
    with pytest.raises(TypeError, match="floating"):
        D.signal_propagation(params, _apply, jnp.ones((4, 12), jnp.int32), KEY)
    with pytest.raises(ValueError, match="2 examples"):
        D.signal_propagation(params, _apply, jnp.ones((12,)), KEY)
    with pytest.raises(ValueError, match="jacobian"):
        D.signal_propagation(params, _apply, X, KEY, jacobian="svd")
    with pytest.raises(ValueError, match="num_steps"):
        D.lanczos_singular_values(lambda v: v, lambda v: v, jnp.ones(4), 5)


# ------------------------------------------------------------------------------------------- unit health


def test_dead_and_saturated_fractions():
    params = _init(KEY, SIZES)
    # 5 of 16 hidden units get bias -100: dead on every example
    params[0]["b"] = params[0]["b"].at[:5].set(-100.0)
    r = D.signal_propagation(params, _apply, X, KEY, jacobian="none")
    assert r.dead_fraction[0] == pytest.approx(5 / 16)
    assert np.isnan(r.dead_fraction[-1]) and np.isnan(r.saturated_fraction[-1])  # linear output layer
    # tanh with huge weights: almost every entry saturated; small weights: none
    big = _init(KEY, SIZES, std=30.0)
    small = _init(KEY, SIZES, std=0.01)
    rb = D.signal_propagation(big, _tanh_apply, X, KEY, jacobian="none")
    rs = D.signal_propagation(small, _tanh_apply, X, KEY, jacobian="none")
    assert rb.activation == "tanh" and rb.saturated_fraction[0] > 0.9
    assert rs.saturated_fraction[0] == 0.0 and rs.dead_fraction[0] == 0.0


def test_identical_units_detected():
    const = [{"w": jnp.full((a, b), 0.1), "b": jnp.zeros(b)} for a, b in zip(SIZES[:-1], SIZES[1:])]
    r = D.signal_propagation(const, _apply, X, KEY, jacobian="none")
    assert r.identical_units.tolist() == [True] * 4
    assert "symmetry never breaks" in D.verdict(r)
    r2 = D.signal_propagation(_init(KEY, SIZES), _apply, X, KEY, jacobian="none")
    assert not r2.identical_units.any()


# ------------------------------------------------------------------------------------------------ Jacobian


def test_exact_jacobian_of_linear_network_is_the_weight_product():
    params = _init(KEY, [12, 10, 7], std=0.4)
    lin = functools.partial(_apply, act=lambda z: z)
    r = D.signal_propagation(params, lin, X, KEY, jacobian="exact", num_jacobian_examples=3)
    w = np.asarray(params[0]["w"], np.float64) @ np.asarray(params[1]["w"], np.float64)
    expected = np.linalg.svd(w.T, compute_uv=False)
    assert r.jacobian_method == "exact" and r.jacobian_sv.shape == (3, 7)
    for row in r.jacobian_sv:
        np.testing.assert_allclose(row, expected, rtol=1e-4)
    np.testing.assert_allclose(r.jacobian_weights.sum(1), 1.0)


def _operator(key, n, p, svals):
    ku, kv = jax.random.split(key)
    U = jnp.linalg.qr(jax.random.normal(ku, (p, p)))[0][:, : len(svals)]
    V = jnp.linalg.qr(jax.random.normal(kv, (n, n)))[0][:, : len(svals)]
    return (U * jnp.asarray(svals)) @ V.T  # A: R^n -> R^p


def test_lanczos_full_steps_recovers_singular_values_exactly():
    s = np.linspace(0.2, 3.0, 20)
    A = _operator(KEY, 20, 30, s)
    run = jax.jit(lambda q: D.lanczos_singular_values(lambda v: A @ v, lambda u: A.T @ u, q, 20))
    theta, w = run(jax.random.normal(KEY, (20,)))
    np.testing.assert_allclose(np.sort(np.asarray(theta)), s, rtol=2e-3, atol=2e-3)
    assert float(jnp.sum(w)) == pytest.approx(1.0, rel=1e-5)


def test_lanczos_quadrature_moment_is_unbiased_and_extremes_converge():
    n = 60
    s = np.linspace(0.1, 2.0, n)
    A = _operator(jax.random.PRNGKey(3), n, n, s)
    m = 12
    keys = jax.random.split(jax.random.PRNGKey(4), 300)
    theta, w = jax.jit(
        jax.vmap(lambda k: D.lanczos_singular_values(lambda v: A @ v, lambda u: A.T @ u, jax.random.normal(k, (n,)), m))
    )(keys)
    est = np.asarray(jnp.sum(w * theta**2, axis=1))  # one q^T A^T A q per start vector
    lam = s**2
    # q uniform on the sphere: E = mean(lam), Var = 2 Var(lam) / (n + 2)
    se = np.sqrt(2 * np.var(lam) / (n + 2) / len(keys))
    assert abs(est.mean() - lam.mean()) < 6 * se
    # the 4th moment (order 2 in A^T A) is also exact in expectation for m >= 2
    est4 = np.asarray(jnp.sum(w * theta**4, axis=1))
    assert abs(est4.mean() - np.mean(lam**2)) < 6 * est4.std() / np.sqrt(len(keys))
    # the largest Ritz value converges to the largest singular value first
    np.testing.assert_allclose(np.asarray(theta[:, 0]), s.max(), rtol=0.02)


def test_lanczos_breakdown_on_isometry_is_clean():
    Q = jnp.linalg.qr(jax.random.normal(KEY, (16, 16)))[0]
    run = jax.jit(lambda q: D.lanczos_singular_values(lambda v: Q @ v, lambda u: Q.T @ u, q, 8))
    theta, w = run(jax.random.normal(KEY, (16,)))
    assert np.all(np.isfinite(theta)) and np.all(np.isfinite(w))
    assert float(jnp.sum(w * (theta - 1.0) ** 2)) < 1e-8  # all mass at sigma = 1


def test_jacobian_spectrum_lanczos_agrees_with_exact():
    params = _init(KEY, [24, 24, 24, 24], std=0.3)
    f = _tanh_apply
    x = jax.random.normal(KEY, (4, 24))
    ex, ew, em = D.jacobian_spectrum(lambda p, v: f(p, v), x, KEY, params=params, method="exact")
    full, _, fm = D.jacobian_spectrum(f, x, KEY, params=params, method="lanczos", num_steps=24)
    part, pw, _ = D.jacobian_spectrum(f, x, KEY, params=params, method="lanczos", num_steps=8)
    assert (em, fm) == ("exact", "lanczos") and part.shape == (4, 8)
    for i in range(4):
        np.testing.assert_allclose(np.sort(full[i]), np.sort(ex[i]), rtol=1e-2, atol=1e-3)
        assert part[i].max() == pytest.approx(ex[i].max(), rel=0.02)
        # the quadrature's mean of sigma^2 estimates the exact one within a few standard errors
        lam = ex[i] ** 2
        se = np.sqrt(2 * np.var(lam) / (lam.size + 2))
        assert abs(np.sum(pw[i] * part[i] ** 2) - lam.mean()) < 6 * se
    with pytest.raises(ValueError, match="key"):
        D.jacobian_spectrum(f, x, None, params=params, method="lanczos")


# ------------------------------------------------------------------------------------------ verdict, plot


def test_verdicts_follow_the_signal():
    sizes = [12] + [48] * 20 + [4]
    he = D.signal_propagation(_init(KEY, sizes), _apply, X, KEY)
    tiny = D.signal_propagation(_init(KEY, sizes, std=0.05), _apply, X, KEY)
    huge = D.signal_propagation(_init(KEY, sizes, std=1.0), _apply, X, KEY)
    assert "expect learning" in D.verdict(he, "he") and D.verdict(he, "he").startswith("he: ")
    assert "shrinks 10^-" in D.verdict(tiny) and "expect no learning" in D.verdict(tiny)
    assert "grows 10^+" in D.verdict(huge)
    s = D.summary(tiny)
    assert s["forward_log10"] < -20 and s["num_layers"] == 21


def test_plot_writes_a_figure(tmp_path):
    pytest.importorskip("matplotlib")
    reports = {
        "a": D.signal_propagation(_init(KEY, SIZES), _apply, X, KEY),
        "b": D.signal_propagation(_init(KEY, SIZES, std=0.1), _apply, X, KEY),
    }
    path = tmp_path / "sp.png"
    fig = D.plot(reports, str(path), title="t")
    assert path.stat().st_size > 1000 and len(fig.axes) == 3
    assert fig.axes[0].get_yscale() == "log" and fig.axes[2].get_xscale() == "log"
    with pytest.raises(ValueError):
        D.plot({})
