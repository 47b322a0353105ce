"""jaxnn's internal toolbox: the type aliases, argument and key checks, and the layer walker every module shares.

Private: nothing here is public API. Each check raises a one-line ``ValueError``/``TypeError`` that names the
argument, the value it got and what was expected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
Params = Any  # a pytree of arrays
Shape = Sequence[int]
DType = Any
Initializer = Callable[..., Array]  # init(key, shape, dtype=jnp.float32) -> Array

# XLA:CPU compile options for the programs whose FLOPs sit in GEMM library calls (the sweep's training program
# and the initializers' draws): backend optimization level 1 compiles faster and runs them as fast.
CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def positive_int(value, name: str) -> int:
    """``value`` as an ``int`` if it is a positive integer (``bool`` excluded), else a one-line ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_key(key, name: str = "key") -> None:
    """``TypeError`` unless ``key`` is a jax PRNG key: a typed key array or a raw ``uint32[2]`` key."""
    if not isinstance(key, jax.Array) or not (
        jnp.issubdtype(key.dtype, jax.dtypes.prng_key) or (key.dtype == jnp.uint32 and key.shape == (2,))
    ):
        raise TypeError(f"{name} must be a jax PRNG key, got {type(key).__name__} {getattr(key, 'shape', '')}")


# ---------------------------------------------------------------------------------------------- layer walker


def _dict_order(d: dict) -> list:
    """``"input"`` first, ``"output"`` last, the other keys sorted (as jax flattens dicts)."""
    middle = sorted(k for k in d if k not in ("input", "output"))
    return [k for k in ("input",) if k in d] + middle + [k for k in ("output",) if k in d]


def map_layer_dicts(params: Params, fn: Callable[[int, str, dict], dict]) -> Params:
    """Rebuild ``params`` with every layer dict (a dict holding a ``"w"`` leaf) replaced by ``fn(i, name, layer)``.

    ``i`` counts layers in walk order: dict keys ``"input"`` first, ``"output"`` last and the rest sorted (so the
    order does not depend on how the dict was built; jax re-sorts dict keys), sequences in order. ``name`` is the
    ``/``-joined path (``"0"``, ``"blocks/0/1"``). Containers keep their type; other leaves come back unchanged.
    """
    counter = [0]

    def walk(node, path):
        if isinstance(node, dict) and "w" in node:
            i = counter[0]
            counter[0] += 1
            return fn(i, "/".join(path), node)
        if isinstance(node, dict):
            new = {k: None for k in node}
            for k in _dict_order(node):
                new[k] = walk(node[k], (*path, str(k)))
            return new
        if isinstance(node, (list, tuple)):
            return type(node)(walk(v, (*path, str(i))) for i, v in enumerate(node))
        return node

    return walk(params, ())


def layer_dicts(params: Params) -> list[tuple[str, dict]]:
    """All layer dicts in ``params`` as ``(name, layer)`` pairs, in :func:`map_layer_dicts` order."""
    out: list[tuple[str, dict]] = []

    def grab(i, name, layer):
        out.append((name, layer))
        return layer

    map_layer_dicts(params, grab)
    return out
