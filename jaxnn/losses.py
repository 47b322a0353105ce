"""Losses: one interface, one reduction mechanism, hardened numerics.

Every loss is a pure function::

    loss(predictions, targets, *, weights=None, where=None, reduction="mean",
         ...)

* ``predictions`` first (optax's order), then ``targets`` / ``labels``.
* ``reduction``: ``"mean"`` (default; a scalar, so
  ``jax.grad(lambda p: loss(f(p, x), y))`` just works), ``"sum"`` or ``"none"``
  (the per-example values, see below).
* ``weights``: per-example weights.  ``"mean"`` divides by the sum of the
  (unmasked) weights, ``"sum"`` and ``"none"`` multiply by them.
* ``where``: a boolean mask.  It is applied to the *inputs* before anything is
  computed, so masked entries contribute nothing to the value and nothing to
  the gradient even when they hold NaN or inf.  A fully masked batch gives 0.

Per-example shape (what ``reduction="none"`` returns, and the shape
``weights``/``where`` refer to):

* elementwise losses (all regression losses, ``binary_cross_entropy``,
  ``binary_focal``, binary ``hinge``/``squared_hinge``): ``predictions.shape``.
  Nothing is averaged over a trailing feature axis (unlike Keras); ``"mean"``
  is the mean over all unmasked elements.
* distribution losses (``categorical_cross_entropy``, ``categorical_focal``,
  multiclass ``hinge``, ``kl_divergence``, ``cosine_distance``):
  ``predictions.shape`` without ``axis``.

``weights`` and ``where`` must have exactly the per-example shape, or a prefix
of it (e.g. ``(N,)`` for per-example values of shape ``(N, D)``; they are then
broadcast over the trailing axes), or be scalars.  Any other shape is a
``ValueError``: nothing is ever broadcast silently.

Precision: float16/bfloat16 inputs are computed in float32 and the result is
returned in the dtype of ``predictions``; float32/float64 are computed as is.

Integer class ids outside ``[0, num_classes)`` cannot raise inside ``jit``.
Policy: they are treated exactly like ``ignore_index`` -- a masked zero (no
value, no gradient, not counted by ``"mean"``).  Validate eagerly with
:func:`check_labels`, which also works under ``jax.experimental.checkify``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

Array = jax.Array

__all__ = [
    "mean_squared_error",
    "mse",
    "mean_absolute_error",
    "mae",
    "huber",
    "smooth_l1",
    "log_cosh",
    "mean_squared_log_error",
    "msle",
    "mean_absolute_percentage_error",
    "mape",
    "poisson",
    "gaussian_nll",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "focal",
    "binary_focal",
    "categorical_focal",
    "hinge",
    "squared_hinge",
    "kl_divergence",
    "cosine_distance",
    "check_labels",
    "get",
    "names",
]

_REDUCTIONS = ("mean", "sum", "none")


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
):
    """Driver for losses whose per-example shape is ``predictions.shape``.

    ``fn(p, t, *extra)`` computes the elementwise loss in the compute dtype.
    ``extra`` are additional arrays of the same shape (e.g. a variance) that
    are masked like the inputs.
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
    cdt = _compute_dtype(p, t, *[e for e in extra if e is not None])
    arrays = _mask_inputs(mask, p, t, *extra) if mask is not None else (p, t, *extra)
    arrays = [None if a is None else a.astype(cdt) for a in arrays]
    values = fn(*arrays)
    return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=p.dtype)


def _abs(x):
    """|x| with derivative sign(x), i.e. 0 at 0 (jnp.abs' gives 1 at 0)."""
    return x * jnp.sign(x)


# ----------------------------------------------------------------------------
# Regression losses (per-example shape = predictions.shape).
# ----------------------------------------------------------------------------


def mean_squared_error(predictions, targets, *, weights=None, where=None, reduction="mean") -> Array:
    r"""Mean squared error, :math:`(p - t)^2` (the L2 / quadratic loss).

    Use for regression with roughly Gaussian noise; sensitive to outliers
    (use :func:`huber` when the data has outliers).  Note optax's ``l2_loss``
    is half of this; ``optax.squared_error`` and torch ``MSELoss`` equal it.
    """
    return _elementwise(
        "mean_squared_error", lambda p, t: jnp.square(p - t), predictions, targets, weights, where, reduction
    )


def mean_absolute_error(predictions, targets, *, weights=None, where=None, reduction="mean") -> Array:
    r"""Mean absolute error, :math:`|p - t|` (L1 loss).

    Robust to outliers, estimates the conditional median.  Its gradient at
    :math:`p = t` is 0 (the subgradient torch uses), not jax's ``abs'(0) = 1``.
    """
    return _elementwise(
        "mean_absolute_error", lambda p, t: _abs(p - t), predictions, targets, weights, where, reduction
    )


def _huber_values(e, delta):
    a = _abs(e)
    quad = jnp.minimum(a, delta)
    # 0.5 q^2 + delta (|e| - q): continuous with continuous derivative at delta.
    return 0.5 * jnp.square(quad) + delta * (a - quad)


def huber(predictions, targets, *, delta=1.0, weights=None, where=None, reduction="mean") -> Array:
    r"""Huber loss (Huber, 1964).

  .. math::
    \ell(e) = \begin{cases} \tfrac12 e^2 & |e| \le \delta \\
      \delta (|e| - \tfrac12 \delta) & |e| > \delta \end{cases},
    \quad e = p - t.

  Quadratic near zero, linear in the tails: regression when the data has
  outliers.  Value and first derivative are continuous at :math:`|e|=\delta`.
  ``delta`` must be > 0.
  """
    _check_positive(delta, "delta", "huber")
    return _elementwise(
        "huber", lambda p, t: _huber_values(p - t, delta), predictions, targets, weights, where, reduction
    )


def smooth_l1(predictions, targets, *, beta=1.0, weights=None, where=None, reduction="mean") -> Array:
    r"""Smooth L1 loss (Girshick, Fast R-CNN 2015; torch ``SmoothL1Loss``).

  .. math::
    \ell(e) = \begin{cases} \tfrac{1}{2\beta} e^2 & |e| < \beta \\
      |e| - \tfrac12 \beta & \text{otherwise} \end{cases}
    = \mathrm{huber}_\beta(e) / \beta.

  ``beta`` must be > 0 (torch's ``beta=0`` is :func:`mean_absolute_error`).
  """
    _check_positive(beta, "beta", "smooth_l1")
    return _elementwise(
        "smooth_l1", lambda p, t: _huber_values(p - t, beta) / beta, predictions, targets, weights, where, reduction
    )


_LOG2 = math.log(2.0)
_LOGCOSH_SWITCH = 2.0


@jax.custom_jvp
def _log_cosh_values(x):
    """log(cosh(x)) accurate for tiny and huge |x|, finite everywhere."""
    a = _abs(x)
    small = a < _LOGCOSH_SWITCH
    a_s = jnp.where(small, a, jnp.zeros((), a.dtype))
    a_l = jnp.where(small, jnp.full((), _LOGCOSH_SWITCH, a.dtype), a)
    # cosh(a) - 1 = -expm1(a) * expm1(-a) / 2: no cancellation for tiny a.
    v_small = jnp.log1p(-jnp.expm1(a_s) * jnp.expm1(-a_s) / 2)
    # log cosh a = a - log 2 + log1p(exp(-2a)): no overflow for huge a.
    v_large = a_l - _LOG2 + jnp.log1p(jnp.exp(-2 * a_l))
    return jnp.where(small, v_small, v_large)


@_log_cosh_values.defjvp
def _log_cosh_jvp(primals, tangents):
    (x,), (x_dot,) = primals, tangents
    return _log_cosh_values(x), jnp.tanh(x) * x_dot


def log_cosh(predictions, targets, *, weights=None, where=None, reduction="mean") -> Array:
    r"""Log-cosh loss, :math:`\log\cosh(p - t)`.

    About :math:`e^2/2` for small errors and :math:`|e| - \log 2` for large
    ones: a smooth (twice differentiable) Huber.  Computed with
    :math:`\log(1 + \tfrac12(-\mathrm{expm1}(|e|)\,\mathrm{expm1}(-|e|)))` for
    :math:`|e| < 2` and :math:`|e| - \log 2 + \log(1+e^{-2|e|})` beyond, so it
    is exact for tiny and huge errors in every float dtype; its derivative is
    :math:`\tanh(e)`.
    Reference: Chen et al. 2019, Log hyperbolic cosine loss.
    """
    return _elementwise(
        "log_cosh", lambda p, t: _log_cosh_values(p - t), predictions, targets, weights, where, reduction
    )


def mean_squared_log_error(predictions, targets, *, weights=None, where=None, reduction="mean") -> Array:
    r"""Mean squared log error, :math:`(\log(1+p) - \log(1+t))^2`.

    For non-negative targets spanning orders of magnitude (relative errors).
    Like Keras, ``p`` and ``t`` are clipped at 0 first (negative predictions
    get zero gradient).
    """

    def fn(p, t):
        zero = jnp.zeros((), p.dtype)
        return jnp.square(jnp.log1p(jnp.maximum(p, zero)) - jnp.log1p(jnp.maximum(t, zero)))

    return _elementwise("mean_squared_log_error", fn, predictions, targets, weights, where, reduction)


def mean_absolute_percentage_error(predictions, targets, *, weights=None, where=None, reduction="mean") -> Array:
    r"""Mean absolute percentage error,
    :math:`100\,|p - t| / \max(|t|, \epsilon)`.

    ``epsilon`` is the machine epsilon of the predictions' dtype (Keras uses
    1e-7); targets at 0 make this loss huge by definition -- prefer MAE there.
    """
    eps = _dtype_eps(_float_array(predictions, "predictions", "mean_absolute_percentage_error").dtype)

    def fn(p, t):
        return 100.0 * _abs(p - t) / jnp.maximum(_abs(t), eps)

    return _elementwise("mean_absolute_percentage_error", fn, predictions, targets, weights, where, reduction)


def poisson(predictions, targets, *, log_input=True, weights=None, where=None, reduction="mean") -> Array:
    r"""Poisson negative log-likelihood (without the constant :math:`\log t!`).

    ``log_input=True`` (default, torch's ``PoissonNLLLoss`` default):
    predictions are log-rates :math:`x`, loss :math:`e^x - t x`.
    ``log_input=False`` (Keras ``poisson``): predictions are rates :math:`\mu`,
    loss :math:`\mu - t \log(\max(\mu, 0) + \epsilon)` with the dtype's epsilon.
    For count data.  Not zero at :math:`\mu = t` (its minimum is
    :math:`t - t\log t`).
    """
    eps = _dtype_eps(jnp.asarray(predictions).dtype)

    def fn(p, t):
        if log_input:
            return jnp.exp(p) - t * p
        return p - t * jnp.log(jnp.maximum(p, jnp.zeros((), p.dtype)) + eps)

    return _elementwise("poisson", fn, predictions, targets, weights, where, reduction)


def gaussian_nll(
    predictions,
    targets,
    *,
    variance=None,
    log_variance=None,
    full=False,
    eps=1e-6,
    weights=None,
    where=None,
    reduction="mean",
) -> Array:
    r"""Gaussian negative log-likelihood (torch ``GaussianNLLLoss``).

    .. math::
      \tfrac12\left(\log \sigma^2 + (p - t)^2 / \sigma^2\right)
      \;[+\; \tfrac12 \log 2\pi \text{ if full}]

    Give exactly one of ``variance`` (clamped at ``eps`` as in torch) or
    ``log_variance`` (unclamped, numerically nicer), each of ``predictions``'
    shape or a scalar (homoscedastic).  For regression with predicted
    uncertainty.
    """
    name = "gaussian_nll"
    if (variance is None) == (log_variance is None):
        raise ValueError(f"{name}: give exactly one of variance= or log_variance= (the predicted spread).")
    _check_positive(eps, "eps", name)
    p = _float_array(predictions, "predictions", name)
    _check_same_shape(p, _float_array(targets, "targets", name), "predictions", "targets", name)
    var = variance if log_variance is None else log_variance
    var_name = "variance" if log_variance is None else "log_variance"
    var = _float_array(var, var_name, name)
    if var.ndim == 0:
        var = jnp.broadcast_to(var, p.shape)
    _check_same_shape(p, var, "predictions", var_name, name)
    const = 0.5 * math.log(2 * math.pi) if full else 0.0

    def fn(p, t, v):
        sq = jnp.square(p - t)
        if log_variance is None:
            v = jnp.maximum(v, eps)
            return 0.5 * (jnp.log(v) + sq / v) + const
        return 0.5 * (v + sq * jnp.exp(-v)) + const

    return _elementwise(name, fn, predictions, targets, weights, where, reduction, extra=(var,))


# ----------------------------------------------------------------------------
# Binary classification (per-example shape = predictions.shape).
# ----------------------------------------------------------------------------


def _binary_log_probs(x, from_logits, eps):
    """(log p, log(1 - p)) from logits, or from probabilities with an eps.

    From probabilities: ``log((p + eps) / (1 + eps))``: finite at p = 0 with
    gradient ``1 / eps`` (not 0 as with clipping), exactly 0 at p = 1.
    """
    if from_logits:
        return jax.nn.log_sigmoid(x), jax.nn.log_sigmoid(-x)
    one = jnp.ones((), x.dtype)
    return (jnp.log((x + eps) / (one + eps)), jnp.log((one - x + eps) / (one + eps)))


def _smooth_binary(y, label_smoothing, is_zero):
    if is_zero:
        return y
    return y * (1.0 - label_smoothing) + 0.5 * label_smoothing


def _suffix_param(value, arg, shape, loss_name):
    """A parameter that is a scalar or matches trailing axes of ``shape``."""
    if value is None:
        return None
    v = jnp.asarray(value)
    if v.ndim > len(shape) or (v.ndim and v.shape != tuple(shape[-v.ndim :])):
        raise ValueError(
            f"{loss_name}: {arg} has shape {v.shape}; it must be a scalar or match "
            f"the trailing axes of predictions' shape {tuple(shape)}."
        )
    return v


def binary_cross_entropy(
    predictions,
    labels,
    *,
    from_logits=True,
    label_smoothing=0.0,
    pos_weight=None,
    weights=None,
    where=None,
    reduction="mean",
) -> Array:
    r"""Binary (sigmoid) cross-entropy, elementwise.

    .. math::
      -\left[w_+\, y \log \sigma(x) + (1 - y) \log(1 - \sigma(x))\right]

    For two-class (and multi-label) problems.  ``labels`` in ``[0, 1]`` (float,
    int or bool), same shape as ``predictions``.  ``from_logits=True`` (default)
    takes logits and uses ``log_sigmoid`` (finite value and gradient at
    ``|x| = 1e4``); ``from_logits=False`` takes probabilities and uses
    ``log((p + eps)/(1 + eps))`` with ``eps`` the dtype's machine epsilon, so
    ``p`` of exactly 0 or 1 gives a finite value and a non-zero gradient.
    ``label_smoothing`` moves labels toward 0.5 (Keras):
    ``y (1 - s) + s / 2``.  ``pos_weight`` (torch) multiplies the positive term;
    a scalar or trailing-axes shape (e.g. ``(C,)`` for multi-label).
    """
    name = "binary_cross_entropy"
    is_zero = _check_label_smoothing(label_smoothing, name)
    p = _float_array(predictions, "predictions", name)
    pw = _suffix_param(pos_weight, "pos_weight", p.shape, name)
    eps = _dtype_eps(p.dtype)

    def fn(x, y):
        y = _smooth_binary(y, label_smoothing, is_zero)
        log_p, log_q = _binary_log_probs(x, from_logits, eps)
        pos = y * log_p if pw is None else pw.astype(x.dtype) * y * log_p
        return -(pos + (1.0 - y) * log_q)

    return _elementwise(name, fn, p, labels, weights, where, reduction, integer_targets=True)


def _log1m_exp(log_x):
    """log(1 - exp(log_x)) for log_x <= 0 (Maechler 2012)."""
    near0 = log_x > -_LOG2
    a = jnp.where(near0, log_x, jnp.full((), -1.0, log_x.dtype))
    b = jnp.where(near0, jnp.full((), -1.0, log_x.dtype), log_x)
    return jnp.where(near0, jnp.log(-jnp.expm1(a)), jnp.log1p(-jnp.exp(b)))


def binary_focal(
    predictions,
    labels,
    *,
    gamma=2.0,
    alpha=None,
    from_logits=True,
    label_smoothing=0.0,
    weights=None,
    where=None,
    reduction="mean",
) -> Array:
    r"""Binary (sigmoid) focal loss (Lin et al. 2017, RetinaNet).

    .. math::
      \alpha_t (1 - p_t)^\gamma \cdot \mathrm{BCE}(x, y),\quad
      1 - p_t = y (1 - p) + (1 - y) p,\ \alpha_t = \alpha y + (1-\alpha)(1-y)

    Down-weights easy examples: class imbalance, dense detection.  The
    modulating factor is computed in log space, so gradients stay finite for
    ``gamma < 1`` and logits of ``+-1e4``.  ``alpha=None`` means no class
    balancing (optax default; torchvision/Keras use 0.25).
    """
    name = "binary_focal"
    _check_nonnegative(gamma, "gamma", name)
    is_zero = _check_label_smoothing(label_smoothing, name)
    p = _float_array(predictions, "predictions", name)
    eps = _dtype_eps(p.dtype)

    def fn(x, y):
        y = _smooth_binary(y, label_smoothing, is_zero)
        log_p, log_q = _binary_log_probs(x, from_logits, eps)
        ce = -(y * log_p + (1.0 - y) * log_q)
        # log(1 - p_t) = log(y q + (1 - y) p), computed without leaving log space.
        log_1m_pt = jnp.logaddexp(
            jnp.log(jnp.where(y > 0, y, 1.0)) + log_q, jnp.log(jnp.where(y < 1, 1.0 - y, 1.0)) + log_p
        )
        log_1m_pt = jnp.where(y <= 0, log_p, jnp.where(y >= 1, log_q, log_1m_pt))
        loss = jnp.exp(gamma * log_1m_pt) * ce
        if alpha is not None:
            loss = (alpha * y + (1.0 - alpha) * (1.0 - y)) * loss
        return loss

    return _elementwise(name, fn, p, labels, weights, where, reduction, integer_targets=True)


# ----------------------------------------------------------------------------
# Categorical classification (per-example shape = predictions.shape w/o axis).
# ----------------------------------------------------------------------------


def _categorical(
    loss_name,
    predictions,
    labels,
    *,
    from_logits,
    label_smoothing,
    class_weights,
    ignore_index,
    axis,
    weights,
    where,
    reduction,
    gamma=None,
    alpha=None,
):
    """Shared core of categorical cross-entropy and categorical focal loss.

    With per-class terms ``T_k = c_k a_k (1 - p_k)^gamma log p_k`` (``c`` class
    weights, ``a`` focal alpha, ``gamma=None`` meaning no focal factor) the loss
    is ``-sum_k y'_k T_k`` with the smoothed target
    ``y' = (1 - s) y + s u`` and ``u`` uniform over the classes whose logit is
    not ``-inf``.  For integer ids this is evaluated as
    ``-(1 - s) T_y - s mean_u(T)`` without building a one-hot.
    """
    _check_reduction(reduction, loss_name)
    is_zero = _check_label_smoothing(label_smoothing, loss_name)
    x = _float_array(predictions, "predictions", loss_name)
    if x.ndim == 0:
        raise ValueError(f"{loss_name}: predictions must have a class axis, got a scalar.")
    ax = _canonical_axis(axis, x.ndim, loss_name)
    num_classes = x.shape[ax]
    if num_classes < 2:
        raise ValueError(
            f"{loss_name}: predictions of shape {x.shape} have {num_classes} "
            f"class(es) along axis {ax}; a softmax needs at least 2 (for a single "
            "logit per example use binary_cross_entropy / binary_focal)."
        )
    y = jnp.asarray(labels)
    example_shape = x.shape[:ax] + x.shape[ax + 1 :]
    if y.ndim == x.ndim - 1:
        integer = True
        if not jnp.issubdtype(y.dtype, jnp.integer):
            raise TypeError(
                f"{loss_name}: labels of shape {y.shape} (predictions' shape "
                f"{x.shape} without axis {ax}) are integer class ids and must have "
                f"an integer dtype, got {y.dtype}."
            )
        if y.shape != example_shape:
            raise ValueError(
                f"{loss_name}: predictions have shape {x.shape}; integer labels "
                f"must have shape {example_shape} (predictions without axis {ax}), "
                f"got {y.shape}."
            )
    elif y.ndim == x.ndim:
        integer = False
        if ignore_index is not None:
            raise ValueError(
                f"{loss_name}: ignore_index needs integer class ids; got labels with the shape of predictions."
            )
        if not (jnp.issubdtype(y.dtype, jnp.floating) or jnp.issubdtype(y.dtype, jnp.integer) or y.dtype == jnp.bool_):
            raise TypeError(f"{loss_name}: labels have unsupported dtype {y.dtype}.")
        if y.shape != x.shape:
            raise ValueError(
                f"{loss_name}: predictions have shape {x.shape} but labels have "
                f"shape {y.shape}; labels must be integer ids of shape "
                f"{example_shape} or probabilities of shape {x.shape}."
            )
    else:
        raise ValueError(
            f"{loss_name}: predictions have shape {x.shape} but labels have shape "
            f"{y.shape}; labels must be integer ids of shape {example_shape} or "
            f"probabilities of shape {x.shape}."
        )
    cw = None
    if class_weights is not None:
        cw = jnp.asarray(class_weights)
        if cw.shape != (num_classes,):
            raise ValueError(
                f"{loss_name}: class_weights has shape {cw.shape}, expected ({num_classes},) (one per class)."
            )
    al = None
    if alpha is not None:
        al = jnp.asarray(alpha)
        if al.shape not in ((), (num_classes,)):
            raise ValueError(f"{loss_name}: alpha has shape {al.shape}, expected a scalar or ({num_classes},).")

    mask = _per_example(where, "where", example_shape, loss_name, is_mask=True)
    w = _per_example(weights, "weights", example_shape, loss_name, is_mask=False)
    if integer:
        valid = (y >= 0) & (y < num_classes)  # out of range -> masked zero
        if ignore_index is not None:
            valid = valid & (y != ignore_index)
        mask = valid if mask is None else mask & valid
    cdt = _compute_dtype(x) if integer else _compute_dtype(x, *([y] if jnp.issubdtype(y.dtype, jnp.floating) else []))
    x = jnp.moveaxis(_mask_inputs(mask, x, axis=ax), ax, -1).astype(cdt)
    if integer:
        y = jnp.where(mask, y, 0)
    else:
        y = jnp.moveaxis(_mask_inputs(mask, y, axis=ax), ax, -1).astype(cdt)
    eps = _dtype_eps(jnp.asarray(predictions).dtype)

    # Log-probabilities and (for focal) log(1 - p), shape (..., K).
    if from_logits:
        finite = x != -jnp.inf  # NaN counts as finite here, so it propagates
        logp = jax.nn.log_softmax(x, axis=-1)
        # Safe stand-in for -inf classes (their terms are zeroed below); -1 keeps
        # log(1 - p) and its gradient finite there.
        logp = jnp.where(finite, logp, jnp.full((), -1.0, cdt))
    else:
        finite = None
        one = jnp.ones((), cdt)
        logp = jnp.log((x + eps) / (one + eps))
    terms = logp
    if gamma is not None:
        if from_logits:
            # For the top class 1 - p = sum of the others: exact even when p == 1.
            top = jnp.arange(num_classes) == jnp.argmax(x, axis=-1)[..., None]
            lse = jax.nn.logsumexp(x, axis=-1, keepdims=True)
            lse_others = jax.nn.logsumexp(jnp.where(top, -jnp.inf, x), axis=-1, keepdims=True)
            log1mp = jnp.where(top, lse_others - lse, _log1m_exp(jnp.where(top, -1.0, logp)))
        else:
            one = jnp.ones((), cdt)
            log1mp = jnp.log((one - x + eps) / (one + eps))
        terms = jnp.exp(gamma * log1mp) * terms
    if al is not None:
        terms = al.astype(cdt) * terms
    if cw is not None:
        terms = cw.astype(cdt) * terms
    if finite is not None:
        terms = jnp.where(finite, terms, jnp.zeros((), cdt))

    def smoothing_mean(t):
        if finite is None:
            return jnp.mean(t, axis=-1)
        n = jnp.sum(finite, axis=-1).astype(cdt)
        return jnp.sum(t, axis=-1) / jnp.maximum(n, 1)

    if integer:
        picked = jnp.take_along_axis(terms, y[..., None], axis=-1)[..., 0]
        if from_logits:
            # A -inf logit on the true class: the loss is +inf, not 0.
            pick_finite = jnp.take_along_axis(finite, y[..., None], axis=-1)[..., 0]
            picked = jnp.where(pick_finite, picked, -jnp.inf)
        if is_zero:
            values = -picked
        else:
            s = jnp.asarray(label_smoothing, cdt)
            values = -((1.0 - s) * picked + s * smoothing_mean(terms))
        normalizer = None if cw is None else cw.astype(cdt)[y]
    else:
        target = y
        if not is_zero:
            s = jnp.asarray(label_smoothing, cdt)
            if finite is None:
                u = jnp.full((), 1.0 / num_classes, cdt)
            else:
                n = jnp.maximum(jnp.sum(finite, axis=-1, keepdims=True), 1)
                u = finite.astype(cdt) / n.astype(cdt)
            target = (1.0 - s) * y + s * u
        nz = target != 0
        contrib = jnp.where(nz, target * terms, jnp.zeros((), cdt))
        if finite is not None:
            # Probability mass on a -inf logit: the loss is +inf.
            contrib = jnp.where(nz & ~finite, -jnp.inf, contrib)
        values = -jnp.sum(contrib, axis=-1)
        normalizer = None if cw is None else jnp.sum(cw.astype(cdt) * y, axis=-1)
    return _reduce(
        values,
        weights=w,
        mask=mask,
        reduction=reduction,
        out_dtype=jnp.asarray(predictions).dtype,
        normalizer=normalizer,
    )


def categorical_cross_entropy(
    predictions,
    labels,
    *,
    from_logits=True,
    label_smoothing=0.0,
    class_weights=None,
    ignore_index=None,
    axis=-1,
    weights=None,
    where=None,
    reduction="mean",
) -> Array:
    r"""Categorical (softmax) cross-entropy for many classes.

    .. math::
      -\sum_k c_k\, y'_k \log \mathrm{softmax}(x)_k,\quad
      y' = (1 - s)\, y + s\, u

    ``labels`` are integer class ids of shape ``predictions.shape`` without
    ``axis`` (sparse, torch ``CrossEntropyLoss``) or probabilities / one-hot of
    ``predictions.shape``.  ``label_smoothing`` ``s`` moves the target toward the
    uniform distribution ``u`` over the classes (Keras/torch/optax), and works
    for integer ids without building a one-hot.

    * ``from_logits=True`` (default): a ``-inf`` logit marks an impossible class
      (masked vocabulary): where its label is 0 it contributes exactly 0 to the
      value and gradient (also under ``jax.jacfwd``), and label smoothing
      spreads its mass only over classes with finite logits.
    * ``from_logits=False``: probabilities, ``log((p + eps)/(1 + eps))`` with
      the dtype's epsilon (finite at p = 0, non-zero gradient).  Not
      renormalized.
    * ``class_weights`` (torch ``weight``), shape ``(K,)``: multiplies each
      class's term; ``"mean"`` then divides by the summed class weight of the
      true classes (torch's convention for integer ids, used for both label
      kinds so that ids and one-hot agree).
    * ``ignore_index``: ids equal to it are masked (zero value and gradient, not
      counted).  Ids outside ``[0, K)`` are masked the same way (they cannot
      raise under jit); use :func:`check_labels` to validate them.

    Reference: Goodfellow et al., Deep Learning, 2016, sec. 6.2.2.3; label
    smoothing: Szegedy et al. 2016.
    """
    return _categorical(
        "categorical_cross_entropy",
        predictions,
        labels,
        from_logits=from_logits,
        label_smoothing=label_smoothing,
        class_weights=class_weights,
        ignore_index=ignore_index,
        axis=axis,
        weights=weights,
        where=where,
        reduction=reduction,
    )


def categorical_focal(
    predictions,
    labels,
    *,
    gamma=2.0,
    alpha=None,
    from_logits=True,
    label_smoothing=0.0,
    class_weights=None,
    ignore_index=None,
    axis=-1,
    weights=None,
    where=None,
    reduction="mean",
) -> Array:
    r"""Categorical (softmax) focal loss (Lin et al. 2017; Keras
    ``CategoricalFocalCrossentropy``).

    .. math::
      -\sum_k \alpha_k\, c_k\, y'_k (1 - p_k)^\gamma \log p_k

    Same labels and options as :func:`categorical_cross_entropy`; ``alpha`` is a
    scalar or per-class ``(K,)`` multiplier (not part of the ``"mean"``
    denominator).  ``1 - p_k`` is computed from the logits of the other classes
    for the top class, so ``gamma < 1`` and logits of ``+-1e4`` keep finite
    gradients.
    """
    _check_nonnegative(gamma, "gamma", "categorical_focal")
    return _categorical(
        "categorical_focal",
        predictions,
        labels,
        from_logits=from_logits,
        label_smoothing=label_smoothing,
        class_weights=class_weights,
        ignore_index=ignore_index,
        axis=axis,
        weights=weights,
        where=where,
        reduction=reduction,
        gamma=gamma,
        alpha=alpha,
    )


def focal(predictions, labels, *, multiclass=False, **kwargs) -> Array:
    """Focal loss: :func:`binary_focal` (default) or, with ``multiclass=True``,
    :func:`categorical_focal`; all keyword arguments are passed on."""
    if multiclass:
        return categorical_focal(predictions, labels, **kwargs)
    return binary_focal(predictions, labels, **kwargs)


# ----------------------------------------------------------------------------
# Margin losses.
# ----------------------------------------------------------------------------


def _hinge(loss_name, power, predictions, labels, weights, where, reduction, axis):
    _check_reduction(reduction, loss_name)
    x = _float_array(predictions, "predictions", loss_name)
    y = _label_array(labels, "labels", loss_name)
    if x.ndim >= 1 and y.ndim == x.ndim - 1:
        # Multiclass (Crammer & Singer 2001): max(0, 1 + max_{j != y} x_j - x_y).
        if not jnp.issubdtype(y.dtype, jnp.integer):
            raise TypeError(
                f"{loss_name}: labels of shape {y.shape} are class ids and must be integers, got {y.dtype}."
            )
        ax = _canonical_axis(axis, x.ndim, loss_name)
        k = x.shape[ax]
        example_shape = x.shape[:ax] + x.shape[ax + 1 :]
        if y.shape != example_shape:
            raise ValueError(
                f"{loss_name}: predictions have shape {x.shape}; "
                f"integer labels must have shape {example_shape}, got "
                f"{y.shape}."
            )
        mask = _per_example(where, "where", example_shape, loss_name, is_mask=True)
        w = _per_example(weights, "weights", example_shape, loss_name, is_mask=False)
        valid = (y >= 0) & (y < k)
        mask = valid if mask is None else mask & valid
        cdt = _compute_dtype(x)
        xs = jnp.moveaxis(_mask_inputs(mask, x, axis=ax), ax, -1).astype(cdt)
        ys = jnp.where(mask, y, 0)
        is_true = jnp.arange(k) == ys[..., None]
        true_score = jnp.sum(jnp.where(is_true, xs, 0), axis=-1)
        other = jnp.max(jnp.where(is_true, -jnp.inf, xs), axis=-1)
        margin = jnp.maximum(0.0, 1.0 + other - true_score)
        values = margin**power
        return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=x.dtype)

    def fn(s, t):
        t = jnp.where(t == 0, -1.0, t)  # {0, 1} labels -> {-1, +1}
        return jnp.maximum(0.0, 1.0 - t * s) ** power

    return _elementwise(loss_name, fn, x, y, weights, where, reduction, integer_targets=True)


def hinge(predictions, labels, *, axis=-1, weights=None, where=None, reduction="mean") -> Array:
    r"""Hinge loss (SVM margin loss).

    Binary (labels of ``predictions``' shape, in ``{-1, +1}``; ``0`` is read as
    ``-1`` so ``{0, 1}`` labels work too): :math:`\max(0, 1 - y x)`.
    Multiclass (integer ids of shape ``predictions.shape`` without ``axis``),
    Crammer & Singer 2001: :math:`\max(0, 1 + \max_{j \ne y} x_j - x_y)`
    (optax ``multiclass_hinge_loss``, Keras ``categorical_hinge``).
    """
    return _hinge("hinge", 1, predictions, labels, weights, where, reduction, axis)


def squared_hinge(predictions, labels, *, axis=-1, weights=None, where=None, reduction="mean") -> Array:
    r"""Squared hinge, :math:`\max(0, 1 - y x)^2` (binary) or the square of
    the multiclass margin; differentiable at the margin.  Labels as in
    :func:`hinge`."""
    return _hinge("squared_hinge", 2, predictions, labels, weights, where, reduction, axis)


# ----------------------------------------------------------------------------
# Distribution / embedding losses.
# ----------------------------------------------------------------------------


def _distribution_inputs(loss_name, predictions, targets, axis, weights, where, reduction):
    _check_reduction(reduction, loss_name)
    p = _float_array(predictions, "predictions", loss_name)
    t = _float_array(targets, "targets", loss_name)
    _check_same_shape(p, t, "predictions", "targets", loss_name)
    if p.ndim == 0:
        raise ValueError(f"{loss_name}: predictions must have at least one axis.")
    ax = _canonical_axis(axis, p.ndim, loss_name)
    example_shape = p.shape[:ax] + p.shape[ax + 1 :]
    mask = _per_example(where, "where", example_shape, loss_name, is_mask=True)
    w = _per_example(weights, "weights", example_shape, loss_name, is_mask=False)
    cdt = _compute_dtype(p, t)
    ps, ts = _mask_inputs(mask, p, t, axis=ax) if mask is not None else (p, t)
    ps = jnp.moveaxis(ps, ax, -1).astype(cdt)
    ts = jnp.moveaxis(ts, ax, -1).astype(cdt)
    return p, ps, ts, mask, w


def kl_divergence(
    predictions, targets, *, from_logits=True, axis=-1, weights=None, where=None, reduction="mean"
) -> Array:
    r"""Kullback-Leibler divergence :math:`KL(t \,\|\, p) = \sum_k t_k
    (\log t_k - \log p_k)`, with :math:`0 \log 0 = 0`.

    ``from_logits=True``: ``log p = log_softmax(predictions)``, so logits *and*
    log-probabilities (optax/torch inputs) both work.  ``from_logits=False``:
    probabilities (Keras), ``log((p + eps)/(1 + eps))``.  ``targets`` are
    probabilities.  For distillation / matching distributions.  Per example
    (torch's ``"batchmean"``, not its element mean).
    """
    name = "kl_divergence"
    p, ps, ts, mask, w = _distribution_inputs(name, predictions, targets, axis, weights, where, reduction)
    eps = _dtype_eps(p.dtype)
    if from_logits:
        logp = jax.nn.log_softmax(ps, axis=-1)
    else:
        logp = jnp.log((ps + eps) / (1.0 + eps))
    pos = ts != 0  # (NaN targets propagate)
    log_t = jnp.log(jnp.where(pos, ts, 1.0))
    logp = jnp.where(pos, logp, 0.0)
    values = jnp.sum(jnp.where(pos, ts * (log_t - logp), 0.0), axis=-1)
    return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=p.dtype)


def cosine_distance(
    predictions, targets, *, axis=-1, epsilon=None, weights=None, where=None, reduction="mean"
) -> Array:
    r"""Cosine distance :math:`1 - \frac{p \cdot t}{\max(\|p\|, \epsilon)
    \max(\|t\|, \epsilon)}`.

    For embeddings / directions where scale does not matter.  ``epsilon``
    defaults to the machine epsilon of the predictions' dtype; a zero vector
    gives distance 1 with a finite gradient (optax gives NaN).  Range [0, 2].
    """
    name = "cosine_distance"
    p, ps, ts, mask, w = _distribution_inputs(name, predictions, targets, axis, weights, where, reduction)
    eps = _dtype_eps(p.dtype) if epsilon is None else epsilon
    _check_positive(eps, "epsilon", name)

    def unit(v):
        n2 = jnp.sum(jnp.square(v), axis=-1, keepdims=True)
        # rsqrt(max(|v|^2, eps^2)): the max keeps the gradient finite at v = 0.
        return v * jax.lax.rsqrt(jnp.maximum(n2, jnp.square(eps)))

    values = 1.0 - jnp.sum(unit(ps) * unit(ts), axis=-1)
    return _reduce(values, weights=w, mask=mask, reduction=reduction, out_dtype=p.dtype)


# ----------------------------------------------------------------------------
# Label validation and registry.
# ----------------------------------------------------------------------------


def check_labels(labels, num_classes: int, *, ignore_index=None) -> Array:
    """Validates integer class ids against ``[0, num_classes)``.

    Eagerly (concrete labels) raises ``ValueError`` listing the offending
    values.  Under tracing it emits a :func:`jax.experimental.checkify.check`,
    so wrap the jitted function with ``checkify.checkify`` and call
    ``err.throw()``.  Labels equal to ``ignore_index`` are allowed.  Returns the
    labels unchanged.
    """
    y = jnp.asarray(labels) if not isinstance(labels, jax.core.Tracer) else labels
    if not jnp.issubdtype(y.dtype, jnp.integer):
        raise TypeError(f"check_labels: labels must be integer class ids, got dtype {y.dtype}.")
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"check_labels: num_classes must be a positive int, got {num_classes!r}.")
    bad = (y < 0) | (y >= num_classes)
    if ignore_index is not None:
        bad = bad & (y != ignore_index)
    concrete = _concrete(labels)
    if concrete is not None:
        bad_np = np.asarray(bad)
        if bad_np.any():
            idx = np.argwhere(bad_np)
            vals = np.unique(np.asarray(concrete)[bad_np])
            raise ValueError(
                f"check_labels: {int(bad_np.sum())} label(s) outside [0, "
                f"{num_classes}) (values {vals[:10].tolist()}, first at index "
                f"{tuple(int(i) for i in idx[0])}); losses would mask them as "
                "ignored."
            )
        return y
    checkify.check(
        ~jnp.any(bad),
        "check_labels: {n} label(s) outside [0, " + str(num_classes) + "), e.g. {v}",
        n=jnp.sum(bad),
        v=jnp.max(jnp.where(bad, jnp.abs(y), -1)),
    )
    return y


mse = mean_squared_error
mae = mean_absolute_error
msle = mean_squared_log_error
mape = mean_absolute_percentage_error

_REGISTRY = {
    "mean_squared_error": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "huber": huber,
    "smooth_l1": smooth_l1,
    "log_cosh": log_cosh,
    "mean_squared_log_error": mean_squared_log_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error,
    "poisson": poisson,
    "gaussian_nll": gaussian_nll,
    "binary_cross_entropy": binary_cross_entropy,
    "categorical_cross_entropy": categorical_cross_entropy,
    "focal": focal,
    "binary_focal": binary_focal,
    "categorical_focal": categorical_focal,
    "hinge": hinge,
    "squared_hinge": squared_hinge,
    "kl_divergence": kl_divergence,
    "cosine_distance": cosine_distance,
}

_ALIASES = {
    # regression
    "mse": "mean_squared_error",
    "squared_error": "mean_squared_error",
    "mae": "mean_absolute_error",
    "l1": "mean_absolute_error",
    "huber_loss": "huber",
    "smooth_l1_loss": "smooth_l1",
    "logcosh": "log_cosh",
    "msle": "mean_squared_log_error",
    "mape": "mean_absolute_percentage_error",
    "poisson_nll": "poisson",
    "gaussian_nll_loss": "gaussian_nll",
    # binary
    "bce": "binary_cross_entropy",
    "binary_crossentropy": "binary_cross_entropy",
    "sigmoid_binary_cross_entropy": "binary_cross_entropy",
    "binary_cross_entropy_with_logits": "binary_cross_entropy",
    # categorical
    "cce": "categorical_cross_entropy",
    "ce": "categorical_cross_entropy",
    "cross_entropy": "categorical_cross_entropy",
    "categorical_crossentropy": "categorical_cross_entropy",
    "sparse_categorical_crossentropy": "categorical_cross_entropy",
    "sparse_categorical_cross_entropy": "categorical_cross_entropy",
    "softmax_cross_entropy": "categorical_cross_entropy",
    "softmax_cross_entropy_with_integer_labels": "categorical_cross_entropy",
    "nll": "categorical_cross_entropy",
    # focal
    "focal_loss": "focal",
    "sigmoid_focal_loss": "binary_focal",
    "binary_focal_crossentropy": "binary_focal",
    "categorical_focal_crossentropy": "categorical_focal",
    # margins / distributions
    "hinge_loss": "hinge",
    "multiclass_hinge_loss": "hinge",
    "kld": "kl_divergence",
    "kl_div": "kl_divergence",
    "kl": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
    "cosine": "cosine_distance",
}


def names() -> tuple[str, ...]:
    """All names accepted by :func:`get` (canonical names and aliases)."""
    return tuple(sorted(set(_REGISTRY) | set(_ALIASES)))


def get(name: str) -> Callable[..., Array]:
    """Returns the loss called ``name`` (case-insensitive, ``-`` = ``_``).

    Raises ``ValueError`` listing the valid names for an unknown one.
    """
    if callable(name):
        return name
    if not isinstance(name, str):
        raise TypeError(f"losses.get: name must be a string, got {name!r}.")
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(f"Unknown loss {name!r}; valid names: {', '.join(names())}.")
    return _REGISTRY[key]
