"""Regression losses: per-example shape = ``predictions.shape``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxnn._util import Array
from jaxnn.losses._common import _LOG2, _abs, _check_positive, _check_same_shape, _dtype_eps, _elementwise, _float_array

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


def poisson(predictions, targets, *, log_input=True, full=False, weights=None, where=None, reduction="mean") -> Array:
    r"""Poisson negative log-likelihood (without the constant :math:`\log t!`).

    ``log_input=True`` (default, torch's ``PoissonNLLLoss`` default):
    predictions are log-rates :math:`x`, loss :math:`e^x - t x`.
    ``log_input=False`` (Keras ``poisson``): predictions are rates :math:`\mu`,
    loss :math:`\mu - t \log(\max(\mu, 0) + \epsilon)` with the dtype's epsilon.
    For count data.  Not zero at :math:`\mu = t` (its minimum is
    :math:`t - t\log t`).
    ``full=True`` (torch's ``full``) adds Stirling's approximation of
    :math:`\log t!`, :math:`t \log t - t + \tfrac12 \log(2\pi t)`, for
    targets :math:`t > 1` (0 for :math:`t \le 1`, as in torch).
    """
    eps = _dtype_eps(jnp.asarray(predictions).dtype)

    def fn(p, t):
        if log_input:
            v = jnp.exp(p) - t * p
        else:
            v = p - t * jnp.log(jnp.maximum(p, jnp.zeros((), p.dtype)) + eps)
        if full:
            big = t > 1
            ts = jnp.where(big, t, jnp.full((), 2.0, t.dtype))  # safe log where the term is unused
            v = v + jnp.where(big, ts * jnp.log(ts) - ts + 0.5 * jnp.log(2 * math.pi * ts), jnp.zeros((), t.dtype))
        return v

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


mse = mean_squared_error
mae = mean_absolute_error
msle = mean_squared_log_error
mape = mean_absolute_percentage_error
