"""Lookup by name: :func:`names` and :func:`get`."""

from __future__ import annotations

from collections.abc import Callable

from jaxnn._util import Initializer
from jaxnn.initializers._basic import constant, normal, ones, prior_bias, truncated_normal, uniform, zeros
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


def names() -> tuple[str, ...]:
    """Every name :func:`get` knows (aliases included), sorted."""
    return tuple(sorted(_FACTORIES))


def get(name: str) -> Callable[..., Initializer]:
    """Return the factory called ``name``; calling it gives the initializer.

    ``get("he_normal")()`` is ``he_normal()``; ``get("orthogonal")(scale=2.0)``.
    For ``"zeros"`` and ``"ones"`` (initializers themselves) the factory takes no
    arguments and returns them: ``get("zeros")() is zeros``, so
    ``get(name)(**kwargs)`` works for every name. Raises ``ValueError`` listing
    the known names.
    """
    if not isinstance(name, str) or name.lower() not in _FACTORIES:
        raise ValueError(f"initializers.get: unknown initializer name={name!r}; known names are {', '.join(names())}.")
    return _FACTORIES[name.lower()]
