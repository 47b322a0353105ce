"""Input validation: :func:`check_labels`, :func:`check_probabilities`, :func:`check_binary_labels`, eager or
under ``checkify``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from jaxnn._util import Array, positive_int
from jaxnn.losses._common import _concrete

# ----------------------------------------------------------------------------
# Label validation.
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
    num_classes = positive_int(num_classes, "check_labels: num_classes")
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


def _check_domain(x, fn_name, ok, expectation) -> Array:
    """Eager: ``ValueError`` naming the offending values; traced: a checkify check."""
    y = jnp.asarray(x) if not isinstance(x, jax.core.Tracer) else x
    if not (jnp.issubdtype(y.dtype, jnp.number) or y.dtype == jnp.bool_):
        raise TypeError(f"{fn_name}: expected a real-valued array, got dtype {y.dtype}.")
    concrete = _concrete(x)
    if concrete is not None:
        c = np.asarray(concrete).astype(np.float64)
        bad = ~ok(c)  # NaN fails every domain
        if bad.any():
            vals = np.unique(c[bad])[:10].tolist()
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{fn_name}: {int(bad.sum())} value(s) not {expectation} (values {vals}, first at index {first})."
            )
        return y
    yf = y.astype(jnp.float32) if not jnp.issubdtype(y.dtype, jnp.floating) else y
    bad = ~ok(yf)
    flat_bad = bad.reshape(-1)
    checkify.check(
        ~jnp.any(bad),
        fn_name + ": {n} value(s) not " + expectation + ", e.g. {v}",
        n=jnp.sum(bad),
        v=yf.reshape(-1)[jnp.argmax(flat_bad)] if flat_bad.size else jnp.zeros((), yf.dtype),
    )
    return y


def check_probabilities(probabilities) -> Array:
    """Validates probabilities: every value in ``[0, 1]`` (NaN fails).

    For ``binary_cross_entropy(..., from_logits=False)``, ``binary_focal``,
    ``dice``/``tversky`` predictions.  Eagerly raises ``ValueError``; under
    tracing emits a :func:`jax.experimental.checkify.check` (wrap with
    ``checkify.checkify`` and call ``err.throw()``).  Returns the input.
    """
    return _check_domain(probabilities, "check_probabilities", lambda v: (v >= 0) & (v <= 1), "in [0, 1]")


def check_binary_labels(labels, *, signed=False) -> Array:
    """Validates binary labels, eagerly or under ``checkify`` like :func:`check_labels`.

    ``signed=False`` (binary cross-entropy / focal): every value in ``[0, 1]``
    (hard ``{0, 1}`` or soft labels).  ``signed=True`` (``hinge``,
    ``squared_hinge``, ``margin_ranking``, ``cosine_embedding``,
    ``hinge_embedding``): every value in ``{-1, 0, 1}`` (the hinges read 0 as
    -1; the embedding losses need exactly ``{-1, 1}`` and reject 0 themselves
    when given concrete labels).  Returns the labels.
    """
    if signed:
        return _check_domain(labels, "check_binary_labels", lambda v: (v == -1) | (v == 0) | (v == 1), "in {-1, 0, 1}")
    return _check_domain(labels, "check_binary_labels", lambda v: (v >= 0) & (v <= 1), "in [0, 1]")
