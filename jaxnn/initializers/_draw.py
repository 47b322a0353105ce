"""The plumbing every initializer goes through.

A random initializer is a *sampler* ``(key, shape, compute dtype, static, *traced params) -> Array`` plus a
``params(shape)`` function that checks the shape and returns the traced parameters; :func:`_random_initializer`
turns the pair into ``init(key, shape, dtype=float32, out_sharding=None)``. Every draw runs one jitted program per
(sampler, static parameters, shape, dtype), sampled in float32 (float64 for float64) and cast, compiled on CPU with
:data:`jaxnn._util.CPU_COMPILER_OPTIONS`. Deterministic initializers go through :func:`_constant_initializer`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn._util import CPU_COMPILER_OPTIONS, Initializer
from jaxnn.initializers._checks import _check_dtype, _check_fits, _check_shape


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    """float64 stays float64; everything narrower is sampled in float32."""
    return np.dtype(jnp.float64) if dtype == np.dtype(jnp.float64) else np.dtype(jnp.float32)


def _draw(key, dyn, *, sampler, static, shape, dtype):
    """The body of every random draw: sample in float32 (float64 for float64), cast."""
    cdtype = _compute_dtype(dtype)
    return sampler(key, shape, cdtype, static, *dyn).astype(dtype)


@functools.lru_cache(maxsize=64)
def _jitted_draw(out_sharding: jax.sharding.Sharding | None, platform: str | None) -> Callable:
    """``_draw`` jitted (per output sharding and platform). Compiled once per
    (sampler, static parameters, shape, dtype); the numeric parameters (scale,
    stddev, bounds) are traced, so e.g. every he_normal/glorot/lecun draw of one
    shape shares a program. The sharded and the unsharded draw run the same
    program, so their values are bit-identical."""
    return jax.jit(
        _draw,
        static_argnames=("sampler", "static", "shape", "dtype"),
        out_shardings=out_sharding,
        compiler_options=CPU_COMPILER_OPTIONS if platform == "cpu" else None,
    )


def _platform(out_sharding: jax.sharding.Sharding | None) -> str:
    if out_sharding is not None:
        return next(iter(out_sharding.device_set)).platform
    return jax.default_backend()


def _random_initializer(
    sampler: Callable,
    params: Callable,
    who: str,
    *,
    static: tuple = (),
    shardable: bool = True,
    limit: Callable | None = None,
) -> Initializer:
    """Build ``init(key, shape, dtype=float32, out_sharding=None)``.

    ``params(shape) -> tuple of floats`` checks the shape (fans etc., raising
    clear errors) and gives the traced parameters of ``sampler(key, shape, compute_dtype, static, *params)``.
    ``limit(*params) -> (bound, description)``, if given, bounds ``|value|`` of the draw; a dtype that cannot hold
    it is refused with a one-line ``ValueError`` naming the parameters (``description``).
    """

    def init(
        key: jax.Array,
        shape: Sequence[int],
        dtype: Any = jnp.float32,
        out_sharding: jax.sharding.Sharding | None = None,
    ) -> jax.Array:
        shape_ = _check_shape(shape, who)
        dtype_ = _check_dtype(dtype, who)
        if out_sharding is not None and not shardable:
            raise NotImplementedError(
                f"{who}: out_sharding is not supported (the orthogonalization needs the "
                "whole matrix); create it unsharded and jax.device_put it."
            )
        dyn = tuple(float(v) for v in params(shape_))
        if limit is not None:
            _check_fits(*limit(*dyn), who, dtype_)
        kw = dict(sampler=sampler, static=static, shape=shape_, dtype=dtype_)
        platform = _platform(out_sharding)
        if platform == "cpu":
            try:  # eager (or under vmap): a top-level program, compiled with the CPU options
                return _jitted_draw(out_sharding, platform)(key, dyn, **kw)
            except ValueError as e:  # staged into an enclosing jit: jax refuses nested compiler options
                if "compiler_options" not in str(e):
                    raise
        return _jitted_draw(out_sharding, None)(key, dyn, **kw)

    init.__name__ = init.__qualname__ = who
    return init


def _constant_initializer(fill: Callable, who: str) -> Initializer:
    """Deterministic initializer: ``fill(shape, dtype)``; the key is ignored."""

    def init(
        key: jax.Array,
        shape: Sequence[int],
        dtype: Any = jnp.float32,
        out_sharding: jax.sharding.Sharding | None = None,
    ) -> jax.Array:
        del key
        shape_ = _check_shape(shape, who)
        dtype_ = _check_dtype(dtype, who, floating=False)
        if out_sharding is None:
            return fill(shape_, dtype_)
        return jax.jit(lambda: fill(shape_, dtype_), out_shardings=out_sharding)()

    init.__name__ = init.__qualname__ = who
    return init


class _Recorded:
    # An initializer that remembers how it was built: the registry ``name`` of its factory and the factory's
    # arguments (``kwargs``, defaults applied; ``shown``: those passed explicitly, for the repr), so
    # ``initializers.serialize`` can store it and ``initializers.deserialize`` rebuild it. Calling it is calling
    # the wrapped ``init`` -- same values, same jitted program. Its docstring is the wrapped function's.

    __slots__ = ("fn", "name", "kwargs", "shown", "__name__", "__weakref__")  # jax.jit caches by weak reference
    __doc__ = property(lambda self: self.fn.__doc__)  # type: ignore[assignment]

    def __init__(self, fn: Callable, name: str, kwargs: tuple = (), shown: tuple = ()):
        for attr, value in (("fn", fn), ("name", name), ("kwargs", tuple(kwargs)), ("shown", tuple(shown))):
            object.__setattr__(self, attr, value)
        object.__setattr__(self, "__name__", getattr(fn, "__name__", name))

    def __call__(
        self,
        key: jax.Array,
        shape: Sequence[int],
        dtype: Any = jnp.float32,
        out_sharding: jax.sharding.Sharding | None = None,
    ) -> jax.Array:
        return self.fn(key, shape, dtype, out_sharding)

    def __setattr__(self, name, value):
        raise AttributeError(f"an initializer is immutable (tried to set {name!r})")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs if k in self.shown)
        return f"{self.name}({args})"

    def __reduce__(self):
        return _rebuild, (self.name, dict(self.kwargs))


def _rebuild(name: str, kwargs: dict) -> Initializer:
    from jaxnn.initializers._registry import get  # the registry imports every factory module

    return get(name)(**kwargs)


def _recorded(name: str) -> Callable:
    """Decorate a factory so that the initializer it returns remembers ``(name, arguments)`` (a :class:`_Recorded`).
    A factory built on another (``he_normal`` on ``variance_scaling``) records its own name and arguments."""

    def decorate(factory: Callable) -> Callable:
        sig = inspect.signature(factory)

        @functools.wraps(factory)
        def build(*args, **kwargs):
            init = factory(*args, **kwargs)
            bound = sig.bind(*args, **kwargs)
            shown = tuple(bound.arguments)
            bound.apply_defaults()
            fn = init.fn if isinstance(init, _Recorded) else init
            return _Recorded(fn, name, tuple(bound.arguments.items()), shown)

        return build

    return decorate
