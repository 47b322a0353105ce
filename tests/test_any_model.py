"""Bring your own model: the benchmark (Scheme(rules=...)), the regularizers and the monitor on Flax linen,
Haiku and Equinox parameters (issue 13, items 3-4)."""

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import initializers as I
from jaxnn import losses, metrics, models, monitor, regularizers
from jaxnn.bench.program import _layer_weight_grad_norms
from jaxnn.bench.scheme import Scheme, initial_params, seed_keys
from jaxnn.bench.sweep import sweep
from jaxnn.train import fit


class MLP(nn.Module):
    width: int = 32

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(self.width)(x))
        x = nn.LayerNorm()(x)
        return nn.Dense(10)(x)


X = jnp.ones((2, 64))
FLAX = MLP().init(jax.random.key(0), X)


def _eqx_mlp():
    return eqx.nn.MLP(8, 3, 16, 2, key=jax.random.key(1))


# ---------------------------------------------------------------------------------------------- the benchmark


def test_flax_benchmark_ranks_he_ahead_of_zeros():
    ds = jaxnn.datasets.load("digits")
    model = MLP()
    res = sweep(
        init_fn=lambda key: model.init(key, ds.x_train[:1]),
        apply_fn=model.apply,
        loss_fn=losses.categorical_cross_entropy,
        optimizer=optax.sgd(0.05),
        train_data=(ds.x_train, ds.y_train),
        eval_data=(ds.x_test, ds.y_test),
        schemes=[
            Scheme("zeros", rules=jaxnn.rules.standard(I.zeros)),
            Scheme("he", rules=jaxnn.rules.standard(I.he_normal())),
        ],
        seeds=2,
        steps=60,
        batch_size=64,
        eval_every=20,
        target=1.0,
        metric=metrics.accuracy,
    )
    rows = {r["scheme"]: r for r in res.summary}
    assert res.summary[0]["scheme"] == "he"
    assert rows["he"]["auc"] < rows["zeros"]["auc"]
    assert rows["he"]["final_eval_metric"] > 0.7 > rows["zeros"]["final_eval_metric"]
    # step-0 gradient norms: one per Dense kernel (not per leaf): zeros init gives a zero first-layer gradient
    assert res.arrays["grad_norm0"].shape == (2, 2, 2)
    assert np.all(res.arrays["grad_norm0"][0, :, 0] == 0) and np.all(res.arrays["grad_norm0"][1] > 0)


def test_rules_scheme_is_reinit_of_the_models_own_init_with_fold_in_2():
    keys = seed_keys(0, "init", 2)
    rules = jaxnn.rules.standard(I.he_normal())
    got = initial_params(lambda k: MLP().init(k, X), [Scheme("he", rules=rules)], keys)
    for i, k in enumerate(keys):
        want = jaxnn.reinit(jax.random.fold_in(k, 2), MLP().init(k, X), rules)
        jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a[i], b, rtol=1e-6, atol=1e-7), got, want)
    # the LayerNorm scale is left alone: still ones
    assert np.all(got["params"]["LayerNorm_0"]["scale"] == 1)


def test_w_init_scheme_unchanged_bitwise():
    keys = seed_keys(3, "init", 3)
    init_fn = lambda k, *, w_init, b_init: models.mlp_init(k, (8, 16, 3), w_init=w_init, b_init=b_init)
    got = initial_params(init_fn, [Scheme("he", I.he_normal(), I.constant(0.1))], keys)
    want = jax.device_get(jax.vmap(lambda k: init_fn(k, w_init=I.he_normal(), b_init=I.constant(0.1)))(keys))
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_array_equal(a, b), got, want)


@pytest.mark.parametrize(
    "schemes, match",
    [
        ([Scheme("none")], "exactly one of w_init .* neither"),
        ([Scheme("both", I.he_normal(), rules={"kernel": I.zeros})], "exactly one of w_init .* both"),
        ([Scheme("a", I.he_normal()), Scheme("b", rules={"kernel": I.zeros})], "mix w_init and rules"),
    ],
)
def test_scheme_needs_exactly_one_of_w_init_and_rules(schemes, match):
    with pytest.raises(ValueError, match=match):
        sweep(
            init_fn=lambda k: FLAX,
            apply_fn=MLP().apply,
            loss_fn=losses.categorical_cross_entropy,
            optimizer=optax.sgd(0.1),
            train_data=(X, jnp.zeros((2,), jnp.int32)),
            eval_data=(X, jnp.zeros((2,), jnp.int32)),
            schemes=schemes,
            steps=2,
            batch_size=2,
            eval_every=1,
            target=1.0,
        )


def test_grad_norms_fall_back_per_leaf_without_weights():
    g = {"a": jnp.ones(3), "c": jnp.ones(4)}
    np.testing.assert_allclose(_layer_weight_grad_norms(g), [np.sqrt(3), 2.0], rtol=1e-6)


# ---------------------------------------------------------------------------------------------- regularizers


def _sq(leaves):
    return sum(float(jnp.sum(jnp.square(a))) for a in leaves)


def test_l2_on_flax_params_weights_and_biases_separately():
    p = FLAX["params"]
    kernels = [p["Dense_0"]["kernel"], p["Dense_1"]["kernel"]]
    biases = [p["Dense_0"]["bias"], p["Dense_1"]["bias"], p["LayerNorm_0"]["bias"]]
    assert float(regularizers.l2(FLAX, weights=2.0)) == pytest.approx(_sq(kernels), rel=1e-5)
    assert float(regularizers.l2(FLAX, biases=2.0)) == pytest.approx(_sq(biases), rel=1e-5)
    assert float(regularizers.l1(FLAX, weights=1.0)) == pytest.approx(sum(float(jnp.abs(k).sum()) for k in kernels))
    m = regularizers.mask(FLAX)
    assert m["params"]["Dense_0"] == {"kernel": True, "bias": False}
    assert m["params"]["LayerNorm_0"] == {"scale": False, "bias": False}


def test_l2_by_rules_on_flax_params():
    only_head = regularizers.l2(FLAX, weights=2.0, roles={"params/Dense_1/kernel": "weight"})
    assert float(only_head) == pytest.approx(_sq([FLAX["params"]["Dense_1"]["kernel"]]), rel=1e-5)
    with pytest.raises(ValueError, match="'kernel'.*'weight', 'bias' or None"):
        regularizers.l2(FLAX, weights=1.0, roles={"kernel": "kernel"})


def test_regularizers_on_an_equinox_module():
    model = _eqx_mlp()
    weights = [layer.weight for layer in model.layers]
    biases = [layer.bias for layer in model.layers]
    assert float(regularizers.l2(model, weights=2.0, biases=4.0)) == pytest.approx(
        _sq(weights) + 2 * _sq(biases), rel=1e-5
    )
    # weight decay that skips biases, on the array part of the module
    params = eqx.filter(model, eqx.is_array)
    opt = optax.chain(optax.add_decayed_weights(0.5, mask=regularizers.weight_mask), optax.sgd(1.0))
    zero = jax.tree_util.tree_map(jnp.zeros_like, params)
    updates, _ = opt.update(zero, opt.init(params), params)
    assert np.allclose(updates.layers[0].weight, -0.5 * model.layers[0].weight)
    assert np.all(updates.layers[0].bias == 0)


def test_regularizers_on_haiku_params():
    import haiku as hk

    f = hk.without_apply_rng(hk.transform(lambda x: hk.nets.MLP([16, 3])(x)))
    p = f.init(jax.random.key(0), jnp.ones((1, 8)))
    w = [p["mlp/~/linear_0"]["w"], p["mlp/~/linear_1"]["w"]]
    assert float(regularizers.l2(p, weights=2.0)) == pytest.approx(_sq(w), rel=1e-5)


# ---------------------------------------------------------------------------------------------- the monitor


def test_monitor_layers_on_flax_and_equinox():
    names = [n for n, _ in monitor.layers(FLAX)]
    assert names == ["params/Dense_0", "params/Dense_1"]
    assert [n for n, _ in monitor.layers(_eqx_mlp())] == ["layers/0", "layers/1", "layers/2"]
    # jaxnn models keep their own layer order
    p = models.mlp_init(jax.random.key(0), (8, 16, 3))
    assert monitor.layers(p) == models.layers(p)
    by_rule = monitor.layers(FLAX, roles={"params/Dense_0/kernel": "weight", "bias": "bias"})
    assert [n for n, _ in by_rule] == ["params/Dense_0"] and set(by_rule[0][1]) == {"w", "b"}


def test_fit_with_monitor_on_a_flax_model():
    model = MLP()
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(64, 64)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, 64))
    m = monitor.monitor((x[:16], y[:16]), bias_threshold=1e6)
    res = fit(
        FLAX,
        (x, y),
        key=jax.random.key(0),
        apply_fn=model.apply,
        loss_fn=losses.categorical_cross_entropy,
        optimizer=optax.sgd(0.1),
        steps=20,
        batch_size=16,
        eval_every=10,
        monitor=m,
    )
    mon = res.history["monitor"]
    assert mon["weights"]["norm"].shape == (3, 2)
    np.testing.assert_allclose(
        mon["weights"]["norm"][0, 0], jnp.linalg.norm(FLAX["params"]["Dense_0"]["kernel"]), rtol=1e-5
    )
    assert np.all(np.isfinite(mon["bias_grads"]["norm"]))
