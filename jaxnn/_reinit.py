r"""Re-initialize any model's parameters by rules: jaxnn, Flax (linen and NNX), Haiku, Equinox or any pytree.

``reinit(key, params, rules, *, layout="auto")`` returns ``params`` with every array leaf that a rule matches
redrawn by that rule's initializer and every other leaf untouched (the same object).

**Initializers** are the jaxnn / ``jax.nn.initializers`` kind, ``init(key, shape, dtype) -> Array``, written for
the jax layout: fans from ``(..., in, out)``.

**Paths** join dict keys, attribute names and sequence indices with ``/``; wrapper steps (a Flax NNX Variable's
``value``, a linen ``Partitioned`` box's ``value``) are not part of the path:

============  ====================================================  ==========================
framework     example paths                                         layout (where the fans are)
============  ====================================================  ==========================
jaxnn         ``0/w``, ``0/b``                                      jax: ``(in, out)``
Flax linen    ``params/Dense_0/kernel``, ``params/Conv_0/kernel``   jax: ``(in, out)``, HWIO
Flax NNX      ``linear/kernel``, ``layers/0/kernel`` (nnx.State)    jax: ``(in, out)``, HWIO
Haiku         ``mlp/~/linear_0/w``, ``conv2_d/w``                   jax: ``(in, out)``, HWIO
Equinox       ``layers/0/weight``, ``conv/weight``, ``conv/bias``   torch: ``(out, in)``, OIHW
PyTorch-style ``fc.weight`` loaded into a dict -> ``fc.weight``     torch: ``(out, in)``, OIHW
============  ====================================================  ==========================

**Rules** (``rules=``): an ordered mapping ``pattern -> initializer`` (first match wins; ``None`` as the
initializer leaves the matched leaves alone), a callable ``(path, leaf) -> initializer | None``, or a list of these
tried in order. A pattern without ``/`` matches the leaf's own name (the last path component); a pattern with ``/``
matches the whole path; ``*`` matches within one component, ``**`` across components (``**/`` also matches no
component), ``?`` one character. Ready rule sets (:mod:`jaxnn.rules`): :func:`standard`, :func:`kernels`,
:func:`biases`, :func:`embeddings`, :func:`scales`.

**Layout** (``layout=``): ``"jax"`` draws each leaf at its own shape. ``"torch"`` draws a weight stored as
``(out, in, *kernel)`` at ``(*kernel, in, out)`` with the same initializer and transposes it back, so every
initializer (fan-based, orthogonal, ...) sees its fans where it expects them; leaves of rank < 2 are drawn as they
are. ``"auto"`` (default) uses ``"torch"`` for the leaves inside an Equinox module and ``"jax"`` for everything else.
:func:`with_layout` pins one rule's layout (the :func:`biases` rule draws as stored; :func:`embeddings` draws the
``(num, dim)`` table in the torch layout everywhere, so fan_in = dim as in Flax's ``nn.Embed`` and torch).

**Keys**: each leaf's key is ``key`` folded with a 64-bit hash of its path, so adding or removing a layer never
changes the other layers' draws, and the same path draws the same values in any model.

Pure and jit-able (``key`` may be traced; vmap over keys works). Structure, dtypes and (outside jit) shardings are
preserved. Examples::

    from jaxnn import initializers as I, reinit
    from jaxnn.rules import standard

    params = reinit(key, params, standard(I.he_normal()))                          # jaxnn, Flax linen, Haiku
    params = reinit(key, params, {"params/Dense_2/kernel": I.zeros, "kernel": I.glorot_uniform()})
    model = reinit(key, eqx_model, standard(I.he_normal()))     # Equinox: (out, in) fans, same module type back
    state = nnx.state(model, nnx.Param)                                            # Flax NNX
    nnx.update(model, reinit(key, state, standard(I.he_normal())))
    params = reinit(key, params, [{"mlp/~/linear_2/w": I.zeros}, standard(I.orthogonal())])     # Haiku
    sd = reinit(key, torch_style_dict, {"*.weight": I.he_normal()}, layout="torch")

For a Haiku model's own initializers use :func:`jaxnn.haiku.w_init`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import initializers
from jaxnn._util import Array, Initializer, Params, check_key

__all__ = [
    "LAYOUTS",
    "biases",
    "embeddings",
    "kernels",
    "reinit",
    "scales",
    "standard",
    "with_layout",
]

LAYOUTS = ("auto", "jax", "torch")

WEIGHT_NAMES = ("kernel", "w", "weight")
BIAS_NAMES = ("bias", "b")
EMBEDDING_NAMES = ("embedding", "embeddings", "embedding_table")
SCALE_NAMES = ("scale", "gamma")

Rule = Callable[[str, Any], Any]  # (path, leaf) -> initializer | None


# ------------------------------------------------------------------------------------------------ patterns


def _glob_regex(pattern: str) -> re.Pattern:
    """``*`` within a component, ``**`` across components (``**/`` also matches none), ``?`` one character."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def _check_initializer(who: str, pattern: str, init) -> None:
    if init is not None and not callable(init):
        raise TypeError(
            f"{who}: rules[{pattern!r}] must be an initializer init(key, shape, dtype) or None, "
            f"got {type(init).__name__}"
        )


def _mapping_rule(rules: Mapping, who: str = "reinit", check_value: Callable = _check_initializer) -> Rule:
    compiled = []
    for pattern, init in rules.items():
        if not isinstance(pattern, str):
            raise TypeError(f"{who}: rules pattern {pattern!r} must be a str, got {type(pattern).__name__}")
        if not pattern:
            raise ValueError(f"{who}: rules pattern '' is empty; write '**' to match every leaf")
        check_value(who, pattern, init)
        compiled.append((pattern, "/" in pattern, _glob_regex(pattern), init))

    def rule(path: str, leaf) -> Any:
        name = path.rsplit("/", 1)[-1]
        for pattern, whole, regex, init in compiled:
            if regex.fullmatch(path if whole else name):
                return _Match(init, pattern)
        return None

    return rule


class _Match:
    """A mapping rule's hit: the initializer (or ``None``: leave alone) and the pattern, for the error messages."""

    def __init__(self, init, pattern):
        self.init, self.pattern = init, pattern


def _compile_rules(
    rules, who: str = "reinit", what: str = "initializer", check_value: Callable = _check_initializer
) -> list[Rule]:
    if isinstance(rules, Mapping):
        return [_mapping_rule(rules, who, check_value)]
    if callable(rules):
        return [rules]
    if isinstance(rules, (list, tuple)) and rules:
        return [r for item in rules for r in _compile_rules(item, who, what, check_value)]
    raise TypeError(
        f"{who}: rules must be a mapping pattern -> {what}, a callable (path, leaf) -> {what} | None, "
        f"or a non-empty list of these; got {type(rules).__name__}"
    )


def _first_match(compiled: list[Rule], path: str, leaf) -> tuple[bool, Any, str | None]:
    """``(hit, value, pattern)`` of the first rule that matches ``path`` (a mapping rule's ``None`` is a hit)."""
    for rule in compiled:
        got = rule(path, leaf)
        if isinstance(got, _Match):
            return True, got.init, got.pattern
        if got is not None:
            return True, got, None
    return False, None, None


# ------------------------------------------------------------------------------------------------ layouts


class _WithLayout:
    """An initializer whose leaves are drawn in a fixed layout, whatever ``reinit``'s ``layout``."""

    def __init__(self, init: Initializer, layout: str):
        self.init, self.layout = init, layout
        self.__name__ = f"with_layout({getattr(init, '__name__', repr(init))}, {layout!r})"

    def __call__(self, key, shape, dtype=jnp.float32):
        return self.init(key, shape, dtype)

    def __repr__(self):
        return self.__name__


def with_layout(init: Initializer, layout: str) -> Initializer:
    """``init`` drawn in ``layout`` (``"jax"``: at the leaf's own shape; ``"torch"``: ``(out, in, *kernel)``)
    wherever a rule applies it, whatever the layout ``reinit`` uses for the other leaves."""
    if not callable(init):
        raise TypeError(f"with_layout: init must be an initializer init(key, shape, dtype), got {type(init).__name__}")
    if layout not in ("jax", "torch"):
        raise ValueError(f"with_layout: layout={layout!r} is not one of ('jax', 'torch')")
    return _WithLayout(init, layout)


def _draw(init: Initializer, key, shape: tuple[int, ...], dtype, layout: str) -> Array:
    if layout == "torch" and len(shape) >= 2:
        nd = len(shape)
        drawn = init(key, (*shape[2:], shape[1], shape[0]), dtype)  # (*kernel, in, out)
        return jnp.transpose(drawn, (nd - 1, nd - 2, *range(nd - 2)))
    return init(key, shape, dtype)


# ------------------------------------------------------------------------------------------------ tree walk


def _from_module(x, prefix: str) -> bool:
    return any(c.__module__.split(".")[0] == prefix for c in type(x).__mro__)


def _is_equinox_module(x) -> bool:
    if not _from_module(x, "equinox"):
        return False
    import equinox as eqx

    return isinstance(x, eqx.Module)


def _is_wrapper(x) -> bool:
    """A Flax box around one value (NNX Variable / VariableState, linen AxisMetadata such as Partitioned)."""
    if not _from_module(x, "flax"):
        return False
    from flax import nnx
    from flax.core import meta

    # older Flax wraps State leaves in VariableState; newer ones alias it (with a warning) to Variable
    boxes = tuple(t for t in (vars(nnx).get("Variable"), vars(nnx).get("VariableState")) if isinstance(t, type))
    return isinstance(x, (*boxes, meta.AxisMetadata))


def _key_str(k) -> str:
    if isinstance(k, jax.tree_util.DictKey):
        return str(k.key)
    if isinstance(k, jax.tree_util.GetAttrKey):
        return k.name
    if isinstance(k, jax.tree_util.SequenceKey):
        return str(k.idx)
    if isinstance(k, jax.tree_util.FlattenedIndexKey):
        return str(k.key)
    return str(k)


def _join(prefix: str, steps) -> str:
    parts = [prefix] if prefix else []
    parts += [_key_str(k) for k in steps]
    return "/".join(parts)


def _is_array(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray))


def _map_leaves(tree, prefix: str, layout: str, fn: Callable[[str, Any, str], Any]):
    """Rebuild ``tree`` with ``fn(path, leaf, leaf_layout)`` on every array leaf; ``"auto"`` resolved per subtree."""
    if layout == "auto" and _is_equinox_module(tree):
        return _map_leaves(tree, prefix, "torch", fn)

    def stop(x):
        return x is not tree and (_is_wrapper(x) or (layout == "auto" and _is_equinox_module(x)))

    items, treedef = jax.tree_util.tree_flatten_with_path(tree, is_leaf=stop)
    new = []
    for steps, leaf in items:
        path = _join(prefix, steps)
        if _is_wrapper(leaf):
            inner, inner_def = jax.tree_util.tree_flatten_with_path(leaf)
            if len(inner) == 1:  # the box's own step ("value") is not part of the path
                out = [fn(path, x, "jax" if layout == "auto" else layout) if _is_array(x) else x for _, x in inner]
            else:
                out = [_map_leaves(x, _join(path, s), layout, fn) for s, x in inner]
            new.append(leaf if all(o is x for o, (_, x) in zip(out, inner)) else inner_def.unflatten(out))
        elif layout == "auto" and _is_equinox_module(leaf):
            new.append(_map_leaves(leaf, path, "torch", fn))
        elif _is_array(leaf):
            new.append(fn(path, leaf, "jax" if layout == "auto" else layout))
        else:
            new.append(leaf)
    if all(n is o for n, (_, o) in zip(new, items)):
        return tree
    return treedef.unflatten(new)


def _path_key(key, path: str):
    digest = hashlib.blake2b(path.encode("utf-8"), digest_size=8).digest()
    key = jax.random.fold_in(key, int.from_bytes(digest[:4], "little"))
    return jax.random.fold_in(key, int.from_bytes(digest[4:], "little"))


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


# ------------------------------------------------------------------------------------------------ reinit


def reinit(key: Array, params: Params, rules, *, layout: str = "auto") -> Params:
    """``params`` with every array leaf a rule matches redrawn by its initializer; the rest untouched.

    Args:
      key: PRNG key (may be traced; vmap over keys works). Leaf ``path`` draws with ``key`` folded with a hash
        of ``path``: adding or removing a layer never changes another layer's draw.
      params: any pytree of arrays: a jaxnn model, Flax linen variables, a Flax NNX ``nnx.State`` (apply with
        ``nnx.update(model, new_state)``), Haiku params, an Equinox module (the same module type comes back),
        nested dicts/lists/tuples/NamedTuples/registered dataclasses. Non-array leaves (None, functions,
        Python scalars) come back unchanged.
      rules: ``{pattern: initializer | None}`` (first match wins), a callable ``(path, leaf) -> initializer | None``,
        or a list of these tried in order; see the module docstring for the pattern syntax and the ready rule sets
        (:func:`standard`, ...).
      layout: ``"auto"`` (torch inside Equinox modules, jax elsewhere), ``"jax"`` (``(..., in, out)``, HWIO) or
        ``"torch"`` (``(out, in, *kernel)``, OIHW).

    Returns:
      a pytree of the same structure; matched leaves have the same shape and dtype (and, outside jit, the same
      sharding) as before, unmatched leaves are the same objects.

    Raises:
      ValueError / TypeError (one line, naming the path): a bad layout or rules, a rule whose initializer is not
      callable, an initializer that fails or returns the wrong shape or dtype for a leaf, rules that match no leaf.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"reinit: layout={layout!r} is not one of {LAYOUTS}")
    check_key(key)
    compiled = _compile_rules(rules)
    matched: list[str] = []
    seen: list[str] = []

    def apply(path: str, leaf, leaf_layout: str):
        seen.append(path)
        hit, init, pattern = _first_match(compiled, path, leaf)
        if not hit:
            return leaf
        matched.append(path)
        where = f"path {path!r}" + (f" (rule {pattern!r})" if pattern is not None else "")
        if init is None:
            return leaf
        if not callable(init):
            raise TypeError(
                f"reinit: the initializer for {where} must be callable init(key, shape, dtype), "
                f"got {type(init).__name__}"
            )
        if isinstance(init, _WithLayout):
            leaf_layout = init.layout
        shape, dtype = tuple(leaf.shape), leaf.dtype
        try:
            new = _draw(init, _path_key(key, path), shape, dtype, leaf_layout)
        except (ValueError, TypeError, NotImplementedError) as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise type(e)(f"reinit: the initializer for {where}, shape {shape} {dtype}: {msg}") from e
        if not hasattr(new, "shape") or tuple(new.shape) != shape or new.dtype != dtype:
            got = f"{getattr(new, 'shape', '?')} {getattr(new, 'dtype', type(new).__name__)}"
            raise ValueError(f"reinit: the initializer for {where} returned {got}; the leaf is {shape} {dtype}")
        sharding = getattr(leaf, "sharding", None)
        if sharding is not None and not _is_traced(leaf) and not _is_traced(new) and new.sharding != sharding:
            new = jax.device_put(new, sharding)
        return new

    out = _map_leaves(params, "", layout, apply)
    if not matched:
        sample = ", ".join(repr(p) for p in seen[:4]) or "none"
        raise ValueError(
            f"reinit: no leaf matched the rules; array leaf paths: {sample}{', ...' if len(seen) > 4 else ''}"
        )
    return out


# ------------------------------------------------------------------------------------------------ rule sets


def _floating(leaf) -> bool:
    return jnp.issubdtype(leaf.dtype, jnp.floating)


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _check_init(init, who: str):
    if not callable(init):
        raise TypeError(f"{who}: init must be an initializer init(key, shape, dtype), got {type(init).__name__}")
    return init


def kernels(init: Initializer) -> Rule:
    """Rule: dense/conv weights (leaf named ``kernel``, ``w`` or ``weight``, rank >= 2, floating) -> ``init``,
    drawn in the model's layout."""
    _check_init(init, "kernels")

    def rule(path, leaf):
        return init if _name(path) in WEIGHT_NAMES and leaf.ndim >= 2 and _floating(leaf) else None

    return rule


def biases(init: Initializer) -> Rule:
    """Rule: biases (leaf named ``bias`` or ``b``, floating, any rank: Equinox convs store ``(out, 1, 1)``) ->
    ``init``, drawn at the leaf's own shape. Normalization layers' ``bias`` (Flax, NNX, Equinox) is one too."""
    init = with_layout(_check_init(init, "biases"), "jax")

    def rule(path, leaf):
        return init if _name(path) in BIAS_NAMES and _floating(leaf) else None

    return rule


def embeddings(init: Initializer) -> Rule:
    """Rule: embedding tables (leaf named ``embedding`` (Flax), ``embeddings`` (Haiku) or ``embedding_table``) ->
    ``init``. The table is ``(num, dim)`` in every framework; it is drawn in the torch layout, so a fan-based
    ``init`` gets fan_in = dim (as Flax's ``nn.Embed`` default and torch). Equinox's ``Embedding`` names its table
    ``weight``: add a rule for its path (``{"embed/weight": init}``) before :func:`kernels`."""
    init = with_layout(_check_init(init, "embeddings"), "torch")

    def rule(path, leaf):
        return init if _name(path) in EMBEDDING_NAMES and leaf.ndim >= 2 and _floating(leaf) else None

    return rule


def scales(init: Initializer) -> Rule:
    """Rule: normalization scales (leaf named ``scale`` or ``gamma``, or a rank-1 ``weight`` as in Equinox's and
    torch's LayerNorm) -> ``init``, drawn at the leaf's own shape."""
    init = with_layout(_check_init(init, "scales"), "jax")

    def rule(path, leaf):
        name = _name(path)
        hit = name in SCALE_NAMES or (name == "weight" and leaf.ndim == 1)
        return init if hit and _floating(leaf) else None

    return rule


def standard(
    weight_init: Initializer,
    bias_init: Initializer | None = initializers.zeros,
    embedding_init: Initializer | None = None,
    scale_init: Initializer | None = None,
) -> Rule:
    """Rule set for the common roles in every framework: :func:`embeddings` (if ``embedding_init``), then
    :func:`kernels` (``weight_init``), :func:`biases` (``bias_init``; default zeros) and :func:`scales`
    (``scale_init``). A role given ``None`` is left alone: by default embedding tables and normalization scales
    keep their values. Put your own rules first to override: ``[{"head/kernel": zeros}, standard(he_normal())]``."""
    parts = [kernels(weight_init)]
    if embedding_init is not None:
        parts.insert(0, embeddings(embedding_init))
    if bias_init is not None:
        parts.append(biases(bias_init))
    if scale_init is not None:
        parts.append(scales(scale_init))

    def rule(path, leaf):
        for part in parts:
            init = part(path, leaf)
            if init is not None:
                return init
        return None

    return rule


# ------------------------------------------------------------------------------------------------ roles
# The same paths and rules select leaves by role for the regularizers, the monitor and the benchmark.

ROLES = ("weight", "bias")


def default_role(path: str, leaf) -> str | None:
    """``"weight"`` for a leaf named ``w`` (jaxnn, Haiku) or a ``kernel`` / ``weight`` of rank >= 2 (Flax, Equinox,
    torch; a rank-1 ``weight`` is a normalization scale), ``"bias"`` for one named ``b`` or ``bias``, else None."""
    name = _name(path)
    if name == "w" or (name in WEIGHT_NAMES and getattr(leaf, "ndim", 0) >= 2):
        return "weight"
    if name in BIAS_NAMES:
        return "bias"
    return None


def _check_role(who: str, pattern: str, role) -> None:
    if role is not None and role not in ROLES:
        raise ValueError(f"{who}: rules[{pattern!r}] must be 'weight', 'bias' or None, got {role!r}")


def role_fn(roles=None, who: str = "roles") -> Callable[[str, Any], str | None]:
    """``(path, leaf) -> "weight" | "bias" | None`` from ``roles``: None (:func:`default_role`), a mapping
    ``pattern -> "weight" | "bias" | None`` (the pattern syntax of :func:`reinit`, first match wins), a callable
    ``(path, leaf) -> role | None``, or a list of these tried in order."""
    if roles is None:
        return default_role
    compiled = _compile_rules(roles, who, "'weight' | 'bias'", _check_role)

    def fn(path: str, leaf) -> str | None:
        _, role, _ = _first_match(compiled, path, leaf)
        if role is not None and role not in ROLES:
            raise ValueError(f"{who}: the rule for path {path!r} gave {role!r}; expected 'weight', 'bias' or None")
        return role

    return fn


def leaves_with_paths(tree) -> list[tuple[str, Any]]:
    """``[(path, leaf)]`` for every array leaf of ``tree``, in flatten order, paths as :func:`reinit` writes them."""
    out: list[tuple[str, Any]] = []

    def grab(path, leaf, _layout):
        out.append((path, leaf))
        return leaf

    _map_leaves(tree, "", "jax", grab)
    return out


def map_with_paths(tree, fn: Callable[[str, Any], Any]):
    """``tree`` with every array leaf replaced by ``fn(path, leaf)`` (other leaves unchanged)."""
    return _map_leaves(tree, "", "jax", lambda path, leaf, _layout: fn(path, leaf))


def role_layers(tree, roles=None) -> list[tuple[str, dict]]:
    """The layers of any pytree: every ``"weight"`` leaf (by ``roles``, see :func:`role_fn`) with the ``"bias"``
    leaf under the same parent path, as ``[(parent_path, {"w": W, "b": b})]`` (``"b"`` absent when there is
    none), in flatten order."""
    fn = role_fn(roles)
    found = [(path, leaf, fn(path, leaf)) for path, leaf in leaves_with_paths(tree)]
    biases = {path.rpartition("/")[0]: leaf for path, leaf, role in found if role == "bias"}
    out = []
    for path, leaf, role in found:
        if role == "weight":
            parent = path.rpartition("/")[0]
            out.append((parent, {"w": leaf, **({"b": biases[parent]} if parent in biases else {})}))
    return out
