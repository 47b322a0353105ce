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

from jaxnn import reinit

__all__ = ["Scheme", "check_schemes", "initial_params", "seed_keys"]

KEY_STREAMS = {"init": 0, "data": 1, "tune_init": 2, "tune_data": 3}


class Scheme(NamedTuple):
    """A named initialization: a weight initializer and a bias initializer (``init(key, shape, dtype)``),
    or ``rules`` for any model, optionally followed by a whole-network ``transform``.

    **jaxnn models** (``w_init``): ``init_fn(key, *, w_init, b_init)`` builds the parameters.
    **Any model** (``rules``): ``init_fn(key)`` is the model's own init (``lambda key: model.init(key, x)`` for
    Flax linen; Haiku's ``transformed.init``; for Equinox the array part of the module); the scheme then
    re-initializes them with ``jaxnn.reinit(fold_in(key, 2), params, rules)`` (``rules`` as :func:`jaxnn.reinit`
    takes them, e.g. ``jaxnn.rules.standard(he_normal())``). A scheme has exactly one of ``w_init`` and ``rules``;
    all schemes of a sweep must use the same form.

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
    w_init: Any = None
    b_init: Any = jax.nn.initializers.zeros
    transform: Callable | None = None
    rules: Any = None


def check_schemes(schemes: Sequence[Scheme]) -> None:
    """One-line ``TypeError``/``ValueError`` unless every entry is a :class:`Scheme` with exactly one of ``w_init``
    and ``rules``, all of the same form."""
    forms = set()
    for s in schemes:
        if not isinstance(s, Scheme):
            raise TypeError(f"schemes must be jaxnn.bench.sweep.Scheme tuples, got {s!r}")
        if (s.w_init is None) == (s.rules is None):
            raise ValueError(
                f"scheme {s.name!r}: give exactly one of w_init (jaxnn models: init_fn(key, *, w_init, b_init)) "
                f"or rules (any model: init_fn(key), then jaxnn.reinit), got "
                f"{'both' if s.rules is not None else 'neither'}"
            )
        if s.transform is not None and not callable(s.transform):
            raise TypeError(
                f"scheme {s.name!r}: transform must be callable(key, params) -> params or None, got {s.transform!r}"
            )
        forms.add(s.rules is None)
    if len(forms) > 1:
        raise ValueError("schemes mix w_init and rules; init_fn is called one way, so use one form for all")


def _hashable(x):
    return tuple(x) if isinstance(x, list) else x


def initial_params(init_fn: Callable, schemes: Sequence[Scheme], init_keys) -> Any:
    """Stacked initial parameters, run axis ``K * S`` (scheme-major): ``init_fn(key, w_init=..., b_init=...)``,
    or for a scheme with ``rules``, ``jaxnn.reinit(fold_in(key, 2), init_fn(key), rules)``.

    One ``vmap(init)`` per scheme over the ``S`` init keys, run eagerly: each initializer call is then its own
    small compiled draw (``jaxnn.initializers`` jits every draw, cached per initializer and shape), batched over
    the seeds. Deliberately *not* one ``jit`` over the whole network: that compiles one large program per
    scheme, growing with depth, where the small draws are shared by every scheme using the same distribution.
    A scheme's ``transform`` (if any) runs right after ``init_fn`` inside the same eager ``vmap`` over seeds:
    ``transform(fold_in(init_key, 1), init_fn(init_key, ...))``; its output must match ``init_fn``'s
    structure, shapes and dtypes (``ValueError`` otherwise), so every scheme feeds the same compiled program.
    Returns a pytree of host numpy arrays with leading axis ``K * S``.
    """
    init_keys = jnp.asarray(init_keys)
    check_schemes(schemes)
    out = []
    for s in schemes:
        w, b = _hashable(s.w_init), _hashable(s.b_init)

        def one(k, w=w, b=b, t=s.transform, name=s.name, rules=s.rules):
            if rules is None:
                p = init_fn(k, w_init=w, b_init=b)
            else:
                p = reinit(jax.random.fold_in(k, 2), init_fn(k), rules)
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
