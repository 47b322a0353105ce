"""Lookup by name (:func:`names`, :func:`get`, Keras class names included) and serialization
(:func:`serialize`, :func:`deserialize`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from jaxnn._util import Initializer
from jaxnn.initializers._basic import (
    constant,
    normal,
    ones,
    prior_bias,
    trunc_normal,
    truncated_normal,
    uniform,
    zeros,
)
from jaxnn.initializers._draw import _Recorded
from jaxnn.initializers._orthogonal import delta_orthogonal, orthogonal
from jaxnn.initializers._structured import dirac, identity, sparse
from jaxnn.initializers._variance_scaling import (
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    kaiming_normal,
    kaiming_uniform,
    lecun_normal,
    lecun_uniform,
    torch_linear_default,
    variance_scaling,
    xavier_normal,
    xavier_uniform,
)

_FACTORIES: dict[str, Callable[..., Initializer]] = {
    "zeros": lambda: zeros,
    "ones": lambda: ones,
    "constant": constant,
    "prior_bias": prior_bias,
    "normal": normal,
    "uniform": uniform,
    "truncated_normal": truncated_normal,
    "trunc_normal": trunc_normal,
    "variance_scaling": variance_scaling,
    "glorot_normal": glorot_normal,
    "glorot_uniform": glorot_uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "kaiming_normal": kaiming_normal,
    "kaiming_uniform": kaiming_uniform,
    "lecun_normal": lecun_normal,
    "lecun_uniform": lecun_uniform,
    "torch_linear_default": torch_linear_default,
    "orthogonal": orthogonal,
    "delta_orthogonal": delta_orthogonal,
    "identity": identity,
    "dirac": dirac,
    "sparse": sparse,
}


# ---------------------------------------------------------------------------------------------- Keras names


def _keras_constant(value: Any = 0.0) -> Initializer:
    """Keras ``Constant(value=0.0)``: :func:`constant`, with Keras's default value."""
    return constant(value)


def _keras_identity(gain: float = 1.0) -> Initializer:
    """Keras ``Identity(gain=1.0)``: :func:`identity` with ``scale=gain``."""
    return identity(gain)


def _keras_orthogonal(gain: float = 1.0) -> Initializer:
    """Keras ``Orthogonal(gain=1.0)``: :func:`orthogonal` with ``scale=gain`` (same flattening: rows =
    prod(shape[:-1]), columns = shape[-1]; same Haar distribution, not the same numbers)."""
    return orthogonal(gain)


def _keras_truncated_normal(mean: float = 0.0, stddev: float = 0.05) -> Initializer:
    """Keras ``TruncatedNormal(mean=0.0, stddev=0.05)``: ``N(mean, stddev^2)`` cut at ``mean +- 2 stddev``, *not*
    std-corrected (the result's std is ``0.88 stddev``): :func:`trunc_normal` with ``std=stddev`` and absolute
    bounds ``mean -+ 2 stddev``. jaxnn's own ``truncated_normal(stddev)`` corrects, so its std is ``stddev``."""
    return trunc_normal(mean, stddev, mean - 2.0 * stddev, mean + 2.0 * stddev)


def _keras_variance_scaling(
    scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal"
) -> Initializer:
    """Keras ``VarianceScaling(scale=1.0, mode="fan_in", distribution="truncated_normal")``."""
    return variance_scaling(scale, mode, distribution)


# Keras 3 class name -> the jaxnn factory (with Keras's argument names and defaults where they differ). Keras's
# ``seed`` argument has no counterpart: a jaxnn initializer takes its key when called.
_KERAS: dict[str, Callable[..., Initializer]] = {
    "Zeros": _FACTORIES["zeros"],
    "Ones": _FACTORIES["ones"],
    "Constant": _keras_constant,
    "RandomNormal": normal,  # mean 0, stddev 0.05: jaxnn's defaults
    "RandomUniform": uniform,  # (-0.05, 0.05): jaxnn's defaults
    "TruncatedNormal": _keras_truncated_normal,
    "VarianceScaling": _keras_variance_scaling,
    "GlorotNormal": glorot_normal,
    "GlorotUniform": glorot_uniform,
    "HeNormal": he_normal,
    "HeUniform": he_uniform,
    "LecunNormal": lecun_normal,
    "LecunUniform": lecun_uniform,
    "Orthogonal": _keras_orthogonal,
    "Identity": _keras_identity,
}


def names() -> tuple[str, ...]:
    """Every jaxnn name :func:`get` knows (aliases included), sorted. :func:`keras_names` lists the Keras class
    names it also resolves."""
    return tuple(sorted(_FACTORIES))


def keras_names() -> tuple[str, ...]:
    """The Keras 3 class names :func:`get` resolves (``"HeNormal"``, ``"GlorotUniform"``, ...), sorted."""
    return tuple(sorted(_KERAS))


def get(name: str) -> Callable[..., Initializer]:
    """Return the factory called ``name``; calling it gives the initializer.

    ``get("he_normal")()`` is ``he_normal()``; ``get("orthogonal")(scale=2.0)``.
    For ``"zeros"`` and ``"ones"`` (initializers themselves) the factory takes no
    arguments and returns them: ``get("zeros")() is zeros``, so
    ``get(name)(**kwargs)`` works for every name. jaxnn names are matched
    case-insensitively.

    Keras 3 class names (exact spelling, :func:`keras_names`) give the matching
    jaxnn factory with Keras's argument names and defaults, so ``get(name)()``
    draws from Keras's distribution: ``"HeNormal"``, ``"HeUniform"``,
    ``"GlorotNormal"``, ``"GlorotUniform"``, ``"LecunNormal"``,
    ``"LecunUniform"`` are the jaxnn schemes (the same truncated-and-corrected
    normals); ``"RandomNormal"`` is :func:`normal` (stddev 0.05),
    ``"RandomUniform"`` :func:`uniform` (+-0.05), ``"Zeros"``/``"Ones"``;
    ``"Constant"`` takes ``value=0.0``; ``"Identity"`` and ``"Orthogonal"``
    take ``gain=1.0`` (jaxnn's ``scale``); ``"VarianceScaling"`` defaults to
    ``(1.0, "fan_in", "truncated_normal")``; ``"TruncatedNormal"(mean=0.0,
    stddev=0.05)`` is *not* jaxnn's std-corrected :func:`truncated_normal` but
    :func:`trunc_normal` cut at ``mean +- 2 stddev`` (its std is ``0.88
    stddev``, as in Keras). Note the snake-case ``"truncated_normal"`` is
    jaxnn's (corrected). Differences that remain: Keras's ``seed`` argument (a
    jaxnn initializer takes its key when called) and Keras's fans for a 1-D
    shape (fan_in = fan_out = shape[0]; jaxnn refuses rank < 2).

    Raises ``ValueError`` listing the known names.
    """
    if isinstance(name, str) and name in _KERAS:
        return _KERAS[name]
    if not isinstance(name, str) or name.lower() not in _FACTORIES:
        raise ValueError(
            f"initializers.get: unknown initializer name={name!r}; known names are {', '.join(names())} "
            f"and the Keras class names {', '.join(keras_names())}."
        )
    return _FACTORIES[name.lower()]


# ---------------------------------------------------------------------------------------------- serialization


def _jsonable(value: Any, where: str) -> Any:
    """``value`` as JSON types (arrays and tuples become lists, numpy scalars Python numbers), or a TypeError."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, (np.ndarray, np.generic, jax.Array)):
        arr = np.asarray(value)
        if arr.dtype == np.bool_:
            return arr.tolist()
        if np.issubdtype(arr.dtype, np.integer):
            return arr.astype(np.int64).tolist()
        if np.issubdtype(arr.dtype, np.floating) or arr.dtype.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
            return arr.astype(np.float64).tolist()
    raise TypeError(f"initializers.serialize: {where} of type {type(value).__name__} is not JSON-able.")


def serialize(init: Initializer) -> dict:
    """A JSON-able description of a jaxnn initializer: ``{"name": <registry name>, "kwargs": {...}}``.

    Every initializer built by a jaxnn factory (and ``zeros``/``ones``) remembers its factory's registry name
    and arguments (defaults filled in, so a stored spec does not change meaning if a default does; arrays and
    tuples become lists). :func:`deserialize` rebuilds it, drawing identical values for the same key:
    ``deserialize(json.loads(json.dumps(serialize(init))))``. Aliases serialize under the registry name
    (``xavier_normal()`` as ``"glorot_normal"``), Keras names as the jaxnn factory they map to.
    A callable not built by jaxnn (``jax.nn.initializers.he_normal()``, a lambda) raises ``TypeError``.
    """
    if not isinstance(init, _Recorded):
        raise TypeError(
            f"initializers.serialize: {repr(init)[:80]} is not an initializer "
            "built by a jaxnn.initializers factory; only those can be serialized."
        )
    kwargs = {k: _jsonable(v, f"{init.name} argument {k}") for k, v in init.kwargs}
    return {"name": init.name, "kwargs": kwargs}


def deserialize(spec: Mapping | str) -> Initializer:
    """The initializer described by ``spec``: a dict from :func:`serialize` (``{"name": ..., "kwargs": {...}}``,
    optionally ``"args": [...]``) or a bare name (``"he_normal"``, a Keras class name such as ``"HeNormal"``):
    ``get(name)(*args, **kwargs)``. Bad specs raise a one-line ``ValueError`` (or the factory's own error)."""
    if isinstance(spec, str):
        return get(spec)()
    if not isinstance(spec, Mapping):
        raise TypeError(f"initializers.deserialize: spec must be a dict or a name, got {type(spec).__name__}.")
    extra = set(spec) - {"name", "args", "kwargs"}
    if "name" not in spec or extra:
        raise ValueError(
            "initializers.deserialize: spec must have a 'name' and optionally 'args' and 'kwargs'"
            + (f"; unexpected keys {sorted(map(str, extra))}." if extra else "; 'name' is missing.")
        )
    args, kwargs = spec.get("args", []), spec.get("kwargs", {})
    if not isinstance(args, (list, tuple)) or not isinstance(kwargs, Mapping):
        raise ValueError("initializers.deserialize: 'args' must be a list and 'kwargs' a dict.")
    return get(spec["name"])(*args, **kwargs)
