"""Evaluation metrics: each maps ``(predictions, targets)`` to a scalar mean, jit/grad/vmap-clean.

Shapes are checked at the door (they are static under ``jit``), with a ValueError that names both
shapes: a metric never broadcasts ``(N,)`` against ``(N, 1)`` by accident. Results are computed in at
least float32 (bfloat16/float16 inputs are upcast for the reduction) and returned as a 0-d array.

* :func:`accuracy` -- multiclass: ``mean(argmax(predictions, -1) == labels)``.
* :func:`binary_accuracy` -- binary from logits: ``mean((logits > threshold) == (labels > 0.5))``.
* :func:`r2` -- coefficient of determination ``1 - SS_res / SS_tot`` per output column, averaged
  (scikit-learn's ``r2_score`` with ``multioutput="uniform_average"``).

``get(name)`` returns one by name; ``for_task(task)`` the natural one for a :class:`jaxnn.datasets.Dataset`
task.
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["accuracy", "binary_accuracy", "r2", "get", "for_task"]


def _float_dtype(*arrays):
    return jnp.result_type(*(a.dtype for a in arrays), jnp.float32)


def _check_same_shape(fn, a_name, a, b_name, b):
    if a.shape != b.shape:
        raise ValueError(
            f"{fn}: {a_name} shape {a.shape} and {b_name} shape {b.shape} must be equal "
            "(e.g. both (N, 1)); refusing to broadcast"
        )


def _check_floating(name, x):
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {x.dtype}")


def accuracy(predictions, labels):
    """Fraction of rows whose arg-max class equals the label.

    Args:
      predictions: float ``(..., K)`` logits or probabilities, ``K >= 2``.
      labels: integer class ids of shape ``predictions.shape[:-1]``, or one-hot / probability targets of
        ``predictions.shape`` (their arg-max is the label).

    Returns:
      Scalar float32 in [0, 1]: ``mean(argmax(predictions, -1) == labels)``.
    """
    predictions, labels = jnp.asarray(predictions), jnp.asarray(labels)
    _check_floating("predictions", predictions)
    if predictions.ndim < 1 or predictions.shape[-1] < 2:
        raise ValueError(f"accuracy: predictions must have shape (..., K) with K >= 2 classes, got {predictions.shape}")
    if labels.shape == predictions.shape:
        labels = jnp.argmax(labels, axis=-1)
    elif labels.shape == predictions.shape[:-1]:
        if not jnp.issubdtype(labels.dtype, jnp.integer):
            raise TypeError(
                f"accuracy: labels of shape {labels.shape} must be integer class ids, got dtype {labels.dtype}"
            )
    else:
        raise ValueError(
            f"accuracy: labels shape {labels.shape} must be predictions.shape[:-1] = {predictions.shape[:-1]} "
            f"(class ids) or predictions.shape = {predictions.shape} (one-hot); got predictions "
            f"{predictions.shape}"
        )
    return jnp.mean(jnp.argmax(predictions, axis=-1) == labels, dtype=jnp.float32)


def binary_accuracy(logits, labels, *, threshold=0.0):
    """Fraction of rows where ``logits > threshold`` agrees with the 0/1 label.

    Args:
      logits: float array, e.g. ``(N, 1)`` (the default threshold 0 is probability 0.5).
      labels: array of exactly ``logits.shape`` with values in {0, 1} (float, int or bool); a label
        counts as positive when it is > 0.5.
      threshold: decision threshold on the logit scale.

    Returns:
      Scalar float32 in [0, 1].
    """
    logits, labels = jnp.asarray(logits), jnp.asarray(labels)
    _check_floating("logits", logits)
    _check_same_shape("binary_accuracy", "logits", logits, "labels", labels)
    return jnp.mean((logits > threshold) == (labels > 0.5), dtype=jnp.float32)


def r2(predictions, targets):
    r"""Coefficient of determination, averaged over output columns.

    .. math:: R^2_j = 1 - \frac{\sum_i (y_{ij} - \hat y_{ij})^2}{\sum_i (y_{ij} - \bar y_j)^2}

    over the leading (sample) axis, then the mean over the remaining axes (scikit-learn ``r2_score``,
    ``multioutput="uniform_average"``). A constant target column scores 1 when predicted exactly and 0
    otherwise (scikit-learn's ``force_finite=True``), never NaN. 1 is perfect; predicting the mean scores 0;
    it can be negative.

    Args:
      predictions: float ``(N,)`` or ``(N, D)``, ``N >= 2``.
      targets: float of exactly ``predictions.shape``.
    """
    predictions, targets = jnp.asarray(predictions), jnp.asarray(targets)
    _check_floating("predictions", predictions)
    _check_same_shape("r2", "predictions", predictions, "targets", targets)
    if predictions.ndim < 1 or predictions.shape[0] < 2:
        raise ValueError(f"r2: needs at least 2 samples along axis 0, got shape {predictions.shape}")
    dtype = _float_dtype(predictions, targets)
    p, t = predictions.astype(dtype), targets.astype(dtype)
    ss_res = jnp.sum((t - p) ** 2, axis=0)
    ss_tot = jnp.sum((t - jnp.mean(t, axis=0)) ** 2, axis=0)
    positive = ss_tot > 0
    score = jnp.where(positive, 1.0 - ss_res / jnp.where(positive, ss_tot, 1.0), jnp.where(ss_res == 0, 1.0, 0.0))
    return jnp.mean(score).astype(dtype)


_METRICS = {
    "accuracy": accuracy,
    "binary_accuracy": binary_accuracy,
    "r2": r2,
}
_ALIASES = {"acc": "accuracy", "categorical_accuracy": "accuracy", "r2_score": "r2"}
_FOR_TASK = {"multiclass": "accuracy", "binary": "binary_accuracy", "regression": "r2"}


def get(name: str):
    """The metric function called ``name`` (``accuracy``/``acc``, ``binary_accuracy``, ``r2``/``r2_score``)."""
    key = _ALIASES.get(name, name) if isinstance(name, str) else None
    if key not in _METRICS:
        known = ", ".join(sorted(list(_METRICS) + list(_ALIASES)))
        raise ValueError(f"unknown metric {name!r}; known metrics: {known}")
    return _METRICS[key]


def for_task(task: str):
    """The natural metric for a dataset task: multiclass -> accuracy, binary -> binary_accuracy,
    regression -> r2."""
    if task not in _FOR_TASK:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(_FOR_TASK)}")
    return _METRICS[_FOR_TASK[task]]
