"""Tests for jaxnn.monitor: per-layer statistics against direct computation, dead / saturated fractions,
the bias-drift check (warn and in-graph LR scale-down) on a run built to make biases explode, plotting."""

import functools
import re
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import models, monitor, train

D = 4
X = jax.random.normal(jax.random.key(1), (64, D))
Y_CLS = (X[:, 0] > 0).astype(jnp.int32)
PROBE = (X[:16], Y_CLS[:16])


def ce(pred, y):
    return optax.softmax_cross_entropy_with_integer_labels(pred, y).mean()


def _stats(a):
    a = np.asarray(a, np.float64)
    return {"mean": a.mean(), "std": a.std(), "max_abs": np.abs(a).max(), "norm": np.sqrt((a**2).sum())}


def test_statistics_match_direct_computation():
    params = models.mlp_init(jax.random.key(0), (D, 8, 2), b_init=jax.nn.initializers.normal(0.5))
    acts_fn = functools.partial(models.mlp_apply, activation="relu", return_activations=True)
    m = monitor.monitor(PROBE, activations_fn=acts_fn)
    r = train.fit(
        params,
        (X, Y_CLS),
        key=jax.random.key(2),
        apply_fn=models.mlp_apply,
        loss_fn=ce,
        optimizer=optax.sgd(0.1),
        steps=20,
        batch_size=16,
        eval_every=10,
        monitor=m,
    )
    mon = r.history["monitor"]
    chex.assert_shape([mon["weights"]["norm"], mon["bias_grads"]["std"], mon["bias_flag"]], (3, 2))
    chex.assert_shape([mon["activations"]["dead_fraction"], mon["lr_scale"]], [(3, 2), (3,)])
    # entry 0 is the initial params; the last one the final params
    grads = jax.grad(lambda p: ce(models.mlp_apply(p, PROBE[0]), PROBE[1]))(r.params)
    _, acts = acts_fn(r.params, PROBE[0])
    for layer in range(2):
        for stat in monitor.STATS:
            np.testing.assert_allclose(mon["weights"][stat][0, layer], _stats(params[layer]["w"])[stat], rtol=1e-5)
            np.testing.assert_allclose(
                mon["biases"][stat][-1, layer], _stats(r.params[layer]["b"])[stat], rtol=1e-5, atol=1e-7
            )
            np.testing.assert_allclose(
                mon["weight_grads"][stat][-1, layer], _stats(grads[layer]["w"])[stat], rtol=1e-4, atol=1e-7
            )
            np.testing.assert_allclose(
                mon["activations"][stat][-1, layer], _stats(acts[layer]["post"])[stat], rtol=1e-4, atol=1e-6
            )
    assert np.all(np.isnan(mon["activations"]["saturated_fraction"]))  # relu: not defined
    np.testing.assert_array_equal(mon["lr_scale"], 1.0)
    assert not np.any(mon["bias_flag"])


def test_dead_relu_and_saturation_fractions():
    params = models.mlp_init(jax.random.key(0), (D, 8, 2))
    params[0]["b"] = params[0]["b"].at[:3].set(-1e3)  # 3 of 8 units can never fire
    state = monitor.init_state(monitor.monitor(PROBE), params)
    grad_fn = lambda p, b: jax.grad(lambda q: ce(models.mlp_apply(q, b[0]), b[1]))(p)
    m = monitor.monitor(PROBE, activations_fn=functools.partial(models.mlp_apply, return_activations=True))
    stats, _, _ = monitor.observe(m, state, params, None, grad_fn=grad_fn, eval_every=1)
    np.testing.assert_allclose(stats["activations"]["dead_fraction"][0], 3 / 8)

    big = [{"w": 100 * layer["w"], "b": layer["b"]} for layer in models.mlp_init(jax.random.key(0), (D, 8, 2))]
    m = monitor.monitor(
        PROBE,
        activation="tanh",
        activations_fn=functools.partial(models.mlp_apply, activation="tanh", return_activations=True),
    )
    stats, _, _ = monitor.observe(m, state, big, None, grad_fn=grad_fn, eval_every=1)
    _, acts = models.mlp_apply(big, PROBE[0], activation="tanh", return_activations=True)
    want = float(jnp.mean(jnp.abs(acts[0]["post"]) > 0.99))
    assert want > 0.9
    np.testing.assert_allclose(stats["activations"]["saturated_fraction"][0], want)


# ---------------------------------------------------------------------------------------------- bias drift
# A run built to make biases explode: MAE towards a target of 100 the net cannot reach in 60 steps. The MAE
# gradient of the output bias is exactly -1 while every prediction is below the target, so SGD(lr) moves it by
# +lr every step (0.5 per evaluation here), and the hidden biases grow faster and faster.

Y_OFF = jnp.full((64, 1), 100.0)
MAE = lambda p, t: jnp.mean(jnp.abs(p - t))
DRIFT_PARAMS = models.mlp_init(jax.random.key(0), (D, 8, 1))
DRIFT_FIT = functools.partial(
    train.fit,
    train_data=(X, Y_OFF),
    key=jax.random.key(2),
    apply_fn=models.mlp_apply,
    loss_fn=MAE,
    optimizer=optax.sgd(0.05),
    steps=60,
    batch_size=16,
    eval_every=10,
)


def _drift_monitor(action):
    return monitor.monitor((X[:16], Y_OFF[:16]), bias_threshold=0.75, on_bias_drift=action, lr_factor=0.5)


def test_bias_drift_warns():
    with pytest.warns(monitor.BiasDriftWarning) as record:
        r = DRIFT_FIT(DRIFT_PARAMS, monitor=_drift_monitor("warn"))
    messages = [str(w.message) for w in record]
    assert any(re.search(r"layer '1'.*max\|b\| = 1 at step 20", m) for m in messages), messages
    assert any(re.search(r"layer '0'.*at step 30", m) for m in messages), messages
    assert all(w.filename == __file__ for w in record)  # points at the caller of fit
    mon = r.history["monitor"]
    np.testing.assert_allclose(mon["biases"]["max_abs"][:3, 1], [0.0, 0.5, 1.0], rtol=1e-5)  # +lr per step
    np.testing.assert_array_equal(mon["bias_flag"], mon["biases"]["max_abs"] > 0.75)
    assert mon["bias_flag"][-1].all() and mon["biases"]["max_abs"][-1, 0] > 2.0  # it keeps drifting
    np.testing.assert_array_equal(mon["lr_scale"], 1.0)  # warn only


def test_bias_drift_scales_the_learning_rate_in_graph():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", monitor.BiasDriftWarning)
        warned = DRIFT_FIT(DRIFT_PARAMS, monitor=_drift_monitor("warn"))
        # under jit there is no warning from fit; the flags and the scale are in the history
        scaled = jax.jit(lambda p: DRIFT_FIT(p, monitor=_drift_monitor("scale_lr")))(DRIFT_PARAMS)
    mon = scaled.history["monitor"]
    flags = np.asarray(mon["bias_flag"]).any(axis=1)
    want = 0.5 ** np.cumsum(flags)  # halved at every flagged evaluation
    np.testing.assert_allclose(mon["lr_scale"], want)
    np.testing.assert_array_equal(flags, [False, False, True, True, True, True, True])
    # the output bias moves lr * scale per step: 0.5 per evaluation, then 0.25, 0.125, ...
    np.testing.assert_allclose(np.diff(mon["biases"]["max_abs"][:, 1]), 0.5 * np.r_[1.0, want[1:-1]], rtol=1e-4)
    # drift is contained: every bias ends well below the warn-only run's (output 1.47 vs 2.92, hidden 0.82 vs 4.0)
    assert np.all(mon["biases"]["max_abs"][-1] < 0.6 * warned.history["monitor"]["biases"]["max_abs"][-1])
    # the scale lives in the optimizer state that fit returns
    assert isinstance(scaled.opt_state[-1], monitor.ScaleState)
    np.testing.assert_allclose(scaled.opt_state[-1].scale, want[-1])
    with pytest.warns(monitor.BiasDriftWarning):
        msgs = monitor.check(scaled.history, ["0", "1"])
    assert any("'1'" in msg for msg in msgs)


def test_bias_rate_flag_and_isolation_under_vmap():
    # growth-rate rule only (threshold off), two targets side by side under jit(vmap); per-run flags and
    # LR scales, and the sibling equals training it alone.
    m = monitor.monitor((X[:16], Y_OFF[:16]), bias_rate=0.03, on_bias_drift="scale_lr")

    def run(p, y):
        return train.fit(
            p,
            (X, y),
            key=jax.random.key(2),
            apply_fn=models.mlp_apply,
            loss_fn=MAE,
            optimizer=optax.sgd(0.05),
            steps=40,
            batch_size=16,
            eval_every=10,
            monitor=m,
        )

    ys = jnp.stack([Y_OFF, jnp.zeros((64, 1))])
    r = jax.jit(jax.vmap(run, in_axes=(None, 0)))(DRIFT_PARAMS, ys)
    mon = r.history["monitor"]
    growth = np.diff(np.asarray(mon["biases"]["max_abs"]), axis=1) / 10
    np.testing.assert_array_equal(mon["bias_flag"][:, 1:], growth > 0.03)
    assert not mon["bias_flag"][:, 0].any() and mon["bias_flag"][0].any()
    alone = run(DRIFT_PARAMS, ys[1])
    chex.assert_trees_all_close(jax.tree_util.tree_map(lambda a: a[1], r.params), alone.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mon["lr_scale"][1], alone.history["monitor"]["lr_scale"])
    msgs = monitor.check(r.history, warn=False)
    assert msgs and any("run (0,)" in msg for msg in msgs)


def test_no_false_alarm_on_a_normal_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error", monitor.BiasDriftWarning)
        r = train.fit(
            DRIFT_PARAMS,
            (X, Y_CLS),
            key=jax.random.key(2),
            apply_fn=models.mlp_apply,
            loss_fn=lambda p, y: jnp.mean((p[:, 0] - y) ** 2),
            optimizer=optax.sgd(0.01),
            steps=20,
            batch_size=16,
            eval_every=10,
            monitor=monitor.monitor(PROBE, bias_threshold=5.0, bias_rate=0.1),
        )
    assert not np.any(r.history["monitor"]["bias_flag"])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"on_bias_drift": "panic"}, "on_bias_drift"),
        ({"bias_threshold": -1.0}, "bias_threshold"),
        ({"lr_factor": 1.5}, "lr_factor"),
        ({"saturation": 1.0}, "saturation"),
    ],
)
def test_monitor_rejects_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        monitor.monitor(PROBE, **kwargs)
    with pytest.raises(TypeError, match="probe"):
        monitor.monitor(X)


def test_plot_monitor_writes_a_figure(tmp_path):
    pytest.importorskip("matplotlib")
    acts_fn = functools.partial(models.mlp_apply, return_activations=True)
    r = train.fit(
        DRIFT_PARAMS,
        (X, Y_OFF),
        key=jax.random.key(2),
        apply_fn=models.mlp_apply,
        loss_fn=MAE,
        optimizer=optax.sgd(0.01),
        steps=20,
        batch_size=16,
        eval_every=10,
        monitor=monitor.monitor(PROBE[:1] + (Y_OFF[:16],), activations_fn=acts_fn, on_bias_drift="ignore"),
    )
    path = monitor.plot_monitor(r.history, tmp_path / "monitor.png", names=["0", "1"])
    assert (tmp_path / "monitor.png").stat().st_size > 1000 and path == tmp_path / "monitor.png"
    with pytest.raises(ValueError, match="monitor"):
        monitor.plot_monitor({"step": r.history["step"]}, tmp_path / "x.png")
