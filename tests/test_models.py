"""Tests for jaxnn.models: shapes, closed-form forward passes, initializer hooks, jit/grad/vmap, dtypes, errors."""

import functools
import importlib.util

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import models

KEY = jax.random.key(0)


def _np_mlp(params, x, act):
    h = np.asarray(x, np.float64)
    for i, layer in enumerate(params):
        h = h @ np.asarray(layer["w"], np.float64) + np.asarray(layer["b"], np.float64)
        if i < len(params) - 1:
            h = act(h)
    return h


# ---------------------------------------------------------------------------------------------- MLP


def test_mlp_init_structure_and_shapes():
    params = models.mlp_init(KEY, (5, 7, 3))
    assert isinstance(params, list) and len(params) == 2
    chex.assert_shape([params[0]["w"], params[0]["b"], params[1]["w"], params[1]["b"]], [(5, 7), (7,), (7, 3), (3,)])
    chex.assert_type([params[0]["w"], params[1]["b"]], jnp.float32)
    np.testing.assert_array_equal(params[0]["b"], 0.0)  # default zeros
    assert not np.allclose(params[0]["w"][:5, :3], params[1]["w"][:5, :3])  # layers get different keys


def test_mlp_default_init_is_he_normal():
    # He et al. 2015: std = sqrt(2 / fan_in); 120k draws -> relative SE of the std ~ 1/sqrt(2N) = 0.2%.
    w = models.mlp_init(KEY, (400, 300))[0]["w"]
    n = w.size
    std = float(jnp.std(w))
    np.testing.assert_allclose(std, np.sqrt(2 / 400), rtol=6 / np.sqrt(2 * n))
    assert abs(float(jnp.mean(w))) < 6 * np.sqrt(2 / 400) / np.sqrt(n)


def test_mlp_init_custom_and_per_layer_initializers():
    params = models.mlp_init(
        KEY,
        (3, 4, 2),
        w_init=[jax.nn.initializers.ones, jax.nn.initializers.constant(2.0)],
        b_init=jax.nn.initializers.constant(0.5),
    )
    np.testing.assert_array_equal(params[0]["w"], 1.0)
    np.testing.assert_array_equal(params[1]["w"], 2.0)
    np.testing.assert_array_equal(params[1]["b"], 0.5)
    with pytest.raises(ValueError, match="w_init has 1 entries"):
        models.mlp_init(KEY, (3, 4, 2), w_init=[jax.nn.initializers.ones])
    with pytest.raises(TypeError, match="w_init"):
        models.mlp_init(KEY, (3, 4, 2), w_init=3.0)


@pytest.mark.parametrize("sizes", [(3,), (3, 0, 2), (3, 2.5), "32", None])
def test_mlp_init_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match="layer_sizes"):
        models.mlp_init(KEY, sizes)


def test_mlp_init_rejects_bad_activation_and_dtype():
    with pytest.raises(ValueError, match="relux"):
        models.mlp_init(KEY, (3, 2), activation="relux")
    with pytest.raises(TypeError, match="dtype"):
        models.mlp_init(KEY, (3, 2), dtype=jnp.int32)


@pytest.mark.parametrize(
    "activation,np_act",
    [
        ("relu", lambda z: np.maximum(z, 0)),
        ("tanh", np.tanh),
        ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
    ],
)
def test_mlp_apply_matches_numpy(activation, np_act):
    params = models.mlp_init(KEY, (4, 6, 5, 3), b_init=jax.nn.initializers.normal(0.3))
    x = jax.random.normal(jax.random.key(1), (7, 4))
    out = models.mlp_apply(params, x, activation=activation)
    np.testing.assert_allclose(out, _np_mlp(params, x, np_act), rtol=1e-5, atol=1e-5)


def test_mlp_apply_return_activations():
    params = models.mlp_init(KEY, (4, 6, 3), b_init=jax.nn.initializers.normal(0.3))
    x = jax.random.normal(jax.random.key(1), (7, 4))
    out, acts = models.mlp_apply(params, x, return_activations=True)
    assert len(acts) == 2 and set(acts[0]) == {"pre", "post"}
    np.testing.assert_allclose(acts[0]["pre"], x @ params[0]["w"] + params[0]["b"], rtol=1e-6)
    np.testing.assert_allclose(acts[0]["post"], jax.nn.relu(acts[0]["pre"]))
    np.testing.assert_array_equal(acts[1]["post"], acts[1]["pre"])  # no activation on the last layer
    np.testing.assert_array_equal(out, acts[1]["pre"])


def test_mlp_apply_any_leading_batch_shape_and_callable_activation():
    params = models.mlp_init(KEY, (4, 3))
    x = jnp.ones((2, 5, 4))
    chex.assert_shape(models.mlp_apply(params, x), (2, 5, 3))
    chex.assert_shape(models.mlp_apply(params, x[0, 0]), (3,))
    out = models.mlp_apply(models.mlp_init(KEY, (4, 5, 3)), x, activation=jax.nn.gelu)
    chex.assert_tree_all_finite(out)


def test_mlp_apply_rejects_bad_input():
    params = models.mlp_init(KEY, (4, 3))
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        models.mlp_apply(params, jnp.ones((2, 5)))
    with pytest.raises(TypeError, match="floating"):
        models.mlp_apply(params, jnp.ones((2, 4), jnp.int32))
    with pytest.raises(TypeError, match="params"):
        models.mlp_apply({"w": 1}, jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="activation"):
        models.mlp_apply(params, jnp.ones((2, 4)), activation="nope")


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_mlp_dtype_preserved(dtype):
    params = models.mlp_init(KEY, (4, 8, 3), dtype=dtype)
    chex.assert_type(jax.tree_util.tree_leaves(params), dtype)
    out = models.mlp_apply(params, jnp.ones((2, 4), dtype))
    chex.assert_type(out, dtype)


class TestTransforms(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_apply_under_jit_and_grad(self):
        params = models.mlp_init(KEY, (4, 6, 3))
        x = jax.random.normal(jax.random.key(1), (5, 4))
        apply = self.variant(functools.partial(models.mlp_apply, activation="tanh"))
        np.testing.assert_allclose(apply(params, x), _np_mlp(params, x, np.tanh), rtol=1e-5, atol=1e-5)

        def loss(p):
            return jnp.sum(models.mlp_apply(p, x, activation="tanh") ** 2)

        g = self.variant(jax.grad(loss))(params)
        # directional derivative check against central differences in float64 numpy
        d = jax.tree_util.tree_map(lambda a: jnp.ones_like(a) * 1e-3, params)
        plus = jax.tree_util.tree_map(lambda a, b: a + b, params, d)
        minus = jax.tree_util.tree_map(lambda a, b: a - b, params, d)
        fd = (np.sum(_np_mlp(plus, x, np.tanh) ** 2) - np.sum(_np_mlp(minus, x, np.tanh) ** 2)) / 2
        analytic = sum(
            float(jnp.sum(a * b)) for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(d))
        )
        np.testing.assert_allclose(analytic, fd, rtol=1e-3)


def test_vmap_over_stacked_params_matches_loop():
    keys = jax.random.split(KEY, 3)
    stacked = jax.vmap(lambda k: models.mlp_init(k, (4, 6, 3)))(keys)
    x = jax.random.normal(jax.random.key(1), (5, 4))
    out = jax.jit(jax.vmap(models.mlp_apply, in_axes=(0, None)))(stacked, x)
    for i, k in enumerate(keys):
        np.testing.assert_allclose(out[i], models.mlp_apply(models.mlp_init(k, (4, 6, 3)), x), rtol=1e-5, atol=1e-6)


def test_layers_names_and_order():
    assert [n for n, _ in models.layers(models.mlp_init(KEY, (3, 4, 2)))] == ["0", "1"]
    rp = models.resmlp_init(KEY, 3, 4, 2, 2)
    names = ["input", "blocks/0/0", "blocks/0/1", "blocks/1/0", "blocks/1/1", "output"]
    assert [n for n, _ in models.layers(rp)] == names
    rebuilt = jax.tree_util.tree_map(lambda a: a, rp)  # jax re-sorts dict keys; order must not change
    assert [n for n, _ in models.layers(rebuilt)] == names


# ---------------------------------------------------------------------------------------------- conv


def _np_conv_same(x, w):
    """Cross-correlation, stride 1, SAME padding (odd kernels), NHWC x HWIO, in float64."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    kh, kw = w.shape[:2]
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    n, h, wd, _ = x.shape
    out = np.zeros((n, h, wd, w.shape[3]))
    for i in range(h):
        for j in range(wd):
            out[:, i, j, :] = np.einsum("nabc,abcd->nd", xp[:, i : i + kh, j : j + kw, :], w)
    return out


def test_conv_init_shapes():
    params = models.conv_init(KEY, channels=(4, 6), hidden=(12,), num_classes=10)
    shapes = [(p["w"].shape, p["b"].shape) for p in params]
    assert shapes == [((3, 3, 1, 4), (4,)), ((3, 3, 4, 6), (6,)), ((384, 12), (12,)), ((12, 10), (10,))]


def test_conv_apply_matches_numpy_and_accepts_flat_and_image_inputs():
    params = models.conv_init(
        KEY, in_channels=2, channels=(3,), image_size=4, num_classes=5, b_init=jax.nn.initializers.normal(0.2)
    )
    x_img = jax.random.normal(jax.random.key(1), (2, 4, 4, 2))
    out, acts = models.conv_apply(params, x_img, return_activations=True)
    z0 = _np_conv_same(x_img, params[0]["w"]) + np.asarray(params[0]["b"])
    np.testing.assert_allclose(acts[0]["pre"], z0, rtol=1e-5, atol=1e-5)
    flat = np.maximum(z0, 0).reshape(2, -1)
    np.testing.assert_allclose(
        out, flat @ np.asarray(params[1]["w"]) + np.asarray(params[1]["b"]), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(models.conv_apply(params, x_img.reshape(2, 32)), out, rtol=1e-6)
    with pytest.raises(ValueError, match="image_shape"):
        models.conv_apply(params, jnp.ones((2, 30)))
    with pytest.raises(ValueError, match="channels"):
        models.conv_apply(params, jnp.ones((2, 4, 4, 3)))


def test_conv_with_delta_orthogonal_is_identity_like_and_trains():
    # delta-orthogonal (Xiao et al. 2018) with c_in == c_out and no bias: the conv preserves the input norm
    # of every pixel vector exactly (orthogonal centre tap, zeros elsewhere).
    params = models.conv_init(
        KEY,
        in_channels=4,
        channels=(4,),
        image_size=5,
        num_classes=3,
        w_init=jax.nn.initializers.delta_orthogonal(),
        dense_w_init=jax.nn.initializers.glorot_normal(),
    )
    x = jax.random.normal(jax.random.key(1), (3, 5, 5, 4))
    _, acts = models.conv_apply(params, x, return_activations=True)
    np.testing.assert_allclose(jnp.linalg.norm(acts[0]["pre"], axis=-1), jnp.linalg.norm(x, axis=-1), rtol=1e-5)

    # a few SGD steps on 8x8 images reduce the loss
    params = models.conv_init(
        KEY,
        channels=(4, 8),
        w_init=jax.nn.initializers.delta_orthogonal(),
        dense_w_init=jax.nn.initializers.he_normal(),
    )
    xs = jax.random.normal(jax.random.key(2), (32, 64))
    ys = (xs[:, :32].sum(1) > xs[:, 32:].sum(1)).astype(jnp.int32)

    def loss(p):
        return optax.softmax_cross_entropy_with_integer_labels(models.conv_apply(p, xs), ys).mean()

    opt = optax.sgd(0.05)

    @jax.jit
    def train(p):
        def step(_, carry):
            p, s = carry
            u, s = opt.update(jax.grad(loss)(p), s)
            return optax.apply_updates(p, u), s

        return loss(p), loss(jax.lax.fori_loop(0, 20, step, (p, opt.init(p)))[0])

    l0, l20 = train(params)
    assert l20 < 0.7 * l0


def test_conv_vmap_over_params():
    keys = jax.random.split(KEY, 2)
    stacked = jax.vmap(lambda k: models.conv_init(k, channels=(2,), num_classes=3))(keys)
    x = jax.random.normal(jax.random.key(1), (4, 64))
    out = jax.jit(jax.vmap(models.conv_apply, in_axes=(0, None)))(stacked, x)
    np.testing.assert_allclose(
        out[1], models.conv_apply(models.conv_init(keys[1], channels=(2,), num_classes=3), x), rtol=1e-5, atol=1e-6
    )


# ---------------------------------------------------------------------------------------------- ResMLP


def test_resmlp_structure():
    p = models.resmlp_init(KEY, 5, 8, 3, 2, branch_depth=3)
    assert set(p) == {"input", "blocks", "output"}
    assert len(p["blocks"]) == 3 and all(len(b) == 3 for b in p["blocks"])
    chex.assert_shape([p["input"]["w"], p["blocks"][2][-1]["w"], p["output"]["w"]], [(5, 8), (8, 8), (8, 2)])
    assert models.resmlp_init(KEY, 5, 8, 0, 2)["blocks"] == []
    with pytest.raises(ValueError, match="width"):
        models.resmlp_init(KEY, 5, 0, 3, 2)


def test_resmlp_apply_matches_numpy():
    p = models.resmlp_init(KEY, 4, 6, 2, 3, b_init=jax.nn.initializers.normal(0.1))
    x = jax.random.normal(jax.random.key(1), (5, 4))
    relu = lambda z: np.maximum(z, 0)
    f64 = lambda a: np.asarray(a, np.float64)
    h = relu(f64(x) @ f64(p["input"]["w"]) + f64(p["input"]["b"]))
    for block in p["blocks"]:
        u = relu(h @ f64(block[0]["w"]) + f64(block[0]["b"]))
        h = h + u @ f64(block[1]["w"]) + f64(block[1]["b"])
    want = h @ f64(p["output"]["w"]) + f64(p["output"]["b"])
    out, acts = models.resmlp_apply(p, x, return_activations=True)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    assert len(acts) == 1 + 2 * 2 + 1


def test_resmlp_zero_branch_ends_give_identity_blocks():
    # Fixup / ZerO address params["blocks"][i][-1]: zeroing it makes every block the identity
    p = models.resmlp_init(KEY, 4, 6, 3, 2)
    p0 = {**p, "blocks": [[*b[:-1], jax.tree_util.tree_map(jnp.zeros_like, b[-1])] for b in p["blocks"]]}
    x = jax.random.normal(jax.random.key(1), (5, 4))
    no_blocks = {**p, "blocks": []}
    np.testing.assert_allclose(models.resmlp_apply(p0, x), models.resmlp_apply(no_blocks, x), rtol=1e-6)


def test_resmlp_grad_and_vmap():
    keys = jax.random.split(KEY, 2)
    stacked = jax.vmap(lambda k: models.resmlp_init(k, 4, 6, 2, 3))(keys)
    x = jax.random.normal(jax.random.key(1), (5, 4))
    out = jax.jit(jax.vmap(lambda p: models.resmlp_apply(p, x, activation="tanh")))(stacked)
    np.testing.assert_allclose(
        out[0], models.resmlp_apply(models.resmlp_init(keys[0], 4, 6, 2, 3), x, activation="tanh"), rtol=1e-5, atol=1e-6
    )
    g = jax.jit(jax.grad(lambda p: jnp.sum(models.resmlp_apply(p, x) ** 2)))(models.resmlp_init(KEY, 4, 6, 2, 3))
    chex.assert_tree_all_finite(g)


# ---------------------------------------------------------------------------------------------- jaxnn siblings


@pytest.mark.skipif(importlib.util.find_spec("jaxnn.initializers") is None, reason="jaxnn.initializers not there yet")
@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "lecun_normal", "orthogonal", "torch_linear_default"])
def test_models_accept_jaxnn_initializers(name):
    from jaxnn import initializers

    init = initializers.get(name)()
    params = models.mlp_init(KEY, (6, 8, 3), w_init=init)
    chex.assert_tree_all_finite(models.mlp_apply(params, jnp.ones((2, 6))))
    params = models.mlp_init(KEY, (6, 8, 3), w_init=name)  # by name too
    chex.assert_tree_all_finite(models.mlp_apply(params, jnp.ones((2, 6))))


@pytest.mark.skipif(importlib.util.find_spec("jaxnn.initializers") is None, reason="jaxnn.initializers not there yet")
def test_conv_accepts_jaxnn_conv_initializers():
    from jaxnn import initializers

    for conv_init in (initializers.delta_orthogonal(), initializers.dirac()):
        p = models.conv_init(KEY, channels=(2, 4), w_init=conv_init, dense_w_init=initializers.he_normal())
        chex.assert_tree_all_finite(models.conv_apply(p, jnp.ones((2, 64))))
