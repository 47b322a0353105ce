"""The :class:`Scheme` type (a named initialization of a model) and the per-seed initial parameters it draws.

Seed ``s`` gives every scheme the same init key (:func:`seed_keys`, stream 0), so run ``s`` of scheme A and run
``s`` of scheme B are a pair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Scheme", "initial_params", "seed_keys"]

KEY_STREAMS = {"init": 0, "data": 1, "tune_init": 2, "tune_data": 3}


class Scheme(NamedTuple):
    """A named initialization: a weight initializer and a bias initializer (``init(key, shape, dtype)``),
    optionally followed by a whole-network ``transform``.

    Either initializer may also be a sequence with one initializer per layer (passed to the model's
    ``init_fn`` as is, e.g. :func:`jaxnn.models.mlp_init` accepts per-layer lists).

    ``transform(key, params) -> params`` (optional) rewrites the parameters ``init_fn`` built, for schemes
    that are not per-leaf initializers: data-dependent (:func:`jaxnn.schemes.lsuv`) or depth/structure-aware
    (:func:`jaxnn.schemes.fixup`, :func:`jaxnn.schemes.zero_init`). :func:`initial_params` applies it per run
    with ``jax.random.fold_in(init_key, 1)`` (derived from the run's init key, so seed ``s`` still pairs
    across schemes). It must return the same structure, shapes and dtypes as ``init_fn``: it only changes
    the initial parameters, never the compiled training program.
    """

    name: str
    w_init: Any
    b_init: Any = jax.nn.initializers.zeros
    transform: Callable | None = None


def _hashable(x):
    return tuple(x) if isinstance(x, list) else x


def initial_params(init_fn: Callable, schemes: Sequence[Scheme], init_keys) -> Any:
    """Stacked initial parameters, run axis ``K * S`` (scheme-major): ``init_fn(key, w_init=..., b_init=...)``.

    One ``vmap(init)`` per scheme over the ``S`` init keys, run eagerly: each initializer call is then its own
    small compiled draw (``jaxnn.initializers`` jits every draw, cached per initializer and shape), batched over
    the seeds. Deliberately *not* one ``jit`` over the whole network: that compiles one large program per
    scheme (seconds each on XLA:CPU, growing with depth), and with jaxlib 0.10.2 a program holding ~30
    vmapped QR factorizations (``orthogonal`` on a 30-layer net) deadlocked on XLA:CPU.
    A scheme's ``transform`` (if any) runs right after ``init_fn`` inside the same eager ``vmap`` over seeds:
    ``transform(fold_in(init_key, 1), init_fn(init_key, ...))``; its output must match ``init_fn``'s
    structure, shapes and dtypes (``ValueError`` otherwise), so every scheme feeds the same compiled program.
    Returns a pytree of host numpy arrays with leading axis ``K * S``.
    """
    init_keys = jnp.asarray(init_keys)
    out = []
    for s in schemes:
        if not isinstance(s, Scheme):
            raise TypeError(f"schemes must be jaxnn.bench.sweep.Scheme tuples, got {s!r}")
        if s.transform is not None and not callable(s.transform):
            raise TypeError(
                f"scheme {s.name!r}: transform must be callable(key, params) -> params or None, got {s.transform!r}"
            )
        w, b = _hashable(s.w_init), _hashable(s.b_init)

        def one(k, w=w, b=b, t=s.transform, name=s.name):
            p = init_fn(k, w_init=w, b_init=b)
            if t is None:
                return p
            q = t(jax.random.fold_in(k, 1), p)
            before = jax.tree_util.tree_structure(p), [(a.shape, a.dtype) for a in jax.tree_util.tree_leaves(p)]
            after = jax.tree_util.tree_structure(q), [(a.shape, a.dtype) for a in jax.tree_util.tree_leaves(q)]
            if before != after:
                raise ValueError(
                    f"scheme {name!r}: transform changed the parameters' structure, shapes or dtypes "
                    f"({before[0]} -> {after[0]}); it may only change their values"
                )
            return q

        out.append(jax.device_get(jax.vmap(one)(init_keys)))
    return jax.tree_util.tree_map(lambda *a: np.concatenate(a, axis=0), *out)


def seed_keys(seed: int, stream: str, n: int) -> np.ndarray:
    """``n`` raw ``uint32[2]`` keys of one stream of the base ``seed``: ``"init"`` (initial parameters),
    ``"data"`` (minibatch order), ``"tune_init"``/``"tune_data"`` (the learning-rate tuning runs). Separate
    streams keep the init and the data order independent; key ``i`` of a stream is run ``i``'s for every scheme.
    """
    if stream not in KEY_STREAMS:
        raise ValueError(f"stream must be one of {', '.join(KEY_STREAMS)}, got {stream!r}")
    return np.asarray(jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), KEY_STREAMS[stream]), n))
