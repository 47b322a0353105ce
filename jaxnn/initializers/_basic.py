"""Constants and biases (``zeros``, ``ones``, ``constant``, ``prior_bias``) and the plain distributions
(``normal``, ``uniform``, ``truncated_normal``, torch's ``trunc_normal``), with their samplers.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn._util import Initializer
from jaxnn.initializers._checks import _NORMAL_LIMIT, _check_fits, _check_fits_build, _check_real
from jaxnn.initializers._draw import _constant_initializer, _random_initializer, _Recorded, _recorded
from jaxnn.initializers._fans import _truncnorm_moments


def _sample_normal(key, shape, cdtype, static, std, mean):
    return jax.random.normal(key, shape, cdtype) * std + mean


def _sample_uniform(key, shape, cdtype, static, minval, maxval):
    return jax.random.uniform(key, shape, cdtype, minval, maxval)


def _sample_symmetric_uniform(key, shape, cdtype, static, bound):
    return jax.random.uniform(key, shape, cdtype, -1.0, 1.0) * bound


def _sample_trunc_normal(key, shape, cdtype, static, std, mean, a, b):
    """torch's ``trunc_normal_``: ``mean + std * Z``, ``Z ~ N(0, 1)`` on ``(lo, hi) = ((a - mean) / std,
    (b - mean) / std)`` by the inverse CDF (as torch and jax), with the uniform kept off the interval's lower end
    (so wide bounds never give erfinv(-1) = -inf, clipped to the bound), then clipped to ``[a, b]``."""
    lo, hi = static
    sqrt2 = np.sqrt(2).astype(cdtype)
    ea, eb = jax.lax.erf(jnp.asarray(lo / np.sqrt(2), cdtype)), jax.lax.erf(jnp.asarray(hi / np.sqrt(2), cdtype))
    u = jax.random.uniform(key, shape, cdtype, ea, eb)
    u = jnp.maximum(u, jnp.nextafter(ea, jnp.asarray(np.inf, cdtype)))
    z = jnp.clip(sqrt2 * jax.lax.erf_inv(u), lo, hi)
    return jnp.clip(z * std + mean, a, b)


def _tail_safe_std(lower: float, upper: float) -> float:
    """Std of N(0, 1) on (lower, upper); 0.0 when the interval's mass underflows."""
    try:
        return _truncnorm_moments(lower, upper)[1]
    except ZeroDivisionError:
        return 0.0


def _sample_truncated_normal(key, shape, cdtype, static, scale, mean):
    lower, upper = static
    return jax.random.truncated_normal(key, lower, upper, shape, cdtype) * scale + mean


_zeros = _constant_initializer(lambda s, d: jnp.zeros(s, d), "zeros")
_zeros.__doc__ = """Initializer ``zeros(key, shape, dtype=float32)``: all zeros (key ignored).

The usual bias initializer (Keras, Flax). Any dtype is accepted."""


_ones = _constant_initializer(lambda s, d: jnp.ones(s, d), "ones")
_ones.__doc__ = """Initializer ``ones(key, shape, dtype=float32)``: all ones (key ignored).

E.g. a normalization scale. Any dtype is accepted."""
zeros = _Recorded(_zeros, "zeros")
ones = _Recorded(_ones, "ones")


@_recorded("constant")
def constant(value: Any) -> Initializer:
    """Factory: an initializer filling ``shape`` with ``value`` (key ignored).

    ``value`` is a scalar or an array broadcastable to the requested shape (the
    broadcast is checked, never silent for a mismatching shape). A bias set to a
    constant fixes the neuron's baseline output; see :func:`prior_bias`.
    NaN or infinite values are refused (``ValueError``), and so is a value the
    requested dtype cannot hold (``constant(1e39)`` in float32: when built,
    unless ``jax_enable_x64`` makes float64 possible; ``constant(1e5)`` in
    float16: when called).
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"constant: value must be numeric, got value={value!r}.")
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.number)):
        raise TypeError(f"constant: value must be numeric, got value={value!r}.")
    if not np.all(np.isfinite(arr)):
        got = f"value={arr.item()!r}" if arr.ndim == 0 else f"{np.sum(~np.isfinite(arr))} NaN/inf entries in value"
        raise ValueError(f"constant: value must be finite, got {got}.")
    largest = float(np.max(np.abs(arr))) if arr.size else 0.0
    what = f"value={arr.item()!r}" if arr.ndim == 0 else f"value (largest |entry| {largest:.7g})"
    _check_fits_build(largest, what, "constant")

    def fill(shape, dtype):
        try:
            np.broadcast_shapes(arr.shape, shape)
            if np.broadcast_shapes(arr.shape, shape) != tuple(shape):
                raise ValueError
        except ValueError:
            raise ValueError(
                f"constant: value of shape {arr.shape} does not broadcast to shape={tuple(shape)}."
            ) from None
        _check_fits(largest, what, "constant", np.dtype(dtype))
        return jnp.broadcast_to(jnp.asarray(arr, dtype), shape)

    return _constant_initializer(fill, "constant")


@_recorded("prior_bias")
def prior_bias(p: Any, activation: str | None = None) -> Initializer:
    r"""Factory: output bias whose initial prediction equals the class prior ``p``.

    A bias sets a neuron's baseline: with near-zero initial weights the output
    layer predicts ``activation(b)``, so choosing ``b`` to match the label
    frequencies removes the large loss of the first steps (Karpathy, "A Recipe for
    Training Neural Networks", 2019; Lin et al. 2017, focal loss, use
    ``-log((1 - pi) / pi)``).

    * ``activation="sigmoid"`` (default for a scalar ``p``): ``b = log(p / (1 - p))``,
      i.e. ``sigmoid(b) = p``. A scalar fills any shape; a vector of per-class
      priors (multi-label) must match ``shape[-1]``.
    * ``activation="softmax"`` (default for a vector ``p``): ``b_k = log p_k``, so
      ``softmax(b) = p``. ``p`` must be positive and sum to 1; ``shape[-1]`` must
      equal ``len(p)``.

    Args:
      p: probability in (0, 1) or a vector of them.
      activation: ``"sigmoid"``, ``"softmax"`` or ``None`` (chosen from ``p``'s rank).
    """
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim > 1:
        raise ValueError(f"prior_bias: p must be a scalar or a vector, got shape {arr.shape}.")
    if activation is None:
        activation = "sigmoid" if arr.ndim == 0 else "softmax"
    if activation not in ("sigmoid", "softmax"):
        raise ValueError(f"prior_bias: activation must be 'sigmoid' or 'softmax', got activation={activation!r}.")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0) or (activation == "sigmoid" and np.any(arr >= 1)):
        bound = "(0, 1)" if activation == "sigmoid" else "(0, 1]"
        raise ValueError(f"prior_bias: every p must lie in {bound} (the logit of 0 or 1 is infinite), got p={p!r}.")
    if activation == "softmax":
        if arr.ndim != 1:
            raise ValueError(f"prior_bias: softmax needs a vector of class priors, got p={p!r}.")
        if abs(arr.sum() - 1.0) > 1e-4:
            raise ValueError(
                f"prior_bias: softmax priors must sum to 1, got sum(p)={arr.sum():.6g}; pass frequencies p / p.sum()."
            )
        bias = np.log(arr)
    else:
        bias = np.log(arr) - np.log1p(-arr)

    def fill(shape, dtype):
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"prior_bias: dtype={dtype} must be a floating dtype.")
        if bias.ndim == 1 and (len(shape) == 0 or shape[-1] != bias.shape[0]):
            raise ValueError(
                f"prior_bias: {bias.shape[0]} class priors need shape[-1] == {bias.shape[0]}, got shape={tuple(shape)}."
            )
        return jnp.broadcast_to(jnp.asarray(bias, dtype), shape)

    return _constant_initializer(fill, "prior_bias")


@_recorded("normal")
def normal(stddev: float = 0.05, mean: float = 0.0) -> Initializer:
    r"""Factory: ``W ~ N(mean, stddev^2)`` (Keras ``RandomNormal`` defaults).

    Sampled in float32 and cast (unbiased in bfloat16/float16). Parameters whose
    draws can overflow (``|mean| + 6 stddev`` beyond the dtype's largest value)
    are refused: for float32 when built (``normal(1e39)``), for the requested
    dtype when called (``normal(1e5)`` in float16).
    """
    stddev = _check_real(stddev, "stddev", "normal", nonneg=True)
    mean = _check_real(mean, "mean", "normal")
    what = f"stddev={stddev!r}, mean={mean!r}"
    _check_fits_build(_normal_limit(stddev, mean), what, "normal")

    return _random_initializer(
        _sample_normal, lambda shape: (stddev, mean), "normal", limit=lambda s, m: (_normal_limit(s, m), what)
    )


def _normal_limit(stddev: float, mean: float) -> float:
    return abs(mean) + _NORMAL_LIMIT * stddev


@_recorded("uniform")
def uniform(minval: float = -0.05, maxval: float = 0.05) -> Initializer:
    r"""Factory: ``W ~ U[minval, maxval)`` (Keras ``RandomUniform``; symmetric default).

    Note: jax's ``uniform(scale)`` is ``U[0, scale)``; this one is Keras'.
    Mean ``(minval + maxval) / 2``, variance ``(maxval - minval)^2 / 12``.
    """
    minval = _check_real(minval, "minval", "uniform")
    maxval = _check_real(maxval, "maxval", "uniform")
    if math.isinf(minval) or math.isinf(maxval):
        raise ValueError(f"uniform: bounds must be finite, got minval={minval}, maxval={maxval}.")
    if minval > maxval:
        raise ValueError(f"uniform: need minval <= maxval, got minval={minval}, maxval={maxval}.")
    # the sampler computes minval + u * (maxval - minval): the width must fit too
    bound = max(abs(minval), abs(maxval), maxval - minval)
    what = f"minval={minval!r}, maxval={maxval!r}"
    _check_fits_build(bound, what, "uniform")

    return _random_initializer(
        _sample_uniform, lambda shape: (minval, maxval), "uniform", limit=lambda lo, hi: (bound, what)
    )


@_recorded("truncated_normal")
def truncated_normal(stddev: float = 0.05, mean: float = 0.0, lower: float = -2.0, upper: float = 2.0) -> Initializer:
    r"""Factory: truncated normal whose *resulting* standard deviation is ``stddev``.

    ``W = mean + s * T`` with ``T ~ N(0, 1)`` truncated to ``(lower, upper)`` and
    ``s = stddev / tau``, where ``tau = truncated_normal_std(lower, upper)`` is the
    closed-form std of the truncated standard normal (0.87962566103423978 for the
    default +-2). So ``std(W) = stddev`` exactly, and the bounds are in units of
    the *untruncated* std ``s``: ``W`` lies in ``(mean + lower s, mean + upper s)``.
    For symmetric bounds ``E[W] = mean``; for asymmetric ones
    ``E[W] = mean + s * (phi(lower) - phi(upper)) / (Phi(upper) - Phi(lower))``.

    Differences: jax's ``truncated_normal(stddev)`` does not correct (its std is
    ``0.88 stddev``), Haiku's ``TruncatedNormal`` likewise; torch's
    ``trunc_normal_(a, b)`` bounds are absolute values (Flax #4091).
    """
    stddev = _check_real(stddev, "stddev", "truncated_normal", nonneg=True)
    mean = _check_real(mean, "mean", "truncated_normal")
    lower = _check_real(lower, "lower", "truncated_normal")
    upper = _check_real(upper, "upper", "truncated_normal")
    if not lower < upper:
        raise ValueError(f"truncated_normal: need lower < upper, got lower={lower}, upper={upper}.")
    tau = _tail_safe_std(lower, upper)
    if not tau > 0.0:
        raise ValueError(
            f"truncated_normal: the interval (lower={lower}, upper={upper}) is too "
            "narrow or too far in the tail to sample from."
        )
    scale = stddev / tau
    bound = abs(mean) + min(max(abs(lower), abs(upper)), _NORMAL_LIMIT) * scale
    what = f"stddev={stddev!r}, mean={mean!r}"
    _check_fits_build(bound, what, "truncated_normal")

    return _random_initializer(
        _sample_truncated_normal,
        lambda shape: (scale, mean),
        "truncated_normal",
        static=(lower, upper),
        limit=lambda s, m: (bound, what),
    )


@_recorded("trunc_normal")
def trunc_normal(mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0) -> Initializer:
    r"""Factory: torch's ``nn.init.trunc_normal_``: ``N(mean, std^2)`` truncated to the *absolute* interval ``[a, b]``.

    ``std`` is the std of the *untruncated* normal (the result's std is smaller
    when the bounds cut it), and ``a``, ``b`` are values, not multiples of
    ``std``: with torch's defaults ``std=0.02, a=-2, b=2`` (ViT) the truncation
    is at 100 std, i.e. none. With ``alpha = (a - mean) / std``, ``beta = (b -
    mean) / std`` and ``Z = Phi(beta) - Phi(alpha)``:
    ``E[W] = mean + std (phi(alpha) - phi(beta)) / Z`` and
    ``Var[W] = std^2 [1 + (alpha phi(alpha) - beta phi(beta)) / Z - ((phi(alpha) - phi(beta)) / Z)^2]``.

    Beside jaxnn's :func:`truncated_normal`, whose bounds are in std units and
    whose ``stddev`` is the *resulting* std. Keras ``TruncatedNormal(mean,
    stddev)`` is ``trunc_normal(mean, stddev, mean - 2 stddev, mean + 2 stddev)``
    (uncorrected: std ``0.88 stddev``). Same inverse-CDF method as torch, sampled
    in float32 and cast; ``a`` and ``b`` may be infinite.
    """
    mean = _check_real(mean, "mean", "trunc_normal")
    std = _check_real(std, "std", "trunc_normal", nonneg=True)
    a = _check_real(a, "a", "trunc_normal")
    b = _check_real(b, "b", "trunc_normal")
    if not std > 0.0:
        raise ValueError(f"trunc_normal: std must be > 0, got std={std!r}.")
    if not a < b:
        raise ValueError(f"trunc_normal: need a < b, got a={a}, b={b}.")
    lo, hi = (a - mean) / std, (b - mean) / std
    ea, eb = (np.float32(math.erf(v / math.sqrt(2))) for v in (lo, hi))
    if not (_tail_safe_std(lo, hi) > 0.0 and eb > ea):
        raise ValueError(
            f"trunc_normal: [a={a}, b={b}] lies too far in the tail of N(mean={mean}, std={std}) to sample "
            f"in float32 ({lo:.3g} to {hi:.3g} std from the mean)."
        )
    bound = min(max(abs(a), abs(b)), abs(mean) + _NORMAL_LIMIT * std)
    what = f"mean={mean!r}, std={std!r}, a={a!r}, b={b!r}"
    _check_fits_build(bound, what, "trunc_normal")

    return _random_initializer(
        _sample_trunc_normal,
        lambda shape: (std, mean, a, b),
        "trunc_normal",
        static=(lo, hi),
        limit=lambda *_: (bound, what),
    )
