"""The textbook results about initialization, as tests on real data (the sklearn digits).

Each test asserts a large effect that a wrong initializer, a wrong diagnostic or a wrong training loop would
break: symmetry of constant initializations, the forward scale of He / Glorot / tiny Gaussian weights in deep
ReLU nets, dynamical isometry of orthogonal tanh nets, and He vs Glorot training a 30-layer ReLU MLP.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import datasets, diagnostics, initializers, losses, metrics, models, train


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits", seed=0)


def _xent(logits, labels):
    return losses.categorical_cross_entropy(logits, labels)


# ------------------------------------------------------------------------------------- constant weights


def test_constant_init_never_breaks_symmetry(digits):
    """Zeros (and ones) for every weight: a layer's hidden units get identical gradients, so they stay
    identical through training, and the network is no better than one unit per layer."""
    sizes = [64, 32, 32, 10]
    apply_fn = functools.partial(models.mlp_apply, activation="relu")
    run = jax.jit(
        functools.partial(
            train.fit,
            train_data=(digits.x_train, digits.y_train),
            key=jax.random.PRNGKey(1),
            apply_fn=apply_fn,
            loss_fn=_xent,
            optimizer=optax.adam(1e-2),
            steps=200,
            batch_size=64,
            eval_data=(digits.x_test, digits.y_test),
            eval_every=100,
            metric=metrics.accuracy,
        )
    )
    acc = {}
    for name, w_init in [("zeros", initializers.zeros), ("ones", initializers.ones), ("he", initializers.he_normal())]:
        params = models.mlp_init(jax.random.PRNGKey(0), sizes, w_init=w_init)
        res = run(params)
        acc[name] = float(res.history["eval_metric"][-1])
        if name == "he":
            continue
        for layer in res.params[:-1]:  # every hidden layer: all incoming weight columns still equal
            w = np.asarray(layer["w"])
            assert np.all(np.isfinite(w))
            np.testing.assert_allclose(w, np.broadcast_to(w[:, :1], w.shape), rtol=1e-6, atol=1e-7)
        _, acts = apply_fn(res.params, digits.x_test, return_activations=True)
        h = np.asarray(acts[0]["post"])
        np.testing.assert_allclose(h, np.broadcast_to(h[:, :1], h.shape), rtol=1e-6, atol=1e-7)
    assert acc["he"] > 0.9, acc
    assert acc["zeros"] < 0.5 and acc["ones"] < 0.5 and acc["he"] - max(acc["zeros"], acc["ones"]) > 0.4, acc


# ------------------------------------------------------------------------------------- forward scale, ReLU


def _stacked_mlp(key, sizes, init, seeds):
    """``seeds`` MLPs with all same-shape layers drawn in one call (``batch_axis=0``)."""
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for k, (a, b) in zip(keys, zip(sizes[:-1], sizes[1:])):
        w = init(batch_axis=0)(k, (seeds, a, b)) if callable(init) else init
        layers.append({"w": w, "b": jnp.zeros((seeds, b))})
    return layers


def test_relu_forward_scale_he_glorot_tiny(digits):
    """50 ReLU layers of width 512. He keeps E[z^2] within 2x of layer 1's (averaged over 8 initializations:
    a single finite-width net drifts like a random walk in log scale, variance ~5L/width, Hanin & Rolnick
    2018); Glorot halves it every layer (fan_avg = fan_in for square layers, and ReLU keeps half the second
    moment); N(0, 0.01^2) loses a factor width*1e-4/2 per layer, below 1e-6 by layer 10."""
    width, depth, seeds = 512, 50, 8
    sizes = [64] + [width] * depth + [10]
    x = digits.x_train[:32]
    apply_fn = functools.partial(models.mlp_apply, activation="relu")
    moments = jax.jit(jax.vmap(lambda p: diagnostics.layer_moments(p, apply_fn, x, jax.random.PRNGKey(0))["pre"]))

    he = np.asarray(moments(_stacked_mlp(jax.random.PRNGKey(1), sizes, initializers.he_normal, seeds)))
    ratio = he.mean(0)[:depth] / he.mean(0)[0]
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio

    glorot = np.asarray(moments(_stacked_mlp(jax.random.PRNGKey(2), sizes, initializers.glorot_normal, seeds)))
    log2 = np.log2(glorot.mean(0)[1:depth])  # from layer 2 on, where the layers are square
    slope = np.polyfit(np.arange(log2.size), log2, 1)[0]
    assert -1.15 < slope < -0.85, slope
    assert glorot.mean(0)[depth - 1] / glorot.mean(0)[0] < 2.0**-40

    tiny = np.asarray(
        moments(_stacked_mlp(jax.random.PRNGKey(3), sizes, lambda batch_axis: initializers.normal(0.01), seeds))
    )
    assert np.all(tiny[:, 9] < 1e-6), tiny[:, 9]
    assert np.all(tiny[:, 0] > 1e-3)  # layer 1 itself is fine: 64 inputs * 1e-4


# ---------------------------------------------------------------------------------- dynamical isometry, tanh


def test_tanh_orthogonal_dynamical_isometry(digits):
    """32 tanh layers of width 64 at the critical scale sigma_w = 1, sigma_b = 0, inputs scaled to
    q = 1/64 (Pennington, Schoenholz & Ganguli 2017): orthogonal weights keep the singular values of the
    input-output Jacobian concentrated near 1; Gaussian weights of the same variance spread them over
    decades, more with depth."""
    x = digits.x_train[:8] / 8.0
    apply_fn = functools.partial(models.mlp_apply, activation="tanh")
    key = jax.random.PRNGKey(0)

    def spectrum(init, depth):
        params = models.mlp_init(jax.random.PRNGKey(1), [64] * (depth + 1), w_init=init, activation="tanh")
        r = diagnostics.signal_propagation(params, apply_fn, x, key, jacobian="exact", num_jacobian_examples=4)
        return diagnostics.summary(r), r.jacobian_sv

    orth, sv = spectrum(initializers.orthogonal(), 32)
    assert 0.5 < orth["jac_sigma_q10"] and orth["jac_sigma_q90"] <= 1.0 + 1e-3, orth
    assert orth["jac_spread_log10"] < 0.2 and sv.min() > 0.2, orth
    gauss32, _ = spectrum(initializers.normal(1 / 8.0), 32)
    gauss4, _ = spectrum(initializers.normal(1 / 8.0), 4)
    assert gauss32["jac_spread_log10"] > 4 and gauss32["jac_spread_log10"] > gauss4["jac_spread_log10"] + 2, (
        gauss4,
        gauss32,
    )


# ------------------------------------------------------------------------------------- deep-relu training


def test_deep_relu_he_trains_glorot_does_not(digits):
    """He et al. (2015): a 30-layer ReLU MLP trains from He initialization and stays at chance from Glorot
    (SGD, lr 0.01, 300 steps, 3 seeds, same data order)."""
    sizes = [64] + [64] * 29 + [10]
    apply_fn = functools.partial(models.mlp_apply, activation="relu")
    run = jax.jit(
        functools.partial(
            train.fit,
            train_data=(digits.x_train, digits.y_train),
            key=jax.random.PRNGKey(100),
            apply_fn=apply_fn,
            loss_fn=_xent,
            optimizer=optax.sgd(0.01),
            steps=300,
            batch_size=64,
            eval_every=150,
        )
    )
    final = {}
    for name, init in [("he", initializers.he_normal()), ("glorot", initializers.glorot_normal())]:
        final[name] = [
            float(run(models.mlp_init(jax.random.PRNGKey(s), sizes, w_init=init)).history["train_loss"][-1])
            for s in range(3)
        ]
    chance = np.log(10.0)
    assert max(final["he"]) < 1.7, final  # measured ~0.95-1.25
    assert min(final["glorot"]) > chance - 0.05, final  # measured 2.302-2.303: no learning at all
