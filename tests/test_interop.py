"""jaxnn.reinit and the Haiku adapter on real Flax linen, Flax NNX, Haiku and Equinox models.

Fans are checked by statistics: the sample std of n draws has sd ~ sigma / sqrt(2 n), so a measured std within
5 of those of the expected one passes and a wrong fan (e.g. 0.1417 for 0.0505) cannot. Run this file as a script
to print the per-framework table of expected vs measured std.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import initializers as I
from jaxnn import models, reinit
from jaxnn.rules import standard

KEY = jax.random.key(0)
D_IN, D_OUT = 784, 100  # dense (in, out)
C_IN, C_OUT, K = 64, 128, 3  # conv channels and kernel size

# (label, initializer, expected std of a dense weight, expected std of a conv weight)
CASES = [
    ("he_normal (fan_in)", I.he_normal(), math.sqrt(2 / D_IN), math.sqrt(2 / (C_IN * K * K))),
    (
        "variance_scaling(2, fan_out)",
        I.variance_scaling(2.0, "fan_out", "normal"),
        math.sqrt(2 / D_OUT),
        math.sqrt(2 / (C_OUT * K * K)),
    ),
]


def _tol(expected, n, z=5.0):
    return z * expected / math.sqrt(2 * n)


# ---------------------------------------------------------------------------------------------- the models


def _flax_linen():
    nn = pytest.importorskip("flax.linen")

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x, img):
            return nn.Dense(D_OUT)(x), nn.Conv(C_OUT, (K, K))(img)

    variables = Net().init(KEY, jnp.ones((1, D_IN)), jnp.ones((1, 8, 8, C_IN)))

    def weights(v):
        return {
            "params/Dense_0/kernel": v["params"]["Dense_0"]["kernel"],
            "params/Conv_0/kernel": v["params"]["Conv_0"]["kernel"],
        }

    return variables, weights


def _flax_nnx():
    nnx = pytest.importorskip("flax.nnx")

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.dense = nnx.Linear(D_IN, D_OUT, rngs=rngs)
            self.conv = nnx.Conv(C_IN, C_OUT, (K, K), rngs=rngs)

    state = nnx.state(Net(nnx.Rngs(0)), nnx.Param)

    def weights(s):
        return {"dense/kernel": s["dense"]["kernel"][...], "conv/kernel": s["conv"]["kernel"][...]}

    return state, weights


def _haiku():
    hk = pytest.importorskip("haiku")

    def forward(x, img):
        return hk.Linear(D_OUT)(x), hk.Conv2D(C_OUT, K)(img)

    params = hk.transform(forward).init(KEY, jnp.ones((1, D_IN)), jnp.ones((1, 8, 8, C_IN)))

    def weights(p):
        return {"linear/w": p["linear"]["w"], "conv2_d/w": p["conv2_d"]["w"]}

    return params, weights


def _equinox():
    eqx = pytest.importorskip("equinox")
    k1, k2 = jax.random.split(KEY)
    model = (eqx.nn.Linear(D_IN, D_OUT, key=k1), eqx.nn.Conv2d(C_IN, C_OUT, K, key=k2))

    def weights(m):
        return {"0/weight": m[0].weight, "1/weight": m[1].weight}

    return model, weights


def _jaxnn():
    params = models.mlp_init(KEY, (D_IN, D_OUT))
    return params, lambda p: {"0/w": p[0]["w"]}


FRAMEWORKS = {
    "Flax linen": _flax_linen,
    "Flax NNX": _flax_nnx,
    "Haiku": _haiku,
    "Equinox": _equinox,
    "jaxnn mlp": _jaxnn,
}


def std_rows(framework):
    """(framework, leaf, shape, initializer, expected std, measured std, tolerance) for each weight and case."""
    params, weights = FRAMEWORKS[framework]()
    rows = []
    for label, init, dense_std, conv_std in CASES:
        new = weights(reinit(KEY, params, standard(init)))
        for leaf, w in new.items():
            expected = conv_std if w.ndim == 4 else dense_std
            rows.append((framework, leaf, tuple(w.shape), label, expected, float(jnp.std(w)), _tol(expected, w.size)))
    return rows


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_fans_per_framework(framework):
    rows = std_rows(framework)
    assert len(rows) == 2 * (1 if framework == "jaxnn mlp" else 2)
    for fw, leaf, shape, label, expected, measured, tol in rows:
        assert abs(measured - expected) < tol, (
            f"{fw} {leaf} {shape} {label}: std {measured:.5f}, expected {expected:.5f}"
        )


# ---------------------------------------------------------------------------------------------- Equinox


def test_equinox_module_types_functions_and_biases():
    eqx = pytest.importorskip("equinox")

    class Net(eqx.Module):
        mlp: eqx.nn.MLP
        conv: eqx.nn.Conv2d
        norm: eqx.nn.LayerNorm

        def __init__(self, key):
            k1, k2 = jax.random.split(key)
            self.mlp = eqx.nn.MLP(16, 4, 32, 2, activation=jax.nn.relu, key=k1)
            self.conv = eqx.nn.Conv2d(3, 8, 3, key=k2)
            self.norm = eqx.nn.LayerNorm(4)

    net = Net(KEY)
    new = reinit(KEY, net, standard(I.he_normal(), I.constant(0.5)))
    assert type(new) is Net and type(new.mlp) is eqx.nn.MLP and type(new.mlp.layers[0]) is eqx.nn.Linear
    assert new.mlp.activation is net.mlp.activation  # function leaves untouched
    assert new.conv.bias.shape == (8, 1, 1) and (new.conv.bias == 0.5).all()
    assert new.norm.weight is net.norm.weight  # rank-1 LayerNorm weight: a scale, left alone
    assert (new.norm.bias == 0.5).all()
    assert new.mlp(jnp.ones(16)).shape == (4,)
    # paths: attribute names and sequence indices
    seen = []
    reinit(KEY, net, lambda path, leaf: seen.append(path) or I.zeros)
    assert "mlp/layers/0/weight" in seen and "conv/weight" in seen and "norm/weight" in seen


def test_equinox_orthogonal_rows_and_filter_jit():
    eqx = pytest.importorskip("equinox")
    lin = eqx.nn.Linear(64, 32, key=KEY)
    new = reinit(KEY, lin, {"weight": I.orthogonal()})
    np.testing.assert_allclose(new.weight @ new.weight.T, np.eye(32), atol=1e-5)  # (out, in): rows orthonormal
    jitted = eqx.filter_jit(lambda k, m: reinit(k, m, {"weight": I.orthogonal()}))(KEY, lin)
    np.testing.assert_allclose(jitted.weight, new.weight, atol=1e-5)


def test_auto_layout_is_per_subtree_and_explicit_layout_overrides():
    eqx = pytest.importorskip("equinox")
    mixed = {"eqx": eqx.nn.Linear(D_IN, D_OUT, key=KEY), "jax": {"w": jnp.zeros((D_IN, D_OUT))}}
    out = reinit(KEY, mixed, {"weight": I.he_normal(), "w": I.he_normal()})
    assert type(out["eqx"]) is eqx.nn.Linear
    for w in (out["eqx"].weight, out["jax"]["w"]):
        assert abs(float(jnp.std(w)) - math.sqrt(2 / D_IN)) < _tol(math.sqrt(2 / D_IN), w.size)
    forced = reinit(KEY, mixed["eqx"], {"weight": I.he_normal()}, layout="jax")  # explicitly wrong: (100, 784)
    assert abs(float(jnp.std(forced.weight)) - math.sqrt(2 / D_OUT)) < _tol(math.sqrt(2 / D_OUT), D_IN * D_OUT)


# ---------------------------------------------------------------------------------------------- Flax


def test_flax_nnx_round_trip_through_update():
    nnx = pytest.importorskip("flax.nnx")

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.layers = nnx.List([nnx.Linear(8, 8, rngs=rngs), nnx.Linear(8, 2, rngs=rngs)])
            self.ln = nnx.LayerNorm(2, rngs=rngs)

    model = Net(nnx.Rngs(0))
    state = nnx.state(model, nnx.Param)
    seen = []
    reinit(KEY, state, lambda path, leaf: seen.append(path) or I.zeros)
    assert reinit(KEY, state, {"**": None}) is state  # all left alone: the same object back
    assert sorted(seen) == [
        "layers/0/bias",
        "layers/0/kernel",
        "layers/1/bias",
        "layers/1/kernel",
        "ln/bias",
        "ln/scale",
    ]
    new_state = reinit(KEY, state, {"layers/1/kernel": I.zeros, "bias": I.ones})
    assert type(new_state) is type(state)
    nnx.update(model, new_state)
    assert not model.layers[1].kernel[...].any() and (model.layers[0].bias[...] == 1).all()
    assert (model.ln.scale[...] == 1).all()


def test_flax_linen_paths_jit_and_batch_stats_untouched():
    nn = pytest.importorskip("flax.linen")

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(16)(x)
            x = nn.BatchNorm(use_running_average=True)(x)
            return nn.Dense(4)(x)

    variables = Net().init(KEY, jnp.ones((1, 8)))
    rules = [{"params/Dense_1/kernel": I.zeros}, standard(I.glorot_uniform())]
    eager = reinit(KEY, variables, rules)
    assert not eager["params"]["Dense_1"]["kernel"].any() and eager["params"]["Dense_0"]["kernel"].std() > 0
    assert eager["batch_stats"]["BatchNorm_0"]["mean"] is variables["batch_stats"]["BatchNorm_0"]["mean"]
    assert eager["params"]["BatchNorm_0"]["scale"] is variables["params"]["BatchNorm_0"]["scale"]
    jitted = jax.jit(lambda k, v: reinit(k, v, rules))(KEY, variables)
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert Net().apply(eager, jnp.ones((1, 8))).shape == (1, 4)


def test_flax_linen_partitioned_boxes_are_not_path_steps():
    nn = pytest.importorskip("flax.linen")
    dense = nn.Dense(4, kernel_init=nn.with_partitioning(nn.initializers.lecun_normal(), (None, "model")))
    variables = dense.init(KEY, jnp.ones((1, 8)))
    out = reinit(KEY, variables, {"params/kernel": I.zeros})
    assert type(out["params"]["kernel"]) is type(variables["params"]["kernel"])
    assert not out["params"]["kernel"].value.any()


def test_path_stable_keys_across_a_flax_model_with_one_more_layer():
    nn = pytest.importorskip("flax.linen")

    def net(widths):
        class Net(nn.Module):
            @nn.compact
            def __call__(self, x):
                for i, w in enumerate(widths):
                    x = nn.Dense(w, name=f"dense{i}")(x)
                return x

        return Net().init(KEY, jnp.ones((1, 8)))

    a = reinit(KEY, net((16, 16)), standard(I.he_normal()))
    b = reinit(KEY, net((16, 16, 16)), standard(I.he_normal()))
    for name in ("dense0", "dense1"):
        np.testing.assert_array_equal(a["params"][name]["kernel"], b["params"][name]["kernel"])


# ---------------------------------------------------------------------------------------------- Haiku


def test_haiku_adapter_and_paths():
    hk = pytest.importorskip("haiku")
    from jaxnn.haiku import w_init

    def forward(x):
        return hk.nets.MLP([D_OUT, 10], w_init=w_init(I.he_normal()), b_init=w_init(I.constant(0.1)))(x)

    t = hk.transform(forward)
    params = t.init(KEY, jnp.ones((1, D_IN)))
    w = params["mlp/~/linear_0"]["w"]
    assert abs(float(jnp.std(w)) - math.sqrt(2 / D_IN)) < _tol(math.sqrt(2 / D_IN), w.size)
    assert jnp.allclose(params["mlp/~/linear_0"]["b"], 0.1)
    assert t.apply(params, None, jnp.ones((1, D_IN))).shape == (1, 10)
    out = reinit(KEY, params, {"mlp/~/linear_1/w": I.zeros})
    assert not out["mlp/~/linear_1"]["w"].any() and out["mlp/~/linear_0"]["w"] is w
    out = reinit(KEY, params, {"**/linear_*/b": I.zeros})
    assert not out["mlp/~/linear_0"]["b"].any() and not out["mlp/~/linear_1"]["b"].any()
    with pytest.raises(TypeError, match="w_init: init must be"):
        w_init(None)


if __name__ == "__main__":
    print("| framework | leaf | shape | initializer | expected std | measured std | 5-sigma tol |")
    print("|---|---|---|---|---|---|---|")
    for fw in FRAMEWORKS:
        for fw_, leaf, shape, label, expected, measured, tol in std_rows(fw):
            print(f"| {fw_} | `{leaf}` | {shape} | {label} | {expected:.4f} | {measured:.4f} | {tol:.4f} |")
