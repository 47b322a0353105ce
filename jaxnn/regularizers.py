"""L1 / L2 penalties with separate coefficients for weights and biases, and a weight-decay mask.

The rule (shared with :mod:`jaxnn.models` and :mod:`jaxnn.monitor`): a leaf stored under a dict key ``"w"`` is
a weight, a leaf stored under ``"b"`` is a bias; every other leaf is left alone by these penalties.

* ``l2(params, weights=a, biases=c) = a/2 * sum_W ||W||^2 + c/2 * sum_b ||b||^2`` (the ``1/2`` makes
  ``grad = a * W``, the same step as decoupled weight decay ``optax.add_decayed_weights(a)`` under SGD;
  Krogh & Hertz 1992, Loshchilov & Hutter 2019 for the decoupled form);
* ``l1(params, weights=a, biases=c) = a * sum_W |W|_1 + c * sum_b |b|_1`` (Tibshirani 1996).

Add a penalty to training with ``fit(..., regularizer=penalty(l2_weights=1e-4))``, or decay weights but not
biases with ``optax.chain(optax.add_decayed_weights(1e-4, mask=weight_mask), optax.sgd(lr))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxnn._util import Params

__all__ = ["l1", "l2", "penalty", "mask", "weight_mask", "kind"]

WEIGHT_KEY = "w"
BIAS_KEY = "b"


def kind(path) -> str | None:
    """``"weight"``, ``"bias"`` or ``None`` for a ``jax.tree_util`` key path, by the last dict key."""
    if not path:
        return None
    last = path[-1]
    name = getattr(last, "key", None)
    if name == WEIGHT_KEY:
        return "weight"
    if name == BIAS_KEY:
        return "bias"
    return None


def _check_coef(value, name):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not value >= 0:  # also rejects NaN
            raise ValueError(f"{name} must be a non-negative coefficient, got {value!r}")
    elif isinstance(value, bool) or not hasattr(value, "dtype"):
        raise TypeError(f"{name} must be a number or a scalar array, got {value!r}")
    elif jnp.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {jnp.shape(value)}")
    return value


def _sum_by_kind(params, leaf_fn: Callable) -> tuple[Any, Any]:
    """``(sum over weights, sum over biases)`` of ``leaf_fn(leaf)``; zeros of the params dtype if none."""
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    if not flat:
        raise ValueError("params has no leaves")
    totals: dict[str, list] = {"weight": [], "bias": []}
    for path, leaf in flat:
        k = kind(path)
        if k is not None:
            totals[k].append(jnp.sum(leaf_fn(leaf)))
    if not totals["weight"] and not totals["bias"]:
        raise ValueError("params has no leaves named 'w' or 'b' (the weight/bias rule of jaxnn.regularizers)")
    dtype = jnp.result_type(
        *[leaf for _, leaf in flat if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)] or [jnp.float32]
    )
    zero = jnp.zeros((), dtype)
    return (sum(totals["weight"], zero), sum(totals["bias"], zero))


def l2(params: Params, *, weights=0.0, biases=0.0):
    """``weights/2 * sum_{leaves 'w'} sum W^2 + biases/2 * sum_{leaves 'b'} sum b^2``.

    Coefficients are non-negative numbers or scalar arrays (traceable, so they can be swept under vmap).
    """
    weights, biases = _check_coef(weights, "weights"), _check_coef(biases, "biases")
    sw, sb = _sum_by_kind(params, jnp.square)
    return (0.5 * weights * sw + 0.5 * biases * sb).astype(sw.dtype)


def l1(params: Params, *, weights=0.0, biases=0.0):
    """``weights * sum_{leaves 'w'} sum |W| + biases * sum_{leaves 'b'} sum |b|``."""
    weights, biases = _check_coef(weights, "weights"), _check_coef(biases, "biases")
    sw, sb = _sum_by_kind(params, jnp.abs)
    return (weights * sw + biases * sb).astype(sw.dtype)


def penalty(*, l1_weights=0.0, l1_biases=0.0, l2_weights=0.0, l2_biases=0.0) -> Callable[[Params], Any]:
    """A ``regularizer(params) -> scalar`` for ``fit(..., regularizer=...)``:
    ``l1(params, weights=l1_weights, biases=l1_biases) + l2(params, weights=l2_weights, biases=l2_biases)``.
    """
    for nm, v in (
        ("l1_weights", l1_weights),
        ("l1_biases", l1_biases),
        ("l2_weights", l2_weights),
        ("l2_biases", l2_biases),
    ):
        _check_coef(v, nm)

    def regularizer(params):
        return l1(params, weights=l1_weights, biases=l1_biases) + l2(params, weights=l2_weights, biases=l2_biases)

    return regularizer


def mask(params: Params, *, weights: bool = True, biases: bool = False, other: bool = False):
    """A pytree of Python bools with ``params``' structure: ``weights`` for ``'w'`` leaves, ``biases`` for
    ``'b'`` leaves, ``other`` for anything else. Usable as ``optax.add_decayed_weights(..., mask=...)``,
    ``optax.masked`` etc."""
    choice = {"weight": weights, "bias": biases, None: other}
    return jax.tree_util.tree_map_with_path(lambda path, _: choice[kind(path)], params)


def weight_mask(params: Params):
    """``mask(params)``: True on weights only — decoupled weight decay that skips biases:
    ``optax.add_decayed_weights(wd, mask=weight_mask)`` or ``optax.adamw(lr, weight_decay=wd, mask=weight_mask)``.
    """
    return mask(params, weights=True, biases=False, other=False)
