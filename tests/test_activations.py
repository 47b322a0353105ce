"""Tests for jaxnn.activations: lookup, the gain table, numerical gains."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import activations


@pytest.mark.parametrize(
    "name, fn",
    [
        ("relu", jax.nn.relu),
        ("tanh", jax.nn.tanh),
        ("sigmoid", jax.nn.sigmoid),
        ("gelu", jax.nn.gelu),
        ("selu", jax.nn.selu),
        ("silu", jax.nn.silu),
        ("swish", jax.nn.silu),
        ("elu", jax.nn.elu),
        ("softplus", jax.nn.softplus),
        ("leaky_relu", jax.nn.leaky_relu),
        ("linear", jax.nn.identity),
        ("identity", jax.nn.identity),
        ("ReLU", jax.nn.relu),
    ],
)
def test_get_returns_jax_nn_function(name, fn):
    assert activations.get(name) is fn


def test_get_unknown_lists_valid_names():
    with pytest.raises(ValueError, match=r"relu.*") as err:
        activations.get("relux")
    msg = str(err.value)
    assert "'relux'" in msg
    for name in activations.names():
        assert name in msg


@pytest.mark.parametrize(
    "name, param, expected",
    [
        ("linear", None, 1.0),
        ("identity", None, 1.0),
        ("sigmoid", None, 1.0),
        ("tanh", None, 5.0 / 3.0),
        ("relu", None, math.sqrt(2.0)),
        ("leaky_relu", None, math.sqrt(2.0 / (1.0 + 0.01**2))),
        ("leaky_relu", 0.2, math.sqrt(2.0 / 1.04)),
        ("selu", None, 0.75),
    ],
)
def test_gain_matches_torch_table(name, param, expected):
    assert activations.gain(name, param) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "name, fn",
    [
        ("gelu", jax.nn.gelu),
        ("silu", jax.nn.silu),
        ("swish", jax.nn.silu),
        ("elu", jax.nn.elu),
        ("softplus", jax.nn.softplus),
    ],
)
def test_quadrature_gains_match_numerical_gain_of_jax_function(name, fn):
    # Stored constants (float64 numpy formulas) vs the jax.nn function evaluated in float32.
    assert activations.gain(name) == pytest.approx(activations.numerical_gain(fn), rel=1e-6)


@pytest.mark.parametrize(
    "fn, expected",
    [
        (jax.nn.relu, 1.4142),
        (jax.nn.tanh, 1.5925),
        (jax.nn.gelu, 1.5335),
        (jax.nn.silu, 1.6765),
        (jax.nn.selu, 1.0000),
        (jax.nn.sigmoid, 1.8462),
    ],
)
def test_numerical_gain_matches_reference_values(fn, expected):
    assert activations.numerical_gain(fn) == pytest.approx(expected, abs=1e-4)


def test_numerical_gain_closed_forms():
    assert activations.numerical_gain(lambda z: z) == pytest.approx(1.0, rel=1e-12)
    assert activations.numerical_gain(lambda z: np.maximum(z, 0)) == pytest.approx(math.sqrt(2), rel=1e-12)
    a = 0.3
    leaky = lambda z: np.where(z > 0, z, a * z)
    assert activations.numerical_gain(leaky) == pytest.approx(math.sqrt(2 / (1 + a * a)), rel=1e-12)
    # E[z^4] = 3 -> gain 1/sqrt(3)
    assert activations.numerical_gain(lambda z: z**2) == pytest.approx(1 / math.sqrt(3), rel=1e-12)


def test_numerical_gain_against_monte_carlo():
    z = jax.random.normal(jax.random.key(0), (400_000,))
    second = jnp.mean(jax.nn.gelu(z) ** 2)
    se = jnp.std(jax.nn.gelu(z) ** 2) / math.sqrt(z.size)
    mc_gain = 1 / math.sqrt(float(second))
    # delta method: d gain / d m = -gain^3 / 2
    tol = 6 * float(se) * mc_gain**3 / 2
    assert abs(activations.numerical_gain(jax.nn.gelu) - mc_gain) < tol


def test_elu_param_is_computed_numerically():
    assert activations.gain("elu", 1.0) == activations.gain("elu")
    g = activations.gain("elu", 0.5)
    expected = activations.numerical_gain(lambda z: jax.nn.elu(z, alpha=0.5))
    assert g == pytest.approx(expected, rel=1e-6)
    assert g != pytest.approx(activations.gain("elu"), rel=1e-3)


@pytest.mark.parametrize("name", ["tanh", "gelu", "silu", "relu", "softplus"])
def test_gain_preserves_second_moment_through_a_layer(name):
    """With Var(W) = gain^2 / fan_in and z ~ N(0,1): E[(phi(z) W)^2] = 1."""
    fan_in, width, batch = 512, 512, 256
    g = activations.numerical_gain(activations.get(name))
    kz, kw = jax.random.split(jax.random.key(1))
    z = jax.random.normal(kz, (batch, fan_in))
    w = jax.random.normal(kw, (fan_in, width)) * g / math.sqrt(fan_in)
    nxt = activations.get(name)(z) @ w
    second = float(jnp.mean(nxt**2))
    # ~batch*width samples but correlated through shared z rows: tolerance from batch only
    assert abs(second - 1.0) < 6 * math.sqrt(2.0 / batch) * 0.5, second


def test_gain_bad_inputs():
    with pytest.raises(ValueError, match="param"):
        activations.gain("relu", 0.1)
    with pytest.raises(ValueError, match="param"):
        activations.gain("leaky_relu", float("nan"))
    with pytest.raises(ValueError, match="unknown activation"):
        activations.gain("mish")
    with pytest.raises(TypeError, match="callable"):
        activations.numerical_gain(3.0)
    with pytest.raises(ValueError, match="degree"):
        activations.numerical_gain(jax.nn.relu, degree=1000)
    with pytest.raises(ValueError, match="E\\[fn\\(z\\)\\^2\\]"):
        activations.numerical_gain(lambda z: 0 * z)
    with pytest.raises(ValueError, match="elementwise"):
        activations.numerical_gain(lambda z: np.sum(z))
