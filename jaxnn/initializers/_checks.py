"""Argument checks shared by the initializers: shapes, dtypes, real numbers, axes, the spatial centre of a kernel."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Axes = int | Sequence[int]


def _check_shape(shape: Any, who: str) -> tuple[int, ...]:
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"{who}: shape must be a sequence of ints, got shape={shape!r}.") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{who}: shape must have non-negative sizes, got shape={dims}.")
    return dims


def _check_dtype(dtype: Any, who: str, *, floating: bool = True) -> np.dtype:
    try:
        dt = np.dtype(jax.dtypes.canonicalize_dtype(dtype))
    except TypeError:
        raise TypeError(f"{who}: dtype={dtype!r} is not a dtype.") from None
    if floating and not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(
            f"{who}: dtype={dtype!r} is not a real floating dtype; random "
            "initializers need float16, bfloat16, float32 or float64."
        )
    return dt


def _check_real(value: Any, name: str, who: str, *, nonneg: bool = False) -> float:
    if isinstance(value, bool):
        raise TypeError(f"{who}: {name} must be a real number, got {name}={value!r}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: {name} must be a real number, got {name}={value!r}.") from None
    if math.isnan(v):
        raise ValueError(f"{who}: {name} must not be NaN.")
    if nonneg and not v >= 0.0:
        raise ValueError(f"{who}: {name} must be >= 0, got {name}={value!r}.")
    if nonneg and math.isinf(v):
        raise ValueError(f"{who}: {name} must be finite, got {name}={value!r}.")
    return v


def _normalize_axes(axes: Axes, ndim: int, name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    seq = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    out = []
    for a in seq:
        try:
            a = operator.index(a)
        except TypeError:
            raise TypeError(
                f"compute_fans: {name} must be an int or a sequence of ints, got {name}={axes!r}."
            ) from None
        if not -ndim <= a < ndim:
            raise ValueError(f"compute_fans: {name}={axes!r} is out of range for shape={shape} (rank {ndim}).")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"compute_fans: {name}={axes!r} repeats an axis.")
    return tuple(out)


def _spatial_centre(shape, taps):
    return tuple(taps(k) for k in shape[:-2])


_F32_MAX = float(np.finfo(np.float32).max)


def _check_fits_build(limit: float, what: str, who: str) -> None:
    """Refuse, when the initializer is built, parameters whose draws can exceed float32's largest finite value
    (``limit`` bounds ``|value|``); with ``jax_enable_x64`` a float64 draw can hold them, so the call checks."""
    if limit > _F32_MAX and (math.isinf(limit) or not jax.config.jax_enable_x64):
        raise ValueError(
            f"{who}: {what} gives values beyond float32's largest finite value {_F32_MAX:.7g} "
            "(float64 draws need jax_enable_x64)."
        )


def _check_fits(limit: float, what: str, who: str, dtype: np.dtype) -> None:
    """Refuse, when an initializer is called, parameters whose draws can exceed ``dtype``'s largest finite value
    (e.g. a float16 draw of ``normal(1e5)``): a one-line ``ValueError`` instead of ``inf`` in the weights."""
    if jnp.issubdtype(dtype, jnp.inexact):
        fmax = float(jnp.finfo(dtype).max)
        if limit > fmax:
            raise ValueError(f"{who}: {what} gives values beyond {dtype.name}'s largest finite value {fmax:.7g}.")
    elif jnp.issubdtype(dtype, jnp.integer) and limit > float(jnp.iinfo(dtype).max):
        raise ValueError(f"{who}: {what} does not fit in {dtype.name} (largest {jnp.iinfo(dtype).max}).")


# Bound on |z| of a float32 standard normal draw (jax's erfinv sampler stays below 5.5), used by the overflow
# checks of the normal-based draws: |value| <= |mean| + _NORMAL_LIMIT * stddev.
_NORMAL_LIMIT = 6.0
