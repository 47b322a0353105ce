"""Tests for jaxnn.schemes: LSUV on real data, Fixup and ZerO structure, muP variances and learning rates."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import datasets, models, schemes

KEY = jax.random.PRNGKey(0)


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", seed=0)


# --------------------------------------------------------------------------------------------------- LSUV


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_lsuv_unit_variance_on_a_fresh_batch(digits, activation):
    x = np.asarray(digits.x_train)
    perm = np.random.RandomState(0).permutation(x.shape[0])
    fit_batch, fresh = x[perm[:512]], x[perm[512:1024]]
    params = models.mlp_init(KEY, [64, 96, 96, 96, 10], activation=activation)
    apply_fn = functools.partial(models.mlp_apply, activation=activation)
    out = jax.jit(schemes.lsuv, static_argnames=("apply_fn",))(jax.random.PRNGKey(1), params, apply_fn, fit_batch)
    _, acts = apply_fn(out, fit_batch, return_activations=True)
    fit_vars = np.array([float(jnp.var(a["pre"])) for a in acts])
    np.testing.assert_allclose(fit_vars, 1.0, atol=1e-4)  # zero biases: one rescaling is exact
    _, acts = apply_fn(out, fresh, return_activations=True)
    fresh_vars = np.array([float(jnp.var(a["pre"])) for a in acts])
    assert np.all(np.abs(fresh_vars - 1.0) < 0.1), fresh_vars
    # the orthonormal start survives up to the scale: W^T W is a multiple of the identity (square layers)
    w = np.asarray(out[1]["w"], np.float64)
    gram = w.T @ w
    np.testing.assert_allclose(gram / gram[0, 0], np.eye(96), atol=1e-4)


def test_lsuv_iterates_with_biases_and_is_pure():
    x = jax.random.normal(KEY, (256, 16))
    params = models.mlp_init(KEY, [16, 32, 32, 4], b_init=lambda k, s, d=jnp.float32: jnp.full(s, 0.5, d))
    apply_fn = functools.partial(models.mlp_apply, activation="tanh")
    out = schemes.lsuv(jax.random.PRNGKey(2), params, apply_fn, (x, None), tol=0.02, max_iters=20)
    _, acts = apply_fn(out, x, return_activations=True)
    assert all(abs(float(jnp.var(a["pre"])) - 1.0) < 0.02 for a in acts)
    for a, b in zip(out, params):
        np.testing.assert_array_equal(a["b"], b["b"])  # biases kept
    again = schemes.lsuv(jax.random.PRNGKey(2), params, apply_fn, x, tol=0.02, max_iters=20)
    jax.tree.map(np.testing.assert_array_equal, out, again)


def test_lsuv_bad_inputs():
    x = jnp.ones((8, 4))
    params = models.mlp_init(KEY, [4, 3, 2])
    with pytest.raises(ValueError, match="tol"):
        schemes.lsuv(KEY, params, models.mlp_apply, x, tol=0.0)
    with pytest.raises(ValueError, match="max_iters"):
        schemes.lsuv(KEY, params, models.mlp_apply, x, max_iters=0)
    with pytest.raises(ValueError, match="records"):
        schemes.lsuv(
            KEY,
            params + params[-1:],
            lambda p, x, return_activations=False: models.mlp_apply(p[:2], x, return_activations=return_activations),
            x,
        )
    with pytest.raises(TypeError, match="key"):
        schemes.lsuv(0, params, models.mlp_apply, x)


# -------------------------------------------------------------------------------------------------- Fixup


def test_fixup_structure_and_scale():
    L, m, width = 6, 3, 256
    params = models.resmlp_init(KEY, 64, width, L, 10, branch_depth=m)
    out = schemes.fixup(jax.random.PRNGKey(3), params)
    assert np.all(np.asarray(out["output"]["w"]) == 0)
    factor = L ** (-1.0 / (2 * m - 2))
    he_std = np.sqrt(2.0 / width)
    for block in out["blocks"]:
        assert np.all(np.asarray(block[-1]["w"]) == 0)
        for layer in block[:-1]:
            w = np.asarray(layer["w"])
            # sample std of N = width^2 draws: relative standard error 1/sqrt(2N)
            assert abs(w.std() / (he_std * factor) - 1) < 6 / np.sqrt(2 * w.size)
    assert abs(np.asarray(out["input"]["w"]).std() / np.sqrt(2.0 / 64) - 1) < 6 / np.sqrt(2 * 64 * width)
    assert all(np.all(np.asarray(l["b"]) == 0) for _, l in models.layers(out))
    # every block starts as the identity: the output is exactly zero (zero classifier, zero biases)
    x = jax.random.normal(KEY, (5, 64))
    np.testing.assert_array_equal(models.resmlp_apply(out, x), 0.0)
    # and it trains: the classifier gets a gradient at step 0
    g = jax.grad(lambda p: jnp.sum(models.resmlp_apply(p, x) ** 2 - models.resmlp_apply(p, x)))(out)
    assert float(jnp.abs(g["output"]["w"]).max()) > 0
    with pytest.raises(TypeError, match="resmlp"):
        schemes.fixup(KEY, models.mlp_init(KEY, [4, 4, 2]))


# --------------------------------------------------------------------------------------------------- ZerO


def test_hadamard_matches_scipy():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    for m in range(6):
        np.testing.assert_array_equal(schemes.hadamard(m), scipy_linalg.hadamard(2**m))
    with pytest.raises(ValueError, match="order"):
        schemes.hadamard(-1)


def scipy_hadamard(n):
    return pytest.importorskip("scipy.linalg").hadamard(n)


def test_zero_initializer_cases():
    init = schemes.zero_initializer()
    np.testing.assert_array_equal(init(None, (8, 8)), np.eye(8))
    np.testing.assert_array_equal(init(None, (8, 5)), np.eye(8, 5))  # partial identity
    w = np.asarray(init(None, (64, 100)), np.float64)  # expansion: m = 7, c = 2^-3
    c = 2.0**-3
    np.testing.assert_array_equal(np.unique(np.abs(w)), [c])
    np.testing.assert_array_equal(w, c * scipy_hadamard(128)[:100, :64].T)
    np.testing.assert_allclose(np.asarray(init(None, (64, 128)) @ init(None, (64, 128)).T), 2.0 * np.eye(64))
    # deterministic, dtype kept, leading axes broadcast
    assert init(KEY, (4, 6), jnp.bfloat16).dtype == jnp.bfloat16
    assert init(KEY, (3, 4, 6)).shape == (3, 4, 6)
    with pytest.raises(ValueError, match="shape"):
        init(None, (5,))


def test_zero_init_resmlp_and_mlp():
    params = models.resmlp_init(KEY, 64, 128, 3, 10)
    a, b = schemes.zero_init(KEY, params), schemes.zero_init(jax.random.PRNGKey(9), params)
    jax.tree.map(np.testing.assert_array_equal, a, b)  # deterministic
    for block in a["blocks"]:
        np.testing.assert_array_equal(block[-1]["w"], 0.0)
        np.testing.assert_array_equal(block[0]["w"], np.eye(128))
    np.testing.assert_array_equal(a["output"]["w"], np.eye(128, 10))
    # the Hadamard expansion keeps every input direction (full rank); units j and j+64 share incoming
    # weights (rows of H_7 agree on the first 64 columns) but not outgoing ones, so their gradients differ
    x = jax.random.normal(KEY, (32, 64))
    y = jax.random.randint(KEY, (32,), 0, 10)
    mlp = schemes.zero_init(KEY, models.mlp_init(KEY, [64, 128, 128, 10]))
    assert np.linalg.matrix_rank(np.asarray(mlp[0]["w"])) == 64
    g = jax.grad(lambda p: optax.softmax_cross_entropy_with_integer_labels(models.mlp_apply(p, x), y).mean())(mlp)
    g0 = np.asarray(g[0]["w"])
    assert np.abs(g0[:, :64] - g0[:, 64:]).max() > 1e-3


# ---------------------------------------------------------------------------------------------------- muP


def test_mup_init_variances():
    sizes, base = [64, 512, 512, 10], 128
    params = schemes.mup_init(KEY, sizes, base_width=base)
    expected = [2 / 64, 2 / 512, 2 / 512 * base / 512]
    for layer, var in zip(params, expected):
        w = np.asarray(layer["w"], np.float64)
        # sample variance of N normal draws: relative standard error sqrt(2/N)
        assert abs(w.var() / var - 1) < 6 * np.sqrt(2 / w.size)
    # at the base width it is He (SP), and zero_output zeroes the readout
    inits = schemes.mup_initializers([64, 128, 10], base_width=128, activation="tanh", zero_output=True)
    w = np.asarray(inits[1](KEY, (128, 10)))
    assert np.all(w == 0)
    w0 = np.asarray(inits[0](KEY, (64, 128)), np.float64)
    assert abs(w0.var() / ((5 / 3) ** 2 / 64) - 1) < 6 * np.sqrt(2 / w0.size)
    with pytest.raises(ValueError, match="base_width"):
        schemes.mup_initializers(sizes, base_width=0)
    with pytest.raises(ValueError, match="layer_sizes"):
        schemes.mup_initializers([64, 10], base_width=128)


def test_mup_optimizer_scales_adam_per_layer():
    base = 64
    params = schemes.mup_init(KEY, [8, 256, 256, 4], base_width=base)
    mult = schemes.mup_lr_multipliers(params, base_width=base)
    assert [m["w"] for m in mult] == [1.0, 0.25, 0.25] and all(m["b"] == 1.0 for m in mult)
    grads = jax.tree.map(lambda p: jax.random.normal(KEY, p.shape), params)
    opt = schemes.mup_optimizer(1e-2, base_width=base)
    upd, _ = jax.jit(opt.update)(grads, opt.init(params), params)
    ref, _ = optax.adam(1e-2).update(grads, optax.adam(1e-2).init(params), params)
    for u, r, m in zip(upd, ref, mult):
        for k in ("w", "b"):
            np.testing.assert_allclose(u[k], r[k] * m[k], rtol=1e-6)
    # works on stacked (vmapped) parameters: fan_in is read from the last two axes
    stacked = jax.tree.map(lambda p: jnp.stack([p, p]), params)
    assert schemes.mup_lr_multipliers(stacked, base_width=base)[1]["w"] == 0.25
