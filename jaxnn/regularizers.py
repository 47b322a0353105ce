"""L1 / L2 penalties with separate coefficients for weights and biases, and a weight-decay mask.

Which leaves are weights and biases works on any pytree (jaxnn, Flax linen/NNX, Haiku, Equinox), with the paths
of :func:`jaxnn.reinit` (``params/Dense_0/kernel``, ``mlp/~/linear_0/w``, ``layers/0/weight``). By default (shared
with :mod:`jaxnn.monitor`) a leaf named ``w``, or a ``kernel`` / ``weight`` of rank >= 2, is a weight (a rank-1
``weight`` is a normalization scale), one named ``b`` or ``bias`` a bias; every other leaf is left alone. Every
function takes ``roles=`` to choose: a mapping ``pattern -> "weight" | "bias" | None`` (the pattern syntax of
:func:`jaxnn.reinit`, first match wins), a callable ``(path, leaf) -> role | None``, or a list of these, e.g.
``l2(params, weights=1e-4, roles={"head/**": None, "kernel": "weight"})``.

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

import jax.numpy as jnp
import numpy as np

from jaxnn._reinit import _key_str, leaves_with_paths, map_with_paths, role_fn
from jaxnn._util import Params

__all__ = ["l1", "l2", "penalty", "mask", "weight_mask", "kind"]


def kind(path, leaf=None, *, roles=None) -> str | None:
    """``"weight"``, ``"bias"`` or ``None`` for a leaf at ``path`` (a ``/``-joined path string or a
    ``jax.tree_util`` key path), by ``roles`` (default: the name rule in the module docstring; without ``leaf``
    a ``kernel`` / ``weight`` counts as a weight whatever its rank)."""
    if not isinstance(path, str):
        path = "/".join(_key_str(k) for k in path)
    if not path:
        return None
    if leaf is None:
        leaf = np.zeros((1, 1), np.float32)  # a stand-in of rank 2
    return role_fn(roles, "kind")(path, leaf)


def _check_coef(value, name):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not value >= 0:  # also rejects NaN
            raise ValueError(f"{name} must be a non-negative coefficient, got {value!r}")
    elif isinstance(value, bool) or not hasattr(value, "dtype"):
        raise TypeError(f"{name} must be a number or a scalar array, got {value!r}")
    elif jnp.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {jnp.shape(value)}")
    return value


def _sum_by_kind(params, leaf_fn: Callable, roles=None) -> tuple[Any, Any]:
    """``(sum over weights, sum over biases)`` of ``leaf_fn(leaf)``; zeros of the params dtype if none."""
    flat = leaves_with_paths(params)
    if not flat:
        raise ValueError("params has no leaves")
    role = role_fn(roles)
    totals: dict[str, list] = {"weight": [], "bias": []}
    for path, leaf in flat:
        k = role(path, leaf)
        if k is not None:
            totals[k].append(jnp.sum(leaf_fn(leaf)))
    if not totals["weight"] and not totals["bias"]:
        raise ValueError(
            "params has no weight or bias leaves (named 'w' or 'b', 'kernel'/'weight' of rank >= 2, 'bias'); "
            f"pass roles= to choose them; leaf paths: {', '.join(repr(p) for p, _ in flat[:4])}"
        )
    dtype = jnp.result_type(
        *[leaf for _, leaf in flat if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)] or [jnp.float32]
    )
    zero = jnp.zeros((), dtype)
    return (sum(totals["weight"], zero), sum(totals["bias"], zero))


def l2(params: Params, *, weights=0.0, biases=0.0, roles=None):
    """``weights/2 * sum_{weights W} sum W^2 + biases/2 * sum_{biases b} sum b^2``.

    Coefficients are non-negative numbers or scalar arrays (traceable, so they can be swept under vmap).
    ``roles`` picks the weights and biases (module docstring).
    """
    weights, biases = _check_coef(weights, "weights"), _check_coef(biases, "biases")
    sw, sb = _sum_by_kind(params, jnp.square, roles)
    return (0.5 * weights * sw + 0.5 * biases * sb).astype(sw.dtype)


def l1(params: Params, *, weights=0.0, biases=0.0, roles=None):
    """``weights * sum_{weights W} sum |W| + biases * sum_{biases b} sum |b|``; ``roles`` as for :func:`l2`."""
    weights, biases = _check_coef(weights, "weights"), _check_coef(biases, "biases")
    sw, sb = _sum_by_kind(params, jnp.abs, roles)
    return (weights * sw + biases * sb).astype(sw.dtype)


def penalty(*, l1_weights=0.0, l1_biases=0.0, l2_weights=0.0, l2_biases=0.0, roles=None) -> Callable[[Params], Any]:
    """A ``regularizer(params) -> scalar`` for ``fit(..., regularizer=...)``:
    ``l1(params, weights=l1_weights, biases=l1_biases) + l2(params, weights=l2_weights, biases=l2_biases)``
    (``roles`` passed to both).
    """
    for nm, v in (
        ("l1_weights", l1_weights),
        ("l1_biases", l1_biases),
        ("l2_weights", l2_weights),
        ("l2_biases", l2_biases),
    ):
        _check_coef(v, nm)

    def regularizer(params):
        return l1(params, weights=l1_weights, biases=l1_biases, roles=roles) + l2(
            params, weights=l2_weights, biases=l2_biases, roles=roles
        )

    return regularizer


def mask(params: Params, *, weights: bool = True, biases: bool = False, other: bool = False, roles=None):
    """A pytree of Python bools with ``params``' structure: ``weights`` for weight leaves, ``biases`` for bias
    leaves, ``other`` for any other array leaf (non-array leaves, e.g. an Equinox module's functions, stay as
    they are). Usable as ``optax.add_decayed_weights(..., mask=...)``, ``optax.masked`` etc."""
    choice = {"weight": weights, "bias": biases, None: other}
    role = role_fn(roles)
    return map_with_paths(params, lambda path, leaf: choice[role(path, leaf)])


def weight_mask(params: Params):
    """``mask(params)``: True on weights only — decoupled weight decay that skips biases:
    ``optax.add_decayed_weights(wd, mask=weight_mask)`` or ``optax.adamw(lr, weight_decay=wd, mask=weight_mask)``.
    """
    return mask(params, weights=True, biases=False, other=False)
