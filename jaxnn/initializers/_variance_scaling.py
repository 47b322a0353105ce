"""Variance scaling, and every named fan-based scheme (Glorot/Xavier, He/Kaiming, LeCun, torch's default)
as a thin call of it.
"""

from __future__ import annotations

import math

from jaxnn._util import Initializer, positive_int
from jaxnn.initializers._basic import _sample_normal, _sample_symmetric_uniform, _sample_truncated_normal
from jaxnn.initializers._checks import _NORMAL_LIMIT, Axes, _check_fits_build, _check_real
from jaxnn.initializers._draw import _random_initializer, _recorded
from jaxnn.initializers._fans import compute_fans

# std of N(0, 1) truncated to (-2, 2); = truncated_normal_std(-2, 2).
_TRUNC_STD_2 = 0.87962566103423978

_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")


def _fan_denominator(shape, mode, in_axis, out_axis, batch_axis, who):
    fan_in, fan_out = compute_fans(shape, in_axis, out_axis, batch_axis)
    n = {
        "fan_in": fan_in,
        "fan_out": fan_out,
        "fan_avg": (fan_in + fan_out) / 2,
        "fan_geo_avg": math.sqrt(fan_in * fan_out),
    }[mode]
    if n == 0:
        raise ValueError(
            f"{who}: mode={mode!r} gives a fan of 0 for shape={tuple(shape)} "
            f"(fan_in={fan_in}, fan_out={fan_out}); a zero-size weight has no scale."
        )
    return n


@_recorded("variance_scaling")
def variance_scaling(
    scale: float, mode: str, distribution: str, in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = ()
) -> Initializer:
    r"""Factory: zero-mean draw with variance ``scale / n``, the core of every fan scheme.

    ``n`` by ``mode``: ``"fan_in"``, ``"fan_out"``, ``"fan_avg"`` =
    ``(fan_in + fan_out) / 2``, ``"fan_geo_avg"`` = ``sqrt(fan_in * fan_out)``
    (fans from :func:`compute_fans`). With ``s = scale / n``:

    * ``"truncated_normal"``: ``N(0, 1)`` truncated to (-2, 2) times
      ``sqrt(s) / 0.87962566103423978`` -- std exactly ``sqrt(s)`` after truncation;
    * ``"normal"`` (Keras: ``"untruncated_normal"``, also accepted): ``N(0, s)``;
    * ``"uniform"``: ``U(-sqrt(3 s), sqrt(3 s))``.

    Same formulas, fan rules and samplers as
    ``jax.nn.initializers.variance_scaling``, but the std ``sqrt(scale / n)`` is
    computed in float64 (jax computes it in float32), so float32 draws for the
    same key equal jax's to within a few ulp (bitwise when the two stds round
    alike), for every distribution. The other differences are the float32 sampling for bf16/f16 and the errors
    (rank < 2, zero fan, bad arguments) instead of ZeroDivisionError.

    A gain ``g`` (e.g. :func:`jaxnn.activations.gain` or
    :func:`jaxnn.activations.numerical_gain`) enters as ``scale = g**2``:
    ``variance_scaling(g**2, "fan_in", "normal")`` is torch's
    ``kaiming_normal_`` with that gain.

    References: LeCun et al. 1998; Glorot & Bengio 2010; He et al. 2015.
    """
    scale = _check_real(scale, "scale", "variance_scaling", nonneg=True)
    if mode not in _MODES:
        raise ValueError(f"variance_scaling: unknown mode={mode!r}; expected one of {_MODES}.")
    if distribution == "untruncated_normal":
        distribution = "normal"
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(
            f"variance_scaling: unknown distribution={distribution!r}; expected one "
            f"of {_DISTRIBUTIONS} (or 'untruncated_normal')."
        )

    def params(shape):
        n = _fan_denominator(shape, mode, in_axis, out_axis, batch_axis, "variance_scaling")
        std = math.sqrt(scale / n)
        if distribution == "truncated_normal":
            return (std / _TRUNC_STD_2, 0.0)
        if distribution == "normal":
            return (std, 0.0)
        return (math.sqrt(3.0) * std,)

    sampler = {
        "truncated_normal": _sample_truncated_normal,
        "normal": _sample_normal,
        "uniform": _sample_symmetric_uniform,
    }[distribution]
    # |value| <= reach * (the first traced parameter): the truncation 2, the normal's bound, 1 (the uniform bound)
    reach = {"truncated_normal": 2.0, "normal": _NORMAL_LIMIT, "uniform": 1.0}[distribution]
    first = {"truncated_normal": 1.0 / _TRUNC_STD_2, "normal": 1.0, "uniform": math.sqrt(3.0)}[distribution]
    what = f"scale={scale!r}"
    _check_fits_build(reach * first * math.sqrt(scale), what, "variance_scaling")  # when built: a fan of 1
    static = (-2.0, 2.0) if distribution == "truncated_normal" else ()
    return _random_initializer(
        sampler,
        params,
        f"variance_scaling({distribution}, {mode})",
        static=static,
        limit=lambda p, *_: (reach * p, f"{what} with this shape's fan"),
    )


def _gain_squared(gain: float, who: str) -> float:
    g = _check_real(gain, "gain", who, nonneg=True)
    return g * g


@_recorded("glorot_normal")
def glorot_normal(gain: float = 1.0, *, in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = ()) -> Initializer:
    r"""Factory: Glorot/Xavier normal, std ``gain * sqrt(2 / (fan_in + fan_out))``.

    ``variance_scaling(gain**2, "fan_avg", "truncated_normal")`` (Glorot & Bengio
    2010). Truncated at 2 std and corrected like jax/Keras; torch's
    ``xavier_normal_`` is untruncated (use ``variance_scaling(.., "normal")``).
    """
    return variance_scaling(
        _gain_squared(gain, "glorot_normal"), "fan_avg", "truncated_normal", in_axis, out_axis, batch_axis
    )


@_recorded("glorot_uniform")
def glorot_uniform(gain: float = 1.0, *, in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = ()) -> Initializer:
    r"""Factory: Glorot/Xavier uniform, ``U(+-gain * sqrt(6 / (fan_in + fan_out)))``.

    ``variance_scaling(gain**2, "fan_avg", "uniform")`` (Glorot & Bengio 2010,
    eq. 16). Keras' Dense default. Same as torch ``xavier_uniform_(gain)``.
    """
    return variance_scaling(_gain_squared(gain, "glorot_uniform"), "fan_avg", "uniform", in_axis, out_axis, batch_axis)


xavier_normal = glorot_normal
xavier_uniform = glorot_uniform


def _he_scale(negative_slope: float, gain: float | None, who: str) -> float:
    slope = _check_real(negative_slope, "negative_slope", who)
    if gain is not None:
        if slope != 0.0:
            raise ValueError(
                f"{who}: pass either negative_slope={negative_slope!r} or gain={gain!r}, "
                "not both (the gain already encodes the activation)."
            )
        return _gain_squared(gain, who)
    return 2.0 / (1.0 + slope * slope)


@_recorded("he_normal")
def he_normal(
    negative_slope: float = 0.0,
    *,
    gain: float | None = None,
    in_axis: Axes = -2,
    out_axis: Axes = -1,
    batch_axis: Axes = (),
) -> Initializer:
    r"""Factory: He/Kaiming normal, std ``sqrt(2 / ((1 + a^2) fan_in))``.

    ``variance_scaling(2 / (1 + a^2), "fan_in", "truncated_normal")`` with ``a``
    the leaky-ReLU ``negative_slope`` (He et al. 2015, eq. 15). ``gain=g``
    replaces the ReLU gain: std ``g / sqrt(fan_in)`` (e.g.
    ``he_normal(gain=activations.numerical_gain(jax.nn.gelu))``). Truncated and
    corrected like jax/Keras; torch's ``kaiming_normal_`` is untruncated.
    """
    return variance_scaling(
        _he_scale(negative_slope, gain, "he_normal"), "fan_in", "truncated_normal", in_axis, out_axis, batch_axis
    )


@_recorded("he_uniform")
def he_uniform(
    negative_slope: float = 0.0,
    *,
    gain: float | None = None,
    in_axis: Axes = -2,
    out_axis: Axes = -1,
    batch_axis: Axes = (),
) -> Initializer:
    r"""Factory: He/Kaiming uniform, ``U(+-sqrt(6 / ((1 + a^2) fan_in)))``.

    ``variance_scaling(2 / (1 + a^2), "fan_in", "uniform")`` (He et al. 2015);
    ``gain=g`` gives ``U(+-g sqrt(3 / fan_in))`` = torch ``kaiming_uniform_``.
    """
    return variance_scaling(
        _he_scale(negative_slope, gain, "he_uniform"), "fan_in", "uniform", in_axis, out_axis, batch_axis
    )


kaiming_normal = he_normal
kaiming_uniform = he_uniform


@_recorded("lecun_normal")
def lecun_normal(gain: float = 1.0, *, in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = ()) -> Initializer:
    r"""Factory: LeCun normal, std ``gain / sqrt(fan_in)``.

    ``variance_scaling(gain**2, "fan_in", "truncated_normal")`` (LeCun et al.
    1998; the SELU initialization of Klambauer et al. 2017). Flax's Dense default.
    """
    return variance_scaling(
        _gain_squared(gain, "lecun_normal"), "fan_in", "truncated_normal", in_axis, out_axis, batch_axis
    )


@_recorded("lecun_uniform")
def lecun_uniform(gain: float = 1.0, *, in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = ()) -> Initializer:
    r"""Factory: LeCun uniform, ``U(+-gain * sqrt(3 / fan_in))`` (LeCun et al. 1998)."""
    return variance_scaling(_gain_squared(gain, "lecun_uniform"), "fan_in", "uniform", in_axis, out_axis, batch_axis)


@_recorded("torch_linear_default")
def torch_linear_default(
    fan_in: int | None = None, *, in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = ()
) -> Initializer:
    r"""Factory: torch's ``nn.Linear``/``nn.Conv`` default, ``U(+-1 / sqrt(fan_in))``.

    torch draws the weight with ``kaiming_uniform_(a=sqrt(5))`` -- gain
    ``sqrt(1/3)``, bound ``gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in)``, std
    ``1 / sqrt(3 fan_in)`` -- and the bias from the same ``U(+-1/sqrt(fan_in))``
    with the *weight's* fan_in (Equinox does the same).

    One factory for both: ``torch_linear_default()`` takes fan_in from the
    weight's shape (:func:`compute_fans`, so HWIO conv kernels work);
    ``torch_linear_default(fan_in=n)`` uses ``n`` for any shape, which is how to
    initialize the ``(out,)`` bias: ``b_init=torch_linear_default(fan_in=784)``.
    """
    if fan_in is None:
        return variance_scaling(1.0 / 3.0, "fan_in", "uniform", in_axis, out_axis, batch_axis)
    fan_in = positive_int(fan_in, "torch_linear_default: fan_in")
    bound = 1.0 / math.sqrt(fan_in)

    return _random_initializer(_sample_symmetric_uniform, lambda shape: (bound,), "torch_linear_default")
