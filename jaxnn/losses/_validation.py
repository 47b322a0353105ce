"""Label validation: :func:`check_labels`, eager or under ``checkify``."""

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
