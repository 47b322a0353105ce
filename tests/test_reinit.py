"""jaxnn.reinit on plain pytrees and jaxnn models: patterns, rule sets, layouts, path-stable keys, purity, errors.

The framework models (Flax, NNX, Haiku, Equinox) are in tests/test_interop.py.
"""

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import initializers as I
from jaxnn import models, reinit
from jaxnn._reinit import _glob_regex
from jaxnn.rules import biases, embeddings, kernels, scales, standard, with_layout

KEY = jax.random.key(0)


def assert_std(x, expected, z=5.0):
    """Sample std within ``z`` standard errors of ``expected`` (sd of a sample std ~ sigma / sqrt(2 n))."""
    n = x.size
    measured = float(jnp.std(x))
    tol = z * expected / math.sqrt(2 * n)
    assert abs(measured - expected) < tol, f"std {measured:.5f}, expected {expected:.5f} +- {tol:.5f}"
    return measured


# ---------------------------------------------------------------------------------------------- patterns


@pytest.mark.parametrize(
    "pattern, path, hit",
    [
        ("*", "a", True),
        ("*", "a/b", False),  # * stays within a component
        ("a/*", "a/b", True),
        ("a/*", "a/b/c", False),
        ("a/**", "a/b/c", True),
        ("**/w", "w", True),  # **/ also matches no component
        ("**/w", "mlp/~/linear_0/w", True),
        ("**/linear_*/w", "mlp/~/linear_0/w", True),
        ("params/Dense_?/kernel", "params/Dense_0/kernel", True),
        ("params/Dense_?/kernel", "params/Dense_10/kernel", False),
        ("a.b", "axb", False),  # regex characters are literal
        ("layers/*/weight", "layers/0/weight", True),
    ],
)
def test_glob(pattern, path, hit):
    assert bool(_glob_regex(pattern).fullmatch(path)) is hit


def test_pattern_without_slash_matches_the_leaf_name_and_with_slash_the_whole_path():
    params = {"enc": {"w": jnp.ones((4, 4))}, "dec": {"w": jnp.ones((4, 4))}}
    out = reinit(KEY, params, {"w": I.zeros})
    assert not out["enc"]["w"].any() and not out["dec"]["w"].any()
    out = reinit(KEY, params, {"dec/w": I.zeros})
    assert out["enc"]["w"] is params["enc"]["w"] and not out["dec"]["w"].any()
    out = reinit(KEY, params, {"enc": I.zeros, "d*/w": I.zeros})  # "enc" is no leaf's name
    assert out["enc"]["w"] is params["enc"]["w"]


def test_first_match_wins_and_none_leaves_alone():
    params = {"head": {"w": jnp.ones((4, 2))}, "body": {"w": jnp.ones((4, 4))}}
    out = reinit(KEY, params, {"head/w": None, "w": I.zeros})
    assert out["head"]["w"] is params["head"]["w"] and not out["body"]["w"].any()
    out = reinit(KEY, params, {"head/w": I.ones, "w": I.zeros})
    assert (out["head"]["w"] == 1).all() and not out["body"]["w"].any()


def test_rules_as_a_list_and_as_a_callable():
    params = {"head": {"w": jnp.ones((4, 2))}, "body": {"w": jnp.ones((4, 4))}}
    out = reinit(KEY, params, [{"head/w": I.constant(3.0)}, lambda path, leaf: I.zeros])
    assert (out["head"]["w"] == 3).all() and not out["body"]["w"].any()
    seen = []
    reinit(KEY, params, lambda path, leaf: seen.append((path, leaf.shape)) or I.zeros)
    assert sorted(seen) == [("body/w", (4, 4)), ("head/w", (4, 2))]


# ---------------------------------------------------------------------------------------------- structure


class Pair(NamedTuple):
    w: jax.Array
    tag: str


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Layer:
    kernel: jax.Array
    bias: jax.Array


def test_unmatched_and_non_array_leaves_are_the_same_objects_and_containers_keep_their_types():
    fn = jax.nn.relu
    params = {
        "pair": Pair(jnp.ones((3, 3)), "x"),
        "layer": Layer(jnp.ones((5, 4)), jnp.ones(4)),
        "seq": (jnp.ones((2, 2)), [None, 1.5, fn]),
        "count": jnp.array(3, jnp.int32),
    }
    out = reinit(KEY, params, {"kernel": I.zeros})
    assert type(out["pair"]) is Pair and type(out["layer"]) is Layer and type(out["seq"]) is tuple
    assert out["pair"].w is params["pair"].w and out["pair"].tag == "x"
    assert out["layer"].bias is params["layer"].bias and not out["layer"].kernel.any()
    assert out["seq"][0] is params["seq"][0]
    assert out["seq"][1][0] is None and out["seq"][1][1] == 1.5 and out["seq"][1][2] is fn
    assert out["count"] is params["count"]
    assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(params)


def test_paths_join_keys_attributes_and_indices():
    params = {"pair": Pair(jnp.ones((3, 3)), "x"), "layer": Layer(jnp.ones((5, 4)), jnp.ones(4)), "seq": [jnp.ones(2)]}
    seen = []
    reinit(KEY, params, lambda path, leaf: seen.append(path) or I.zeros)
    assert sorted(seen) == ["layer/bias", "layer/kernel", "pair/w", "seq/0"]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_dtypes_are_preserved(dtype):
    params = {"w": jnp.ones((64, 32), dtype), "b": jnp.ones(32, dtype)}
    out = reinit(KEY, params, standard(I.he_normal(), I.constant(0.1)))
    assert out["w"].dtype == dtype and out["b"].dtype == dtype
    assert out["w"].shape == (64, 32) and float(out["b"][0]) == pytest.approx(0.1, rel=1e-2)


def test_sharding_is_preserved():
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("x",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(None, "x"))
    params = {"w": jax.device_put(jnp.ones((8, 4)), sharding)}
    out = reinit(KEY, params, {"w": I.he_normal()})
    assert out["w"].sharding == sharding


# ---------------------------------------------------------------------------------------------- keys, jit, vmap


def test_keys_follow_paths_not_positions():
    small = models.mlp_init(KEY, (16, 32, 8))
    big = models.mlp_init(KEY, (16, 32, 8, 8))  # one more layer at the end
    rules = standard(I.he_normal(), I.normal(0.1))
    a, b = reinit(KEY, small, rules), reinit(KEY, big, rules)
    for layer in (0, 1):
        np.testing.assert_array_equal(a[layer]["w"], b[layer]["w"])
        np.testing.assert_array_equal(a[layer]["b"], b[layer]["b"])
    # a layer inserted before others in a dict (earlier in flatten order) changes none of them
    d = {"dense": {"w": jnp.ones((8, 8))}, "out": {"w": jnp.ones((8, 8))}}
    d2 = {"aaa": {"w": jnp.ones((8, 8))}, **d}
    a, b = reinit(KEY, d, rules), reinit(KEY, d2, rules)
    np.testing.assert_array_equal(a["dense"]["w"], b["dense"]["w"])
    np.testing.assert_array_equal(a["out"]["w"], b["out"]["w"])
    assert not np.array_equal(a["dense"]["w"], a["out"]["w"])  # same shape, different paths: different draws
    c = reinit(jax.random.key(1), d, rules)
    assert not np.array_equal(a["dense"]["w"], c["dense"]["w"])


def test_jit_equals_eager_and_the_key_may_be_traced():
    params = models.mlp_init(KEY, (16, 32, 8))
    rules = standard(I.orthogonal(), I.normal(0.1))
    eager = reinit(KEY, params, rules)
    jitted = jax.jit(lambda k, p: reinit(k, p, rules))(KEY, params)
    for e, j in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
        np.testing.assert_allclose(e, j, rtol=1e-6, atol=1e-6)


def test_vmap_over_keys_equals_a_loop():
    params = models.mlp_init(KEY, (16, 32, 8))
    rules = standard(I.he_normal(), I.normal(0.1))
    keys = jax.random.split(KEY, 3)
    batched = jax.vmap(lambda k: reinit(k, params, rules))(keys)
    for i, k in enumerate(keys):
        one = reinit(k, params, rules)
        for b, o in zip(jax.tree.leaves(batched), jax.tree.leaves(one)):
            np.testing.assert_allclose(b[i], o, rtol=1e-6, atol=1e-6)


def test_raw_uint32_keys_work():
    params = {"w": jnp.ones((4, 4))}
    out = reinit(jax.random.PRNGKey(0), params, {"w": I.he_normal()})
    assert out["w"].shape == (4, 4)


# ---------------------------------------------------------------------------------------------- layouts


def test_jaxnn_mlp_fans():
    params = models.mlp_init(KEY, (784, 100, 10), w_init=I.zeros)
    out = reinit(KEY, params, standard(I.he_normal()))
    assert_std(out[0]["w"], math.sqrt(2 / 784))
    assert out[1]["w"].shape == (100, 10)


def test_torch_layout_puts_the_fans_at_out_in_kernel():
    sd = {"fc.weight": jnp.zeros((100, 784)), "fc.bias": jnp.ones(100), "conv.weight": jnp.zeros((128, 64, 3, 3))}
    out = reinit(KEY, sd, {"*.weight": I.he_normal(), "*.bias": I.zeros}, layout="torch")
    assert_std(out["fc.weight"], math.sqrt(2 / 784))  # not 0.1414 (fan_in = 100)
    assert_std(out["conv.weight"], math.sqrt(2 / (64 * 9)))  # not fans (24576, 24576)
    assert out["conv.weight"].shape == (128, 64, 3, 3) and not out["fc.bias"].any()
    out = reinit(KEY, sd, {"*.weight": I.variance_scaling(2.0, "fan_out", "normal")}, layout="torch")
    assert_std(out["fc.weight"], math.sqrt(2 / 100))
    assert_std(out["conv.weight"], math.sqrt(2 / (128 * 9)))
    # the same leaves read in the jax layout get the other fans: the layout is what decides
    out = reinit(KEY, sd, {"fc.weight": I.he_normal()}, layout="jax")
    assert_std(out["fc.weight"], math.sqrt(2 / 100))


def test_torch_layout_orthogonal_gives_orthonormal_rows():
    out = reinit(KEY, {"weight": jnp.zeros((32, 64))}, {"weight": I.orthogonal()}, layout="torch")["weight"]
    np.testing.assert_allclose(out @ out.T, np.eye(32), atol=1e-5)  # torch's orthogonal_: W W^T = I
    out = reinit(KEY, {"weight": jnp.zeros((8, 4, 3, 3))}, {"weight": I.orthogonal()}, layout="torch")["weight"]
    flat = out.reshape(8, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(8), atol=1e-5)


def test_with_layout_overrides_the_model_layout():
    sd = {"w": jnp.zeros((100, 784))}
    out = reinit(KEY, sd, {"w": with_layout(I.he_normal(), "torch")}, layout="jax")
    assert_std(out["w"], math.sqrt(2 / 784))
    with pytest.raises(ValueError, match="layout='oihw'"):
        with_layout(I.he_normal(), "oihw")


def test_rank_below_two_is_drawn_as_is_in_the_torch_layout():
    out = reinit(KEY, {"b": jnp.zeros(1000), "s": jnp.zeros(())}, {"*": I.normal(1.0)}, layout="torch")
    assert out["b"].shape == (1000,) and out["s"].shape == ()
    assert_std(out["b"], 1.0)


# ---------------------------------------------------------------------------------------------- rule sets


def test_standard_roles():
    params = {
        "Dense_0": {"kernel": jnp.zeros((64, 32)), "bias": jnp.ones(32)},
        "Embed_0": {"embedding": jnp.zeros((50, 16))},
        "LayerNorm_0": {"scale": jnp.full(32, 2.0), "bias": jnp.ones(32)},
        "lin": {"w": jnp.zeros((32, 8)), "b": jnp.ones(8)},
        "ln": {"weight": jnp.full(8, 2.0)},  # torch/Equinox LayerNorm weight: rank 1, not a kernel
        "step": jnp.array(7),
    }
    out = reinit(KEY, params, standard(I.he_normal()))
    assert out["Dense_0"]["kernel"].std() > 0 and out["lin"]["w"].std() > 0
    assert not out["Dense_0"]["bias"].any() and not out["lin"]["b"].any() and not out["LayerNorm_0"]["bias"].any()
    for keep in (("Embed_0", "embedding"), ("LayerNorm_0", "scale"), ("ln", "weight")):
        assert out[keep[0]][keep[1]] is params[keep[0]][keep[1]]
    assert out["step"] is params["step"]
    out = reinit(KEY, params, standard(I.he_normal(), None, embedding_init=I.normal(1.0), scale_init=I.ones))
    assert out["Dense_0"]["bias"] is params["Dense_0"]["bias"]
    assert (out["LayerNorm_0"]["scale"] == 1).all() and (out["ln"]["weight"] == 1).all()
    assert out["Embed_0"]["embedding"].std() > 0.5


def test_embeddings_get_fan_in_dim_in_every_layout():
    table = {"embedding": jnp.zeros((1000, 64))}
    for layout in ("jax", "torch"):
        out = reinit(KEY, table, embeddings(I.lecun_normal()), layout=layout)
        assert_std(out["embedding"], math.sqrt(1 / 64))


def test_single_role_rule_sets():
    params = {"kernel": jnp.zeros((8, 8)), "bias": jnp.zeros(8), "gamma": jnp.zeros(8)}
    assert (reinit(KEY, params, kernels(I.ones))["kernel"] == 1).all()
    assert (reinit(KEY, params, biases(I.ones))["bias"] == 1).all()
    assert (reinit(KEY, params, scales(I.ones))["gamma"] == 1).all()
    for make in (kernels, biases, embeddings, scales):
        with pytest.raises(TypeError, match="init must be an initializer"):
            make(3)


# ---------------------------------------------------------------------------------------------- errors


def _one_line(excinfo):
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value)


def test_bad_layout():
    with pytest.raises(ValueError) as e:
        reinit(KEY, {"w": jnp.ones((2, 2))}, {"w": I.zeros}, layout="OIHW")
    msg = _one_line(e)
    assert "layout='OIHW'" in msg and "'auto'" in msg and "'torch'" in msg


def test_pattern_that_is_not_a_str():
    with pytest.raises(TypeError, match=r"pattern 3 must be a str") as e:
        reinit(KEY, {"w": jnp.ones((2, 2))}, {3: I.zeros})
    _one_line(e)


def test_initializer_that_is_not_callable_names_the_pattern_or_the_path():
    with pytest.raises(TypeError, match=r"rules\['w'\] must be an initializer") as e:
        reinit(KEY, {"w": jnp.ones((2, 2))}, {"w": "he_normal"})
    _one_line(e)
    with pytest.raises(TypeError, match=r"path 'enc/w'.*must be callable") as e:
        reinit(KEY, {"enc": {"w": jnp.ones((2, 2))}}, lambda path, leaf: 0.5)
    _one_line(e)


def test_initializer_with_the_wrong_shape_or_dtype_names_the_path():
    bad_shape = lambda key, shape, dtype=jnp.float32: jnp.zeros((1, *shape), dtype)
    with pytest.raises(ValueError, match=r"path 'enc/w' \(rule 'w'\) returned \(1, 2, 3\)") as e:
        reinit(KEY, {"enc": {"w": jnp.ones((2, 3))}}, {"w": bad_shape})
    _one_line(e)
    bad_dtype = lambda key, shape, dtype=jnp.float32: jnp.zeros(shape, jnp.float16)
    with pytest.raises(ValueError, match=r"path 'w'.*float16.*float32") as e:
        reinit(KEY, {"w": jnp.ones((2, 3))}, {"w": bad_dtype})
    _one_line(e)


def test_initializer_that_fails_names_the_path():
    with pytest.raises(ValueError, match=r"path '0/b' \(rule '\*\*'\)") as e:
        reinit(KEY, models.mlp_init(KEY, (4, 3)), {"**": I.he_normal()})  # rank-1 bias has no fans
    _one_line(e)


def test_rules_that_match_nothing():
    with pytest.raises(ValueError, match=r"no leaf matched.*'0/w'") as e:
        reinit(KEY, models.mlp_init(KEY, (4, 3)), {"kernel": I.zeros})
    _one_line(e)


def test_bad_rules_and_key():
    with pytest.raises(TypeError, match="rules must be"):
        reinit(KEY, {"w": jnp.ones(2)}, "w")
    with pytest.raises(TypeError, match="rules must be"):
        reinit(KEY, {"w": jnp.ones(2)}, [])
    with pytest.raises(TypeError, match="key must be a jax PRNG key"):
        reinit(0, {"w": jnp.ones(2)}, {"w": I.zeros})
