"""Diagnostics and LSUV on any model: layers found by tracing a plain apply_fn(params, x) (jaxnn/_trace.py)."""

import functools

import equinox as eqx
import flax.linen as nn
import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import diagnostics, models, schemes
from jaxnn import initializers as I
from jaxnn._trace import has_return_activations, trace_layers


class FlaxMLP(nn.Module):
    widths: tuple
    act: str = "relu"
    kernel_init: object = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x):
        phi = {"relu": nn.relu, "tanh": nn.tanh}[self.act]
        for w in self.widths[:-1]:
            x = phi(nn.Dense(w, kernel_init=self.kernel_init)(x))
        return nn.Dense(self.widths[-1], kernel_init=self.kernel_init)(x)


def _x(shape=(256, 64), seed=1):
    return jax.random.normal(jax.random.key(seed), shape)


def test_signal_propagation_flax_relu_he_flat_glorot_vanishing():
    x = _x()
    moments = {}
    for name, init in (("he", I.he_normal()), ("glorot", I.glorot_normal())):
        model = FlaxMLP((64,) * 19 + (10,), "relu", init)
        params = model.init(jax.random.key(0), x)
        r = diagnostics.signal_propagation(
            params, lambda p, x: model.apply(p, x), x, jax.random.key(2), jacobian="none"
        )
        assert r.num_layers == 20
        assert r.layer_names[0] == "params/Dense_0/kernel" and r.layer_names[-1] == "params/Dense_19/kernel"
        assert r.activation == "relu"
        assert np.all(np.isfinite(r.grad_moment)) and np.all(r.grad_moment > 0)
        moments[name] = r.pre_moment
    he, gl = moments["he"], moments["glorot"]
    # He: E[z^2] stays O(1) over 19 hidden layers; Glorot + ReLU halves it per layer: ~2^-18 ~ 4e-6
    assert 0.2 < he[-2] / he[0] < 5, he
    assert gl[-2] / gl[0] < 1e-4, gl
    assert np.all(np.diff(np.log(gl[:-1])) < 0), gl


def test_traced_backward_moments_match_explicit_path():
    x = _x((64, 16))
    params = models.mlp_init(jax.random.key(0), [16, 32, 32, 32, 4])
    key = jax.random.key(3)
    explicit = diagnostics.layer_moments(params, models.mlp_apply, x, key)
    traced = diagnostics.layer_moments(params, lambda p, x: models.mlp_apply(p, x), x, key)
    for k in ("pre", "post", "grad"):
        np.testing.assert_allclose(traced[k], explicit[k], rtol=1e-5)


def test_traced_layers_of_jaxnn_mlp_equal_return_activations():
    x = _x((32, 16))
    params = models.mlp_init(jax.random.key(0), [16, 32, 32, 4])
    apply = functools.partial(models.mlp_apply, activation="tanh")
    traced = trace_layers(lambda p, x: apply(p, x), params, x)
    assert [layer.path for layer in traced.layers] == ["0/w", "1/w", "2/w"]
    assert [layer.activation for layer in traced.layers] == ["tanh", "tanh", None]
    out, acts = traced(params, x, return_activations=True)
    ref_out, ref_acts = apply(params, x, return_activations=True)
    np.testing.assert_array_equal(out, ref_out)
    for a, b in zip(acts, ref_acts):
        np.testing.assert_array_equal(a["pre"], b["pre"])
        np.testing.assert_array_equal(a["post"], b["post"])
    assert has_return_activations(apply, params, x)
    assert not has_return_activations(lambda p, x: apply(p, x), params, x)


def test_lsuv_flax_tanh_unit_variance_at_every_dense():
    x = _x((512, 32))
    model = FlaxMLP((64, 64, 64, 64, 10), "tanh")
    params = model.init(jax.random.key(0), x)
    params = jax.tree.map(lambda p: p + 0.3 if p.ndim == 1 else p, params)  # non-zero biases: the loop matters
    apply = lambda p, x: model.apply(p, x)
    new = schemes.lsuv(jax.random.key(1), params, apply, x, tol=0.02, max_iters=20)
    _, acts = trace_layers(apply, new, x)(new, x, return_activations=True)
    var = np.array([float(jnp.var(a["pre"])) for a in acts])
    assert len(var) == 5 and np.all(np.abs(var - 1) < 0.02), var
    # biases kept; kernels redrawn orthogonal then rescaled
    np.testing.assert_array_equal(new["params"]["Dense_2"]["bias"], params["params"]["Dense_2"]["bias"])
    k = np.asarray(new["params"]["Dense_1"]["kernel"])
    gram = k.T @ k
    np.testing.assert_allclose(gram / gram[0, 0], np.eye(64), atol=1e-4)  # a scaled orthogonal matrix
    # jit-able with apply_fn static
    jitted = jax.jit(schemes.lsuv, static_argnames=("apply_fn", "tol", "max_iters"))
    again = jitted(jax.random.key(1), params, apply, x, tol=0.02, max_iters=20)
    np.testing.assert_allclose(again["params"]["Dense_1"]["kernel"], k, rtol=1e-5, atol=1e-6)


def test_equinox_mlp_layers_and_lsuv():
    x = _x((128, 8))
    mlp = eqx.nn.MLP(8, 3, 16, depth=3, activation=jax.nn.relu, key=jax.random.key(0))
    apply = lambda m, x: jax.vmap(m)(x)
    traced = trace_layers(apply, mlp, x)
    assert [layer.path for layer in traced.layers] == [f"layers/{i}/weight" for i in range(4)]
    assert [layer.pre_shape for layer in traced.layers] == [(128, 16)] * 3 + [(128, 3)]  # units last
    new = schemes.lsuv(jax.random.key(1), mlp, apply, x, tol=0.05)
    assert type(new) is type(mlp)
    _, acts = traced(new, x, return_activations=True)
    var = np.array([float(jnp.var(a["pre"])) for a in acts])
    assert np.all(np.abs(var - 1) < 0.05), var
    r = diagnostics.signal_propagation(mlp, apply, x, jax.random.key(2))  # exact Jacobian: 3 x 8
    assert r.jacobian_method == "exact" and r.jacobian_sv.shape == (4, 3)
    assert r.layer_names == tuple(f"layers/{i}/weight" for i in range(4)) and r.activation == "relu"


def test_haiku_mlp_layers():
    x = _x((64, 8))
    f = hk.without_apply_rng(hk.transform(lambda x: hk.nets.MLP([16, 16, 3], activation=jax.nn.gelu)(x)))
    params = f.init(jax.random.key(0), x)
    traced = trace_layers(f.apply, params, x)
    assert [layer.path for layer in traced.layers] == [f"mlp/~/linear_{i}/w" for i in range(3)]
    out, acts = traced(params, x, return_activations=True)
    np.testing.assert_allclose(out, f.apply(params, x), rtol=1e-6)
    np.testing.assert_allclose(acts[0]["post"], jax.nn.gelu(acts[0]["pre"]), rtol=1e-5, atol=1e-6)
    new = schemes.lsuv(jax.random.key(1), params, f.apply, x)
    _, acts = traced(new, x, return_activations=True)
    assert all(abs(float(jnp.var(a["pre"])) - 1) < 0.1 for a in acts)


def test_flax_cnn_conv_layers():
    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(8, (3, 3))(x))
            x = nn.avg_pool(x, (2, 2), (2, 2))
            return nn.Dense(10)(x.reshape(x.shape[0], -1))

    x = _x((16, 8, 8, 1))
    model = CNN()
    params = model.init(jax.random.key(0), x)
    traced = trace_layers(lambda p, x: model.apply(p, x), params, x)
    assert [(layer.path, layer.primitive) for layer in traced.layers] == [
        ("params/Conv_0/kernel", "conv_general_dilated"),
        ("params/Dense_0/kernel", "dot_general"),
    ]
    assert traced.layers[0].activation == "relu"


def test_shared_weight_and_no_contraction():
    # one Dense applied twice: two layers with the same path; fine for diagnostics, refused by lsuv
    class Twice(nn.Module):
        @nn.compact
        def __call__(self, x):
            d = nn.Dense(16)
            return d(nn.tanh(d(x)))

    x = _x((64, 16))
    model = Twice()
    params = model.init(jax.random.key(0), x)
    apply = lambda p, x: model.apply(p, x)
    assert [layer.path for layer in trace_layers(apply, params, x).layers] == ["params/Dense_0/kernel"] * 2
    r = diagnostics.signal_propagation(params, apply, x, jax.random.key(1), jacobian="none")
    assert r.num_layers == 2
    with pytest.raises(ValueError, match="params/Dense_0/kernel.*feeds layers 0 and 1"):
        schemes.lsuv(jax.random.key(1), params, apply, x)
    # no parameter contraction (elementwise model; data x data products are not layers)
    with pytest.raises(ValueError, match="found no dense/conv layer"):
        trace_layers(lambda p, x: jnp.tanh(x * p["s"]) @ x.T, {"s": jnp.ones(16)}, x)
