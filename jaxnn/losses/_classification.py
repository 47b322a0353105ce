"""Classification losses: binary and categorical cross-entropy, focal, hinge."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn._util import Array
from jaxnn.losses._common import (
    _LOG2,
    _canonical_axis,
    _check_label_smoothing,
    _check_nonnegative,
    _check_reduction,
    _compute_dtype,
    _dtype_eps,
    _elementwise,
    _float_array,
    _in_signed_labels,
    _in_unit_interval,
    _label_array,
    _mask_inputs,
    _per_example,
    _reduce,
)

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


def _binary_value_checks(from_logits):
    """Concrete-input checks of the binary losses: labels (and probabilities) in [0, 1]."""
    checks = [(1, _in_unit_interval, "in [0, 1]", "labels")]
    if not from_logits:
        checks.append((0, _in_unit_interval, "probabilities in [0, 1] (from_logits=False)", "predictions"))
    return tuple(checks)


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

    Domain: labels in ``[0, 1]``; with ``from_logits=False`` predictions in
    ``[0, 1]``.  Concrete (eager) inputs outside it raise ``ValueError``
    (masked entries and NaN are not inspected); under ``jit`` nothing can be
    inspected, so validate with :func:`check_binary_labels` /
    :func:`check_probabilities` (eager or under ``checkify``).
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

    return _elementwise(
        name,
        fn,
        p,
        labels,
        weights,
        where,
        reduction,
        integer_targets=True,
        value_checks=_binary_value_checks(from_logits),
    )


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
    balancing (optax default; torchvision/Keras use 0.25).  Input domain and
    its checks as in :func:`binary_cross_entropy`.
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

    return _elementwise(
        name,
        fn,
        p,
        labels,
        weights,
        where,
        reduction,
        integer_targets=True,
        value_checks=_binary_value_checks(from_logits),
    )


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

    checks = ((1, _in_signed_labels, "in {-1, 0, 1} (0 is read as -1)", "labels"),)
    return _elementwise(loss_name, fn, x, y, weights, where, reduction, integer_targets=True, value_checks=checks)


def hinge(predictions, labels, *, axis=-1, weights=None, where=None, reduction="mean") -> Array:
    r"""Hinge loss (SVM margin loss).

    Binary (labels of ``predictions``' shape, in ``{-1, +1}``; ``0`` is read as
    ``-1`` so ``{0, 1}`` labels work too): :math:`\max(0, 1 - y x)`.
    Multiclass (integer ids of shape ``predictions.shape`` without ``axis``),
    Crammer & Singer 2001: :math:`\max(0, 1 + \max_{j \ne y} x_j - x_y)`
    (optax ``multiclass_hinge_loss``). Keras ``categorical_hinge`` takes the
    max over the non-target logits *and 0* (the target's slot of
    ``(1 - y_true) * y_pred``), so it equals this only when some non-target
    logit is ``>= 0``.  Binary labels outside ``{-1, 0, 1}`` given eagerly
    raise ``ValueError``; validate traced ones with
    ``check_binary_labels(labels, signed=True)``.
    """
    return _hinge("hinge", 1, predictions, labels, weights, where, reduction, axis)


def squared_hinge(predictions, labels, *, axis=-1, weights=None, where=None, reduction="mean") -> Array:
    r"""Squared hinge, :math:`\max(0, 1 - y x)^2` (binary) or the square of
    the multiclass margin; differentiable at the margin.  Labels as in
    :func:`hinge`."""
    return _hinge("squared_hinge", 2, predictions, labels, weights, where, reduction, axis)
