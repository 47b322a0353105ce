"""Haiku adapter: any jaxnn (or ``jax.nn.initializers``) initializer as a Haiku ``w_init`` / ``b_init``.

Haiku calls an initializer as ``init(shape, dtype)`` inside ``hk.transform`` and hands out keys through
``hk.next_rng_key()``; jaxnn's take the key first, ``init(key, shape, dtype)``. :func:`w_init` bridges the two::

    import haiku as hk
    from jaxnn import initializers as I
    from jaxnn.haiku import w_init

    def forward(x):
        x = jax.nn.relu(hk.Linear(512, w_init=w_init(I.he_normal()))(x))
        x = hk.Conv2D(64, 3, w_init=w_init(I.orthogonal()), b_init=w_init(I.constant(0.01)))(x)
        ...

Haiku stores dense weights as ``(in, out)`` and convolutions as HWIO, the jax layout jaxnn's initializers expect,
so the fans are right with no axis arguments. To re-initialize an existing Haiku ``params`` dict instead, use
``jaxnn.reinit(key, params, rules)`` (paths such as ``mlp/~/linear_0/w``). Flax takes jaxnn initializers
directly (``nn.Dense(512, kernel_init=I.he_normal())``).

Haiku itself is imported only when the initializer is called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp

from jaxnn._util import Array, Initializer

__all__ = ["w_init"]


def w_init(init: Initializer) -> Callable[[Sequence[int], Any], Array]:
    """``init(key, shape, dtype)`` as Haiku's ``init(shape, dtype)``, its key from ``hk.next_rng_key()``.

    Use it for ``w_init=`` and ``b_init=`` alike (and any Haiku ``*_init`` argument, e.g. ``hk.Embed``'s
    ``w_init``). Must be called inside ``hk.transform``'s ``init`` (Haiku's own rule for random initializers).
    """
    if not callable(init):
        raise TypeError(f"w_init: init must be an initializer init(key, shape, dtype), got {type(init).__name__}")

    def haiku_init(shape: Sequence[int], dtype: Any = jnp.float32) -> Array:
        import haiku as hk

        return init(hk.next_rng_key(), tuple(shape), dtype)

    haiku_init.__name__ = haiku_init.__qualname__ = f"w_init({getattr(init, '__name__', 'init')})"
    return haiku_init
