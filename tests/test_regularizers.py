"""Tests for jaxnn.regularizers: closed forms, the weight/bias rule, masks with optax, effects inside fit."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import models, regularizers, train

KEY = jax.random.key(0)
PARAMS = models.mlp_init(KEY, (4, 5, 3), b_init=jax.nn.initializers.normal(1.0))


def _sums(params, fn):
    w = sum(float(np.sum(fn(np.asarray(layer["w"], np.float64)))) for layer in params)
    b = sum(float(np.sum(fn(np.asarray(layer["b"], np.float64)))) for layer in params)
    return w, b


def test_l2_closed_form():
    sw, sb = _sums(PARAMS, np.square)
    np.testing.assert_allclose(regularizers.l2(PARAMS, weights=0.3), 0.5 * 0.3 * sw, rtol=1e-6)
    np.testing.assert_allclose(regularizers.l2(PARAMS, biases=0.7), 0.5 * 0.7 * sb, rtol=1e-6)
    np.testing.assert_allclose(regularizers.l2(PARAMS, weights=0.3, biases=0.7), 0.15 * sw + 0.35 * sb, rtol=1e-6)
    assert float(regularizers.l2(PARAMS)) == 0.0


def test_l1_closed_form():
    sw, sb = _sums(PARAMS, np.abs)
    np.testing.assert_allclose(regularizers.l1(PARAMS, weights=0.3, biases=0.7), 0.3 * sw + 0.7 * sb, rtol=1e-6)


def test_l2_gradient_is_coefficient_times_weight_and_zero_on_biases():
    g = jax.grad(lambda p: regularizers.l2(p, weights=0.3))(PARAMS)
    for layer, gl in zip(PARAMS, g):
        np.testing.assert_allclose(gl["w"], 0.3 * layer["w"], rtol=1e-6)
        np.testing.assert_array_equal(gl["b"], 0.0)
    g = jax.grad(lambda p: regularizers.l1(p, biases=0.2))(PARAMS)
    for layer, gl in zip(PARAMS, g):
        np.testing.assert_array_equal(gl["w"], 0.0)
        np.testing.assert_allclose(gl["b"], 0.2 * jnp.sign(layer["b"]), rtol=1e-6)


def test_penalty_combines_both_and_other_leaves_are_ignored():
    params = {"layer": PARAMS[0], "scale": jnp.full((5,), 100.0)}  # 'scale' is neither 'w' nor 'b'
    reg = regularizers.penalty(l1_weights=0.1, l1_biases=0.2, l2_weights=0.3, l2_biases=0.4)
    want = regularizers.l1(params, weights=0.1, biases=0.2) + regularizers.l2(params, weights=0.3, biases=0.4)
    np.testing.assert_allclose(reg(params), want, rtol=1e-6)
    np.testing.assert_allclose(reg(params), reg([PARAMS[0]]), rtol=1e-6)


def test_resmlp_params_follow_the_rule():
    p = models.resmlp_init(KEY, 3, 4, 2, 2, b_init=jax.nn.initializers.ones)
    n_bias = 4 + 2 * 2 * 4 + 2
    np.testing.assert_allclose(regularizers.l1(p, biases=1.0), n_bias, rtol=1e-6)
    m = regularizers.weight_mask(p)
    assert m["blocks"][1][1] == {"w": True, "b": False} and m["output"] == {"w": True, "b": False}


def test_coefficients_are_traceable_under_vmap_and_jit():
    out = jax.jit(jax.vmap(lambda a: regularizers.l2(PARAMS, weights=a)))(jnp.array([0.0, 1.0, 2.0]))
    sw, _ = _sums(PARAMS, np.square)
    np.testing.assert_allclose(out, [0.0, 0.5 * sw, sw], rtol=1e-6)


def test_dtype_preserved():
    p = jax.tree_util.tree_map(lambda a: a.astype(jnp.bfloat16), PARAMS)
    chex.assert_type(regularizers.l2(p, weights=0.1), jnp.bfloat16)
    chex.assert_type(regularizers.l1(p, weights=0.1), jnp.bfloat16)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"weights": -1.0}, ValueError, "weights"),
        ({"biases": float("nan")}, ValueError, "biases"),
        ({"weights": jnp.ones(3)}, ValueError, "scalar"),
        ({"weights": "big"}, TypeError, "weights"),
    ],
)
def test_bad_coefficients(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        regularizers.l2(PARAMS, **kwargs)


def test_no_weights_or_biases_is_an_error():
    with pytest.raises(ValueError, match="'w' or 'b'"):
        regularizers.l2({"kernel": jnp.ones(3)}, weights=1.0)
    with pytest.raises(ValueError, match="l2_biases"):
        regularizers.penalty(l2_biases=-0.1)


def test_mask_with_optax_decoupled_weight_decay_skips_biases():
    zeros = jax.tree_util.tree_map(jnp.zeros_like, PARAMS)
    for opt in (
        optax.chain(optax.add_decayed_weights(0.1, mask=regularizers.weight_mask), optax.sgd(1.0)),
        optax.adamw(1.0, weight_decay=0.1, mask=regularizers.weight_mask),
    ):
        state = opt.init(PARAMS)
        updates, _ = opt.update(zeros, state, PARAMS)
        new = optax.apply_updates(PARAMS, updates)
        for old, nl in zip(PARAMS, new):
            np.testing.assert_allclose(nl["w"], 0.9 * old["w"], rtol=1e-6)
            np.testing.assert_array_equal(nl["b"], old["b"])
    m = regularizers.mask(PARAMS, weights=False, biases=True)
    assert m == [{"w": False, "b": True}, {"w": False, "b": True}]


def test_fit_with_weight_only_penalty_changes_weights_only():
    # zero data loss: only the regularizer moves params. SGD(lr) on a/2 |W|^2: W_t = (1 - lr a)^t W_0.
    x, y = jnp.ones((8, 4)), jnp.zeros((8, 3))
    zero_loss = lambda pred, t: 0.0 * jnp.sum(pred)
    r = train.fit(
        PARAMS,
        (x, y),
        key=jax.random.key(1),
        apply_fn=models.mlp_apply,
        loss_fn=zero_loss,
        optimizer=optax.sgd(0.1),
        steps=10,
        batch_size=4,
        eval_every=5,
        regularizer=regularizers.penalty(l2_weights=0.5),
    )
    for old, new in zip(PARAMS, r.params):
        np.testing.assert_allclose(new["w"], 0.95**10 * old["w"], rtol=1e-5)
        np.testing.assert_array_equal(new["b"], old["b"])


def test_fit_penalty_on_real_loss_leaves_bias_path_identical_for_one_step():
    # one step with and without a weight-only penalty: bias updates are identical, weight updates differ by
    # exactly lr * a * W.
    x = jax.random.normal(jax.random.key(2), (16, 4))
    y = jax.random.randint(jax.random.key(3), (16,), 0, 3)
    ce = lambda p, t: optax.softmax_cross_entropy_with_integer_labels(p, t).mean()
    run = functools.partial(
        train.fit,
        PARAMS,
        (x, y),
        key=jax.random.key(1),
        apply_fn=models.mlp_apply,
        loss_fn=ce,
        optimizer=optax.sgd(0.1),
        steps=1,
        batch_size=16,
        eval_every=1,
    )
    plain, reg = run(), run(regularizer=regularizers.penalty(l2_weights=0.2))
    for old, a, b in zip(PARAMS, plain.params, reg.params):
        np.testing.assert_allclose(b["b"], a["b"], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(b["w"], a["w"] - 0.1 * 0.2 * old["w"], rtol=1e-5, atol=1e-6)
    # the penalty is in the training objective (batch_loss) but not in train_loss
    np.testing.assert_allclose(reg.history["train_loss"][0], plain.history["train_loss"][0], rtol=1e-6)
    np.testing.assert_allclose(reg.history["train_loss"][1], ce(models.mlp_apply(reg.params, x), y), rtol=1e-5)
    np.testing.assert_allclose(
        reg.history["batch_loss"][1] - plain.history["batch_loss"][1], regularizers.l2(PARAMS, weights=0.2), rtol=1e-4
    )
