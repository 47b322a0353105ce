"""The machinery every loss shares: input checks (trace time, on shapes and dtypes), masking, and the one reduction."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn._util import Array

_REDUCTIONS = ("mean", "sum", "none")
_LOG2 = math.log(2.0)


# ----------------------------------------------------------------------------
# Validation helpers (all run at trace time, on shapes and dtypes only).
# ----------------------------------------------------------------------------


def _check_reduction(reduction, loss_name):
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"{loss_name}: reduction={reduction!r} is not one of {_REDUCTIONS}.")


def _float_array(x, arg, loss_name) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{loss_name}: {arg} must be a floating-point array, got dtype "
            f"{x.dtype}. Regression targets and predictions are real numbers; "
            "cast them with .astype(jnp.float32) (integer class ids belong to "
            "categorical_cross_entropy)."
        )
    return x


def _label_array(x, arg, loss_name) -> Array:
    """Labels that may be float, int or bool (binary losses); cast later."""
    x = jnp.asarray(x)
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_):
        raise TypeError(f"{loss_name}: {arg} has unsupported dtype {x.dtype}.")
    return x


def _check_same_shape(a, b, a_name, b_name, loss_name):
    if a.shape != b.shape:
        raise ValueError(
            f"{loss_name}: {a_name} has shape {a.shape} but {b_name} has shape "
            f"{b.shape}; they must be equal (no implicit broadcasting -- reshape "
            "one of them explicitly, e.g. with .reshape or [..., None])."
        )


def _concrete(value) -> np.ndarray | None:
    """The value as a numpy array if it is known at trace time, else None."""
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        return np.asarray(value)
    except Exception:  # pylint: disable=broad-except
        return None


def _check_positive(value, arg, loss_name):
    c = _concrete(value)
    if c is not None and not (c.size and np.all(c > 0)):
        raise ValueError(f"{loss_name}: {arg} must be > 0, got {value!r}.")


def _check_nonnegative(value, arg, loss_name):
    c = _concrete(value)
    if c is not None and not (c.size and np.all(c >= 0)):
        raise ValueError(f"{loss_name}: {arg} must be >= 0, got {value!r}.")


def _in_unit_interval(v):
    return (v >= 0) & (v <= 1)


def _in_signed_labels(v):
    return (v == -1) | (v == 0) | (v == 1)


def _in_pm1(v):
    return (v == -1) | (v == 1)


def _check_concrete_values(x, ok, expectation, arg, loss_name, mask=None, axis=None):
    """Eager (concrete) inputs only: a one-line ``ValueError`` when an unmasked,
    non-NaN value fails ``ok`` (NaN propagates by policy).  Traced inputs are
    not inspected (validate them with the checkify-able ``check_*`` helpers)."""
    c = _concrete(x)
    if c is None:
        return
    m = None
    if mask is not None:
        m = _concrete(mask)
        if m is None:
            return
        m = np.asarray(m, bool)
        if axis is not None:
            m = np.expand_dims(m, axis)
    c = np.asarray(c).astype(np.float64)
    bad = ~ok(c) & ~np.isnan(c)
    if m is not None:
        bad = bad & np.broadcast_to(m, bad.shape)
    if bad.any():
        vals = np.unique(c[bad])[:5].tolist()
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{loss_name}: {arg} must be {expectation}; got {int(bad.sum())} value(s) outside it "
            f"(e.g. {vals}, first at index {first})."
        )


def _check_label_smoothing(value, loss_name) -> bool:
    """Validates label_smoothing; returns True when it is statically zero."""
    c = _concrete(value)
    if c is None:
        return False
    if c.shape != () or not (0.0 <= float(c) < 1.0):
        raise ValueError(f"{loss_name}: label_smoothing must be a scalar in [0, 1), got {value!r}.")
    return float(c) == 0.0


def _compute_dtype(*arrays):
    """float32 for half-precision inputs, else the promoted float dtype."""
    dt = jnp.result_type(*[a.dtype for a in arrays if jnp.issubdtype(a.dtype, jnp.floating)])
    if jnp.finfo(dt).bits < 32:
        dt = jnp.float32
    return dt


def _dtype_eps(dtype) -> float:
    """Machine epsilon of the *input* dtype, used to keep logs finite."""
    return float(jnp.finfo(dtype).eps)


def _canonical_axis(axis, ndim, loss_name) -> int:
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{loss_name}: axis must be an int, got {axis!r}.")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{loss_name}: axis={axis} is out of bounds for predictions with {ndim} dimension(s).")
    return int(axis) % ndim


def _per_example(x, arg, example_shape, loss_name, *, is_mask):
    """Validates weights/where against the per-example shape and broadcasts.

    Allowed shapes: ``()``, the per-example shape, or a prefix of it (trailing
    axes are then broadcast).  Returns an array of the per-example shape.
    """
    if x is None:
        return None
    x = jnp.asarray(x)
    if is_mask and x.dtype != jnp.bool_:
        raise TypeError(
            f"{loss_name}: where must be a boolean mask, got dtype {x.dtype} (use `weights` for real-valued weights)."
        )
    if not is_mask and not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise TypeError(f"{loss_name}: weights must be real numbers, got dtype {x.dtype}.")
    n = x.ndim
    if n > len(example_shape) or x.shape != tuple(example_shape[:n]):
        raise ValueError(
            f"{loss_name}: {arg} has shape {x.shape}, but the per-example loss has "
            f"shape {tuple(example_shape)}; {arg} must have that shape or a prefix "
            f"of it (e.g. {tuple(example_shape[:1])})."
        )
    x = x.reshape(x.shape + (1,) * (len(example_shape) - n))
    return jnp.broadcast_to(x, example_shape)


def _mask_inputs(mask, *arrays, axis=None):
    """Replaces masked entries by 0 *before* computing (safe for NaN/inf).

    ``mask`` has the per-example shape; ``axis`` (if given) is the class axis
    that the arrays have in addition.
    """
    if mask is None:
        return arrays if len(arrays) > 1 else arrays[0]
    m = mask if axis is None else jnp.expand_dims(mask, axis)
    out = tuple(None if a is None else jnp.where(m, a, jnp.zeros((), a.dtype)) for a in arrays)
    return out if len(out) > 1 else out[0]


# ----------------------------------------------------------------------------
# The one reduction mechanism shared by every loss.
# ----------------------------------------------------------------------------


def _reduce(values, *, weights, mask, reduction, out_dtype, normalizer=None):
    """Masks, weights and reduces per-example values.

    Args:
      values: per-example losses (already computed from masked inputs).
      weights: per-example weights (per-example shape) or None.
      mask: per-example boolean mask or None.
      reduction: "mean", "sum" or "none".
      out_dtype: dtype of the result.
      normalizer: optional extra per-example factor for the denominator of
        "mean" (e.g. the class weight of the true class), default 1.

    Returns:
      ``"none"``: ``w * values`` (0 where masked); ``"sum"``: its sum;
      ``"mean"``: ``sum(w * values) / sum(w * normalizer)`` over unmasked
      entries, and 0 when that denominator is 0 (e.g. a fully masked batch).
    """
    w = None if weights is None else weights.astype(values.dtype)
    if mask is not None:
        values = jnp.where(mask, values, jnp.zeros((), values.dtype))
        w = jnp.where(mask, jnp.ones((), values.dtype) if w is None else w, jnp.zeros((), values.dtype))
    weighted = values if w is None else values * w
    if reduction == "none":
        return weighted.astype(out_dtype)
    total = jnp.sum(weighted)
    if reduction == "sum":
        return total.astype(out_dtype)
    denom_terms = jnp.ones_like(values) if w is None else w
    if normalizer is not None:
        denom_terms = denom_terms * normalizer.astype(values.dtype)
    denom = jnp.sum(denom_terms)
    safe = jnp.where(denom != 0, denom, jnp.ones((), denom.dtype))
    return jnp.where(denom != 0, total / safe, jnp.zeros((), total.dtype)).astype(out_dtype)


def _elementwise(
    loss_name: str,
    fn: Callable[..., Array],
    predictions,
    targets,
    weights,
    where,
    reduction,
    *,
    integer_targets=False,
    extra: Sequence[Any] = (),
    value_checks: Sequence[Any] = (),
):
    """Driver for losses whose per-example shape is ``predictions.shape``.

    ``fn(p, t, *extra)`` computes the elementwise loss in the compute dtype.
    ``extra`` are additional arrays of the same shape (e.g. a variance) that
    are masked like the inputs.  ``value_checks`` are ``(index, ok, expectation,
    arg)`` tuples: concrete ``(predictions, targets)[index]`` must satisfy
    ``ok`` where unmasked (see :func:`_check_concrete_values`).
    """
    _check_reduction(reduction, loss_name)
    p = _float_array(predictions, "predictions", loss_name)
    if integer_targets:
        t = _label_array(targets, "targets", loss_name)
    else:
        t = _float_array(targets, "targets", loss_name)
    _check_same_shape(p, t, "predictions", "targets", loss_name)
    mask = _per_example(where, "where", p.shape, loss_name, is_mask=True)
    w = _per_example(weights, "weights", p.shape, loss_name, is_mask=False)
    for index, ok, expectation, arg in value_checks:
        _check_concrete_values((p, t)[index], ok, expectation, arg, loss_name, mask=mask)
    cdt = _compute_dtype(p, t, *[e for e in extra if e is not None])
    arrays = _mask_inputs(mask, p, t, *extra) if mask is not None else (p, t, *extra)
    arrays = [None if a is None else a.astype(cdt) for a in arrays]
    values = fn(*arrays)
    return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=p.dtype)


def _abs(x):
    """|x| with derivative sign(x), i.e. 0 at 0 (jnp.abs' gives 1 at 0)."""
    return x * jnp.sign(x)
