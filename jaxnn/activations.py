r"""Activation lookup and recommended initialization gains.

The activation functions themselves are :mod:`jax.nn`'s; this module only names
them (:func:`get`) and gives the *gain* an initializer should use in front of
each (:func:`gain`, :func:`numerical_gain`).

Gain
----
A variance-preserving scheme draws ``W`` with ``Var(W) = gain**2 / fan_in`` so
that, for unit-variance pre-activations ``z ~ N(0, 1)``, the next layer's
pre-activations again have unit variance.  That requires
``gain**2 * E[phi(z)**2] = 1``, i.e.

.. math::  \mathrm{gain}(\phi) = 1 / \sqrt{E_{z \sim N(0,1)}[\phi(z)^2]}

(He et al. 2015, "Delving Deep into Rectifiers", eq. 10, for ReLU:
``E[relu(z)^2] = 1/2`` so ``gain = sqrt(2)``).

:func:`gain` returns torch's ``nn.init.calculate_gain`` table where torch has an
entry (linear 1, sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu
sqrt(2 / (1 + slope^2)), selu 3/4), and for the activations torch lacks
(gelu, silu, elu, softplus) the value ``1/sqrt(E[phi(z)^2])`` computed once by
200-point Gauss-Hermite quadrature in float64 (:func:`numerical_gain`) and stored
as a constant:

==========  ==================  ==================================================
name        gain                source
==========  ==================  ==================================================
linear      1                   torch table (also ``identity``)
sigmoid     1                   torch table (quadrature: 1.8462; sigmoid has mean
                                0.5, so no gain makes it variance preserving)
tanh        5/3 = 1.6667        torch table (quadrature: 1.5925)
relu        sqrt(2) = 1.4142    torch table = quadrature (He et al. 2015)
leaky_relu  sqrt(2/(1+a^2))     torch table, ``param`` = negative slope a (0.01)
selu        3/4                 torch table (quadrature: 0.99999; for
                                self-normalizing nets use 1, i.e. lecun_normal)
gelu        1.5335805216661476  quadrature, ``jax.nn.gelu`` default
                                (tanh approximation; exact erf GELU: 1.53353044)
silu        1.676532470331092   quadrature (``swish`` is an alias)
elu         1.2451914521903287  quadrature, alpha = 1 (``param`` = alpha computes
                                it numerically for other alphas)
softplus    1.0418668355353018  quadrature
==========  ==================  ==================================================

To initialize with the gain of *any* activation, use
``jaxnn.initializers.variance_scaling(numerical_gain(fn) ** 2, "fan_in", ...)``
or ``he_normal(gain=numerical_gain(fn))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import numpy as np
from numpy.polynomial.hermite_e import hermegauss

__all__ = ["gain", "get", "numerical_gain", "names"]

_ACTIVATIONS: dict[str, Callable] = {
    "linear": jax.nn.identity,
    "identity": jax.nn.identity,
    "relu": jax.nn.relu,
    "leaky_relu": jax.nn.leaky_relu,
    "tanh": jax.nn.tanh,
    "sigmoid": jax.nn.sigmoid,
    "gelu": jax.nn.gelu,
    "selu": jax.nn.selu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "elu": jax.nn.elu,
    "softplus": jax.nn.softplus,
}

# 1/sqrt(E[phi(z)^2]), z ~ N(0,1): 200-point Gauss-Hermite quadrature, float64,
# with numpy implementations of the jax.nn formulas (see numerical_gain).
_QUADRATURE_GAINS = {
    "gelu": 1.5335805216661476,  # tanh approximation (jax.nn.gelu default)
    "silu": 1.676532470331092,
    "elu": 1.2451914521903287,  # alpha = 1
    "softplus": 1.0418668355353018,
}

_DEFAULT_LEAKY_SLOPE = 0.01  # torch calculate_gain and jax.nn.leaky_relu default


def names() -> tuple[str, ...]:
    """The activation names :func:`get` and :func:`gain` accept, sorted."""
    return tuple(sorted(_ACTIVATIONS))


def get(name: str) -> Callable:
    """Return the :mod:`jax.nn` activation called ``name``.

    ``"linear"`` and ``"identity"`` give ``jax.nn.identity``; ``"swish"`` is
    ``jax.nn.silu``. Raises ``ValueError`` listing the valid names otherwise.
    """
    if not isinstance(name, str) or name.lower() not in _ACTIVATIONS:
        raise ValueError(f"activations.get: unknown activation name={name!r}; valid names are {', '.join(names())}.")
    return _ACTIVATIONS[name.lower()]


def numerical_gain(fn: Callable, *, degree: int = 200) -> float:
    r"""Gain ``1/sqrt(E[fn(z)^2])`` for ``z ~ N(0, 1)`` by Gauss-Hermite quadrature.

    Uses the probabilists' Hermite rule (:func:`numpy.polynomial.hermite_e.hermegauss`,
    weight ``exp(-z^2/2)``): ``E[f(z)] ~= sum_i w_i f(z_i) / sqrt(2 pi)``.
    ``fn`` is called once on the ``degree`` nodes as a float64 numpy array (a
    jax function evaluates them in float32 unless x64 is enabled, which limits the
    result to about 1e-7 relative accuracy). The rule is exact for polynomials of
    degree < 2 * degree; for ReLU-like kinks the symmetric nodes still give the
    exact value, and for smooth activations 200 nodes agree with 100 to ~1e-12.

    Args:
      fn: an elementwise activation, e.g. ``jax.nn.gelu``.
      degree: number of quadrature nodes (2 .. 300; numpy's rule overflows above).

    Returns:
      The gain as a Python float. Raises ``ValueError`` if ``E[fn(z)^2]`` is zero
      or not finite.
    """
    if not callable(fn):
        raise TypeError(f"numerical_gain: fn must be callable, got {fn!r}.")
    if not isinstance(degree, int) or not 2 <= degree <= 300:
        raise ValueError(f"numerical_gain: degree must be an int in [2, 300], got {degree!r}.")
    nodes, weights = hermegauss(degree)
    values = np.asarray(fn(nodes), dtype=np.float64)
    if values.shape != nodes.shape:
        raise ValueError(f"numerical_gain: fn must be elementwise; it mapped shape {nodes.shape} to {values.shape}.")
    second_moment = float(np.sum(weights * values**2) / math.sqrt(2.0 * math.pi))
    if not math.isfinite(second_moment) or second_moment <= 0.0:
        raise ValueError(
            f"numerical_gain: E[fn(z)^2] = {second_moment!r} for z ~ N(0,1); the gain "
            "1/sqrt(E[fn(z)^2]) needs a finite, positive value."
        )
    return 1.0 / math.sqrt(second_moment)


def gain(name: str, param: float | None = None) -> float:
    r"""Recommended initialization gain for the activation ``name``.

    The standard deviation of a variance-preserving weight is
    ``gain / sqrt(fan_in)``; pass ``scale=gain**2`` to
    :func:`jaxnn.initializers.variance_scaling`. See the module docstring for the
    table and where each value comes from (torch's ``calculate_gain`` where it has
    an entry; ``1/sqrt(E[phi(z)^2])`` by quadrature otherwise).

    Args:
      name: one of :func:`names` (case-insensitive).
      param: ``leaky_relu``: the negative slope (default 0.01, as torch and
        ``jax.nn.leaky_relu``), gain ``sqrt(2 / (1 + slope^2))``; ``elu``: alpha
        (default 1.0; other values are computed by :func:`numerical_gain`). Must be
        ``None`` for every other activation.

    Returns:
      The gain as a Python float.
    """
    get(name)  # validates the name with the list of valid ones
    key = name.lower()
    if param is not None and key not in ("leaky_relu", "elu"):
        raise ValueError(
            f"gain: param={param!r} is only meaningful for 'leaky_relu' (negative "
            f"slope) and 'elu' (alpha); got it for name={name!r}."
        )
    if param is not None:
        if isinstance(param, bool) or not isinstance(param, (int, float)) or not math.isfinite(param):
            raise ValueError(f"gain: param must be a finite real number, got {param!r}.")
    if key in ("linear", "identity", "sigmoid"):
        return 1.0
    if key == "tanh":
        return 5.0 / 3.0
    if key == "relu":
        return math.sqrt(2.0)
    if key == "leaky_relu":
        slope = _DEFAULT_LEAKY_SLOPE if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope**2))
    if key == "selu":
        return 0.75
    if key == "elu" and param is not None and float(param) != 1.0:
        alpha = float(param)
        return numerical_gain(lambda z: np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0))))
    if key == "swish":
        key = "silu"
    return _QUADRATURE_GAINS[key]
