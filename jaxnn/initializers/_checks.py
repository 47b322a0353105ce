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
