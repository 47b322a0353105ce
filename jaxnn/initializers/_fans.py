"""Fan-in and fan-out of a weight (:func:`compute_fans`) and the std of a truncated standard normal."""

from __future__ import annotations

import math
from collections.abc import Sequence

from jaxnn.initializers._checks import Axes, _check_real, _check_shape, _normalize_axes


def compute_fans(
    shape: Sequence[int], in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = ()
) -> tuple[int, int]:
    r"""Fan-in and fan-out of a weight of ``shape`` (jax's rule, exact integers).

    ``rf = prod(shape[a] for a not in in_axis + out_axis + batch_axis)`` (the
    receptive field), ``fan_in = prod(shape[in_axis]) * rf``,
    ``fan_out = prod(shape[out_axis]) * rf``; batch axes are ignored.
    Dense ``(in, out)`` -> ``(in, out)``; conv ``HWIO`` ``(3, 3, 64, 128)`` ->
    ``(576, 1152)``; ``(512, 8, 64)`` with ``out_axis=(1, 2)`` -> ``(512, 512)``.
    (Keras/Haiku use ``rf = prod(shape[:-2])``; torch weights are ``(out, in, *k)``.)

    Raises ``ValueError`` for a shape of rank < 2 (a bias has no fan: use
    :func:`zeros`, :func:`constant`, :func:`prior_bias` or
    ``torch_linear_default(fan_in=...)``), for out-of-range or overlapping axes.
    A zero fan is returned as 0; the fan-based initializers reject it.
    """
    shape = _check_shape(shape, "compute_fans")
    ndim = len(shape)
    if ndim < 2:
        raise ValueError(
            f"compute_fans: shape={shape} has rank {ndim}; fan-based initializers need "
            "a weight of rank >= 2 (dense (in, out), conv HWIO). For a bias use zeros, "
            "constant, prior_bias or torch_linear_default(fan_in=...)."
        )
    ins = _normalize_axes(in_axis, ndim, "in_axis", shape)
    outs = _normalize_axes(out_axis, ndim, "out_axis", shape)
    batch = _normalize_axes(batch_axis, ndim, "batch_axis", shape)
    for (na, a), (nb, b) in (
        ((("in_axis", ins), ("out_axis", outs))),
        ((("in_axis", ins), ("batch_axis", batch))),
        ((("out_axis", outs), ("batch_axis", batch))),
    ):
        if set(a) & set(b):
            raise ValueError(
                f"compute_fans: {na} and {nb} share axes {sorted(set(a) & set(b))} "
                f"for shape={shape} (in_axis={in_axis!r}, out_axis={out_axis!r}, "
                f"batch_axis={batch_axis!r}); pass disjoint axes, e.g. in_axis=0, "
                "out_axis=(1, 2) for a (512, 8, 64) attention kernel."
            )
    if not ins or not outs:
        raise ValueError(
            f"compute_fans: in_axis={in_axis!r} and out_axis={out_axis!r} must each name at least one axis."
        )
    used = set(ins) | set(outs) | set(batch)
    rf = math.prod(shape[a] for a in range(ndim) if a not in used)
    fan_in = math.prod(shape[a] for a in ins) * rf
    fan_out = math.prod(shape[a] for a in outs) * rf
    return fan_in, fan_out


def _phi(x: float) -> float:
    return 0.0 if math.isinf(x) else math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _truncnorm_moments(lower: float, upper: float) -> tuple[float, float]:
    """Mean and std of N(0, 1) truncated to (lower, upper), closed form, float64."""
    if lower >= 0.0:  # upper tail: use erfc to keep precision
        mass = 0.5 * (math.erfc(lower / math.sqrt(2.0)) - math.erfc(upper / math.sqrt(2.0)))
    elif upper <= 0.0:
        mass = 0.5 * (math.erfc(-upper / math.sqrt(2.0)) - math.erfc(-lower / math.sqrt(2.0)))
    else:
        mass = 0.5 * (math.erf(upper / math.sqrt(2.0)) - math.erf(lower / math.sqrt(2.0)))
    pa, pb = _phi(lower), _phi(upper)
    apa = 0.0 if math.isinf(lower) else lower * pa
    bpb = 0.0 if math.isinf(upper) else upper * pb
    mean = (pa - pb) / mass
    var = 1.0 + (apa - bpb) / mass - mean * mean
    return mean, math.sqrt(max(var, 0.0))


def truncated_normal_std(lower: float = -2.0, upper: float = 2.0) -> float:
    r"""Std of the standard normal truncated to ``(lower, upper)`` (closed form).

    With ``Z = Phi(b) - Phi(a)``: ``mu = (phi(a) - phi(b)) / Z`` and
    ``sigma^2 = 1 + (a phi(a) - b phi(b)) / Z - mu^2``. For ``(-2, 2)`` this is
    ``0.87962566103423978``, the constant jax/Keras divide by in
    ``variance_scaling``.
    """
    lower = _check_real(lower, "lower", "truncated_normal_std")
    upper = _check_real(upper, "upper", "truncated_normal_std")
    if not lower < upper:
        raise ValueError(f"truncated_normal_std: need lower < upper, got lower={lower}, upper={upper}.")
    return _truncnorm_moments(lower, upper)[1]
