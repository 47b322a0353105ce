"""Tests for jaxnn.train: train_step against optax by hand, fit against a Python-loop replay, history format,
jit(vmap(fit)) against per-run fit, in-graph divergence, bad inputs."""

import functools
import importlib.util

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import models, train

N, D, C = 96, 5, 3
X = jax.random.normal(jax.random.key(10), (N, D))
Y = jnp.argmax(X @ jax.random.normal(jax.random.key(11), (D, C)), -1)
XE = jax.random.normal(jax.random.key(12), (40, D))
YE = jnp.argmax(XE @ jax.random.normal(jax.random.key(11), (D, C)), -1)
DATA_KEY = jax.random.key(7)
SIZES = (D, 16, C)


def ce(pred, y):
    return optax.softmax_cross_entropy_with_integer_labels(pred, y).mean()


def acc(pred, y):
    return jnp.mean(jnp.argmax(pred, -1) == y)


APPLY = functools.partial(models.mlp_apply, activation="tanh")


def init(seed=0, scale=1.0):
    p = models.mlp_init(jax.random.key(seed), SIZES, w_init=jax.nn.initializers.glorot_normal())
    return jax.tree_util.tree_map(lambda a: a * scale, p)


def replay(params, optimizer, steps, batch_size, key=DATA_KEY, x=X, y=Y, loss_fn=ce, apply_fn=APPLY):
    """Python loop over minibatch_indices with train_step; also returns the first non-finite step."""
    state = optimizer.init(params)
    idx = train.minibatch_indices(key, x.shape[0], batch_size, steps)
    step = jax.jit(functools.partial(train.train_step, apply_fn=apply_fn, loss_fn=loss_fn, optimizer=optimizer))
    for t in range(steps):
        new, new_state, loss = step(params, state, (x[idx[t]], y[idx[t]]))
        finite = bool(jnp.isfinite(loss)) and all(
            bool(jnp.all(jnp.isfinite(a))) for a in jax.tree_util.tree_leaves(new)
        )
        if not finite:
            return params, t
        params, state = new, new_state
    return params, -1


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
    chex.assert_trees_all_close(a, b, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------------------------- train_step


def test_train_step_matches_optax_by_hand():
    params = init()
    opt = optax.adam(1e-2)
    state = opt.init(params)
    batch = (X[:8], Y[:8])
    step = jax.jit(functools.partial(train.train_step, apply_fn=APPLY, loss_fn=ce, optimizer=opt))
    new, new_state, loss = step(params, state, batch)

    @jax.jit
    def by_hand(params, state):
        l, g = jax.value_and_grad(lambda p: ce(APPLY(p, batch[0]), batch[1]))(params)
        return l, opt.update(g, state, params)

    l, (u, s) = by_hand(params, state)
    np.testing.assert_allclose(loss, l, rtol=1e-6)
    assert_trees_close(new, optax.apply_updates(params, u), rtol=1e-6, atol=1e-7)
    assert_trees_close(new_state, s, rtol=1e-6, atol=1e-7)
    # with a regularizer the objective and the gradient include it
    reg = lambda p: 0.1 * sum(jnp.sum(a**2) for a in jax.tree_util.tree_leaves(p))
    _, _, loss_r = jax.jit(
        functools.partial(train.train_step, apply_fn=APPLY, loss_fn=ce, optimizer=opt, regularizer=reg)
    )(params, state, batch)
    np.testing.assert_allclose(loss_r, l + reg(params), rtol=1e-6)


# ---------------------------------------------------------------------------------------------- data order


def test_minibatch_indices_are_shuffled_epochs():
    idx = np.asarray(train.minibatch_indices(DATA_KEY, 10, 3, 7))  # 3 batches per epoch, last example skipped
    assert idx.shape == (7, 3)
    for e in range(2):
        epoch = idx[3 * e : 3 * e + 3].ravel()
        assert len(set(epoch)) == 9 and set(epoch) <= set(range(10))
    assert not np.array_equal(idx[:3], idx[3:6])  # a fresh permutation per epoch
    full = np.asarray(train.minibatch_indices(DATA_KEY, 12, 4, 6))
    assert sorted(full[:3].ravel()) == list(range(12)) and sorted(full[3:].ravel()) == list(range(12))


# ---------------------------------------------------------------------------------------------- fit


FIT = functools.partial(train.fit, apply_fn=APPLY, loss_fn=ce, steps=60, batch_size=16, eval_every=20)


def test_fit_equals_python_loop_and_reduces_loss():
    opt = optax.sgd(0.2, momentum=0.9)
    r = FIT(init(), (X, Y), key=DATA_KEY, optimizer=opt, eval_data=(XE, YE), metric=acc)
    want, div = replay(init(), opt, 60, 16)
    assert div == -1
    assert_trees_close(r.params, want)
    h = r.history
    assert set(h) == {"step", "train_loss", "eval_loss", "eval_metric", "batch_loss", "diverged", "diverged_step"}
    np.testing.assert_array_equal(h["step"], [0, 20, 40, 60])
    chex.assert_type([h["step"], h["diverged_step"]], jnp.int32)
    chex.assert_shape([h["train_loss"], h["eval_loss"], h["eval_metric"], h["batch_loss"], h["diverged"]], (4,))
    assert int(h["diverged_step"]) == -1 and not np.any(h["diverged"])
    # train_loss is the full-train-set loss at the evaluated params; eval on the held-out set
    np.testing.assert_allclose(h["train_loss"][0], ce(APPLY(init(), X), Y), rtol=1e-6)
    np.testing.assert_allclose(h["train_loss"][-1], ce(APPLY(want, X), Y), rtol=1e-4)
    np.testing.assert_allclose(h["eval_loss"][-1], ce(APPLY(want, XE), YE), rtol=1e-4)
    np.testing.assert_allclose(h["eval_metric"][-1], acc(APPLY(want, XE), YE), atol=1e-6)
    assert np.isnan(h["batch_loss"][0]) and np.all(np.isfinite(h["batch_loss"][1:]))
    # training works: loss falls a lot, held-out accuracy well above chance (1/3)
    assert h["train_loss"][-1] < 0.5 * h["train_loss"][0]
    assert h["eval_metric"][-1] > 0.8


def test_train_loss_batch_is_the_running_minibatch_mean_without_the_regularizer():
    """train_loss="batch": entry 0 = first minibatch at the initial params; entry i = mean data loss of the
    minibatches since entry i-1, replayed by hand; the regularizer is in batch_loss only; training unchanged."""
    opt = optax.sgd(0.2, momentum=0.9)
    reg = lambda p: 1e-2 * sum(jnp.sum(jnp.square(l["w"])) for l in p)
    kw = dict(key=DATA_KEY, optimizer=opt, eval_data=(XE, YE), regularizer=reg)
    r = FIT(init(), (X, Y), train_loss="batch", **kw)
    full = FIT(init(), (X, Y), **kw)
    assert_trees_close(r.params, full.params, rtol=0, atol=0)
    for k in ("eval_loss", "batch_loss"):
        np.testing.assert_array_equal(r.history[k], full.history[k])
    idx = train.minibatch_indices(DATA_KEY, N, 16, 60)
    np.testing.assert_allclose(r.history["train_loss"][0], ce(APPLY(init(), X[idx[0]]), Y[idx[0]]), rtol=1e-6)
    p, state, data, objective = init(), opt.init(init()), [], []
    for t in range(60):
        data.append(float(ce(APPLY(p, X[idx[t]]), Y[idx[t]])))
        p, state, o = train.train_step(
            p, state, (X[idx[t]], Y[idx[t]]), apply_fn=APPLY, loss_fn=ce, optimizer=opt, regularizer=reg
        )
        objective.append(float(o))
    want = np.asarray(data).reshape(3, 20).mean(1)
    np.testing.assert_allclose(r.history["train_loss"][1:], want, rtol=1e-5)
    np.testing.assert_allclose(r.history["batch_loss"][1:], np.asarray(objective).reshape(3, 20).mean(1), rtol=1e-5)
    assert np.all(r.history["batch_loss"][1:] > r.history["train_loss"][1:])  # the penalty is positive
    with pytest.raises(ValueError, match="train_loss must be 'full' or 'batch', got 'exact'"):
        FIT(init(), (X, Y), train_loss="exact", **kw)


def test_fit_without_eval_data_and_with_remainder_steps_and_schedule():
    sched = optax.linear_schedule(0.3, 0.01, 25)
    opt = optax.sgd(sched)
    r = train.fit(
        init(1), (X, Y), key=DATA_KEY, apply_fn=APPLY, loss_fn=ce, optimizer=opt, steps=25, batch_size=32, eval_every=10
    )
    h = r.history
    np.testing.assert_array_equal(h["step"], [0, 10, 20])  # n_eval = 25 // 10 + 1; 5 more steps after
    assert np.all(np.isnan(h["eval_loss"])) and np.all(np.isnan(h["eval_metric"]))
    want, _ = replay(init(1), opt, 25, 32)
    assert_trees_close(r.params, want)
    assert int(optax.tree_utils.tree_get(r.opt_state, "count")) == 25


def test_fit_data_key_decides_the_order():
    opt = optax.sgd(0.1)
    a = FIT(init(), (X, Y), key=DATA_KEY, optimizer=opt, steps=20, eval_every=20)
    b = FIT(init(), (X, Y), key=DATA_KEY, optimizer=opt, steps=20, eval_every=20)
    c = FIT(init(), (X, Y), key=jax.random.key(8), optimizer=opt, steps=20, eval_every=20)
    chex.assert_trees_all_equal(a.params, b.params)
    assert not np.allclose(a.params[0]["w"], c.params[0]["w"])


def _diverging_setup():
    """SGD on MSE with a learning rate that is fine at unit scale and explodes for a 10x larger init."""
    y = X[:, :1] * 2.0
    mse = lambda p, t: jnp.mean((p - t) ** 2)
    relu_apply = functools.partial(models.mlp_apply, activation="relu")
    good = [models.mlp_init(jax.random.key(s), (D, 16, 1), w_init=jax.nn.initializers.glorot_normal()) for s in (0, 1)]
    bad = jax.tree_util.tree_map(lambda a: 10.0 * a, good[1])
    fit = functools.partial(
        train.fit,
        train_data=(X, y),
        key=DATA_KEY,
        apply_fn=relu_apply,
        loss_fn=mse,
        optimizer=optax.sgd(0.02),
        steps=40,
        batch_size=16,
        eval_every=10,
    )
    return good, bad, fit, (X, y, mse, relu_apply)


def test_jit_vmap_fit_equals_per_run_fit_and_divergence_is_isolated():
    good, bad, fit, (x, y, mse, relu_apply) = _diverging_setup()
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), good[0], bad, good[1])
    r = jax.jit(jax.vmap(fit))(stacked)

    # the bad run diverged at the same step as a plain replay says, and kept its last finite params
    want_bad, div = replay(bad, optax.sgd(0.02), 40, 16, x=x, y=y, loss_fn=mse, apply_fn=relu_apply)
    assert div > 0, "the setup must diverge after a few steps"
    np.testing.assert_array_equal(r.history["diverged_step"], [-1, div, -1])
    bad_params = jax.tree_util.tree_map(lambda a: a[1], r.params)
    chex.assert_tree_all_finite(bad_params)
    assert_trees_close(bad_params, want_bad, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(r.history["diverged"][1], r.history["step"][1] > div)
    np.testing.assert_array_equal(np.asarray(r.history["diverged"])[[0, 2]], False)

    # siblings: identical to training them alone, with fit and with a Python loop
    for i, p in ((0, good[0]), (2, good[1])):
        alone = fit(p)
        assert_trees_close(jax.tree_util.tree_map(lambda a: a[i], r.params), alone.params)
        for k in ("train_loss", "eval_loss", "batch_loss", "diverged_step"):
            np.testing.assert_allclose(r.history[k][i], alone.history[k], rtol=1e-5, equal_nan=True)
        assert_trees_close(
            alone.params, replay(p, optax.sgd(0.02), 40, 16, x=x, y=y, loss_fn=mse, apply_fn=relu_apply)[0]
        )
    assert r.history["train_loss"][0, -1] < 0.5 * r.history["train_loss"][0, 0]


def test_vmap_over_data_keys_too():
    opt = optax.sgd(0.1)
    keys = jax.random.split(jax.random.key(3), 2)
    f = jax.vmap(lambda p, k: FIT(p, (X, Y), key=k, optimizer=opt, steps=20, eval_every=20), in_axes=(None, 0))
    r = f(init(), keys)
    alone = FIT(init(), (X, Y), key=keys[1], optimizer=opt, steps=20, eval_every=20)
    assert_trees_close(jax.tree_util.tree_map(lambda a: a[1], r.params), alone.params)


def test_nan_from_the_start_is_step_zero():
    p = init()
    p[0]["w"] = p[0]["w"].at[0, 0].set(jnp.nan)
    r = FIT(p, (X, Y), key=DATA_KEY, optimizer=optax.sgd(0.1), steps=20, eval_every=10)
    assert int(r.history["diverged_step"]) == 0
    np.testing.assert_array_equal(r.history["diverged"], [False, True, True])
    chex.assert_trees_all_equal(r.params, p)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"batch_size": 1000}, ValueError, "batch_size=1000"),
        ({"steps": 0}, ValueError, "steps"),
        ({"eval_every": 0}, ValueError, "eval_every"),
        ({"optimizer": "sgd"}, TypeError, "optimizer"),
        ({"key": 3}, TypeError, "key"),
        ({"train_data": (X, Y[:5])}, ValueError, "same leading"),
        ({"train_data": X}, TypeError, "train_data"),
        ({"eval_data": (XE, YE[:3])}, ValueError, "eval_data"),
        ({"metric": "accuracy"}, TypeError, "metric"),
        ({"monitor": "yes"}, TypeError, "monitor"),
    ],
)
def test_fit_rejects_bad_input(kwargs, exc, match):
    args = {"train_data": (X, Y), "key": DATA_KEY, "optimizer": optax.sgd(0.1), **kwargs}
    train_data = args.pop("train_data")
    with pytest.raises(exc, match=match):
        FIT(init(), train_data, **args)


@pytest.mark.skipif(importlib.util.find_spec("jaxnn.losses") is None, reason="jaxnn.losses not there yet")
def test_fit_with_jaxnn_losses():
    from jaxnn import losses

    loss_fn = losses.get("categorical_cross_entropy")
    r = FIT(init(), (X, Y), key=DATA_KEY, optimizer=optax.sgd(0.2, momentum=0.9), loss_fn=loss_fn)
    np.testing.assert_allclose(r.history["train_loss"][0], ce(APPLY(init(), X), Y), rtol=1e-5)
    assert r.history["train_loss"][-1] < 0.5 * r.history["train_loss"][0]


def test_fit_preserves_bfloat16_params():
    p = models.mlp_init(jax.random.key(0), SIZES, dtype=jnp.bfloat16)
    r = FIT(
        p,
        (X.astype(jnp.bfloat16), Y),
        key=DATA_KEY,
        optimizer=optax.sgd(0.1),
        steps=10,
        eval_every=10,
        eval_data=(XE.astype(jnp.bfloat16), YE),
        metric=acc,
    )
    chex.assert_type(jax.tree_util.tree_leaves(r.params), jnp.bfloat16)
    chex.assert_type([r.history["train_loss"], r.history["eval_loss"]], jnp.bfloat16)
    chex.assert_type(r.history["eval_metric"], jnp.float32)  # metrics keep at least float32
    chex.assert_tree_all_finite(r.params)
