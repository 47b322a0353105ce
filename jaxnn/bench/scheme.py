"""The :class:`Scheme` type (a named initialization of a model) and the per-seed initial parameters it draws.

Seed ``s`` gives every scheme the same init key (:func:`seed_keys`, stream 0), so run ``s`` of scheme A and run
``s`` of scheme B are a pair.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import reinit
from jaxnn._util import CPU_COMPILER_OPTIONS

__all__ = ["Scheme", "check_schemes", "initial_params", "initial_shapes", "seed_keys"]

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


def _draw_one(init_fn: Callable, s: Scheme, key):
    """One run's parameters as ``init_fn`` (and, for ``rules``, :func:`jaxnn.reinit`) build them."""
    if s.rules is None:
        return init_fn(key, w_init=_hashable(s.w_init), b_init=_hashable(s.b_init))
    return reinit(jax.random.fold_in(key, 2), init_fn(key), s.rules)


def _transformed(s: Scheme, key, p):
    """``s.transform(fold_in(key, 1), p)``, refused unless it keeps the structure, shapes and dtypes."""
    q = s.transform(jax.random.fold_in(key, 1), p)
    before = jax.tree_util.tree_structure(p), [(a.shape, a.dtype) for a in jax.tree_util.tree_leaves(p)]
    after = jax.tree_util.tree_structure(q), [(a.shape, a.dtype) for a in jax.tree_util.tree_leaves(q)]
    if before != after:
        raise ValueError(
            f"scheme {s.name!r}: transform changed the parameters' structure, shapes or dtypes "
            f"({before[0]} -> {after[0]}); it may only change their values"
        )
    return q


def initial_params(init_fn: Callable, schemes: Sequence[Scheme], init_keys) -> Any:
    """Stacked initial parameters, run axis ``K * S`` (scheme-major): ``init_fn(key, w_init=..., b_init=...)``,
    or for a scheme with ``rules``, ``jaxnn.reinit(fold_in(key, 2), init_fn(key), rules)``.

    Every scheme's draws for the ``S`` init keys are **one compiled program** (``vmap`` over the keys per
    scheme, all schemes in one ``jit``). Seed ``s`` gives every scheme the same layer keys, so every draw of a
    layer reads the same random bits whatever its distribution: XLA computes them once and the compiled
    program holds one bit generator per layer, not one per (scheme, layer). With jaxnn's initializers the
    values are bitwise those of calling each on its own (an eager draw compiles with the same CPU options);
    other initializers' elementwise arithmetic may fuse differently from op-by-op eager calls (last-bit
    differences, as inside any ``jit``).
    A scheme's ``transform`` (if any; data-dependent ones such as LSUV may need concrete values) then runs
    eagerly, ``vmap``-ped over the seeds: ``transform(fold_in(init_key, 1), params)``; its output must match
    the parameters' structure, shapes and dtypes (``ValueError`` otherwise), so every scheme feeds the same
    compiled training program. Returns a pytree of host numpy arrays with leading axis ``K * S``.
    """
    init_keys = jnp.asarray(init_keys)
    check_schemes(schemes)
    schemes = list(schemes)

    def draw_all(keys):
        return [jax.vmap(functools.partial(_draw_one, init_fn, s))(keys) for s in schemes]

    opts = CPU_COMPILER_OPTIONS if jax.default_backend() == "cpu" else None
    drawn = jax.jit(draw_all, compiler_options=opts)(init_keys)
    out = []
    for s, p in zip(schemes, drawn):
        if s.transform is not None:
            p = jax.vmap(functools.partial(_transformed, s))(init_keys, p)
        out.append(jax.device_get(p))
    return jax.tree_util.tree_map(lambda *a: np.concatenate(a, axis=0), *out)


def initial_shapes(init_fn: Callable, schemes: Sequence[Scheme], n_runs: int) -> Any:
    """The ``jax.ShapeDtypeStruct`` pytree of :func:`initial_params` with ``n_runs`` runs on the leading axis,
    traced from the first scheme alone (every scheme builds the same structure, shapes and dtypes); nothing is
    drawn or compiled."""
    check_schemes(schemes)
    one = jax.eval_shape(functools.partial(_draw_one, init_fn, schemes[0]), jax.ShapeDtypeStruct((2,), jnp.uint32))
    return jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct((n_runs, *a.shape), a.dtype), one)


def seed_keys(seed: int, stream: str, n: int) -> np.ndarray:
    """``n`` raw ``uint32[2]`` keys of one stream of the base ``seed``: ``"init"`` (initial parameters),
    ``"data"`` (minibatch order), ``"tune_init"``/``"tune_data"`` (the learning-rate tuning runs). Separate
    streams keep the init and the data order independent; key ``i`` of a stream is run ``i``'s for every scheme.
    """
    if stream not in KEY_STREAMS:
        raise ValueError(f"stream must be one of {', '.join(KEY_STREAMS)}, got {stream!r}")
    return np.asarray(jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), KEY_STREAMS[stream]), n))
