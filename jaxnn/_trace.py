"""Find the layers of any apply function by tracing it.

:func:`signal_propagation <jaxnn.diagnostics.signal_propagation>` and :func:`lsuv <jaxnn.schemes.lsuv>` need,
per layer, its pre-activation ``z`` and activation ``h``. jaxnn's own models return them
(``apply_fn(params, x, return_activations=True)``); a Flax, Equinox, Haiku or plain-JAX model does not. For
those, :func:`trace_layers` traces ``apply_fn(params, x)`` to a jaxpr (the parameters' array leaves and ``x``
are its inputs), inlines every plain call (``jax.jit``-ed functions, ``jax.checkpoint``) and reads the layers off
the program:

* a **layer** is a ``dot_general`` or ``conv_general_dilated`` with one operand computed from exactly one
  parameter leaf through layout-only steps (``transpose``, ``reshape``, ``convert_element_type``,
  ``broadcast_in_dim``, ``squeeze``, ``expand_dims``, ``rev``, ``copy``, or a product with a constant) and the
  other operand depending on the input ``x``. Contractions of data with data (attention scores) or of
  parameters with parameters (a factorized ``W = A @ B``) are not layers;
* its **pre-activation** is the contraction's output followed through layout steps and elementwise
  operations with ``x``-independent operands (the bias add, a fixed scale, an inference-mode batch norm),
  as long as each value has exactly one consumer;
* its **activation** is the single value leaving the elementwise region that starts at the pre-activation
  (all elementwise operations whose other operands do not depend on ``x``): ``relu(z)``, ``tanh(z)``,
  ``z * sigmoid(z)``, a tanh-approximated GELU written out in full, ... When nothing elementwise follows (a
  linear output layer, a normalization, a residual add of ``z`` itself) the activation is ``z``.

Layers are listed in program order and named by their parameter leaf's path as :func:`jaxnn.reinit` writes it
(Flax ``params/Dense_0/kernel``, Haiku ``mlp/~/linear_0/w``, Equinox ``layers/0/weight``, jaxnn ``0/w``).

Limits (documented behaviour, not errors): contractions inside ``lax.scan`` / ``while_loop`` / ``cond`` bodies
(``nn.scan``, scan-over-layers) are not found; a parameter leaf used by several contractions (a shared or
tied weight, a layer applied twice) gives one layer per use, all with the same path -- fine for diagnostics,
refused by LSUV, which rescales one leaf per layer; a model with no such contraction raises ``ValueError``.
The traced program is specific to the shapes of ``params`` and ``x`` it was traced with.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn._reinit import _is_array, leaves_with_paths

_CALLS = ("pjit", "jit", "closed_call", "core_call", "remat", "checkpoint")
_CONTRACTIONS = ("dot_general", "conv_general_dilated")
# operations that move or cast a parameter without changing what it is (the leaf is still "the weight")
_LAYOUT = ("transpose", "reshape", "convert_element_type", "broadcast_in_dim", "squeeze", "expand_dims", "rev")
_LAYOUT += ("copy", "copy_p", "reduce_precision")
# steps from a contraction's output to its pre-activation (single consumer, the other operand x-independent)
_CHAIN_LAYOUT = ("transpose", "reshape", "convert_element_type", "squeeze", "expand_dims", "copy", "copy_p")
_CHAIN_AFFINE = ("add", "sub", "mul", "div", "add_any")
_ELEMENTWISE = frozenset(
    "tanh logistic exp exp2 log log1p expm1 max min mul add add_any sub div neg abs sign erf erfc erf_inv "
    "integer_pow pow sqrt rsqrt cbrt square select_n clamp gt ge lt le eq ne and or not convert_element_type "
    "sin cos atan is_finite copy copy_p reduce_precision stop_gradient custom_jvp_call custom_vjp_call "
    "custom_vjp_call_jaxpr".split()
)


class TracedLayer(NamedTuple):
    """One layer found by :func:`trace_layers`.

    Attributes:
      path: the parameter leaf's path (as :func:`jaxnn.reinit` writes it).
      leaf: the leaf's index among the array leaves of ``params`` (``jax.tree.leaves`` order).
      primitive: ``"dot_general"`` or ``"conv_general_dilated"``.
      pre_shape, post_shape: shapes of the pre-activation and the activation.
      activation: the primitives of the elementwise region (e.g. ``"relu"``, ``"tanh"``), ``None`` when the
        activation is the pre-activation itself.
    """

    path: str
    leaf: int
    primitive: str
    pre_shape: tuple[int, ...]
    post_shape: tuple[int, ...]
    activation: str | None


# -------------------------------------------------------------------------------------------- evaluation


def _bind(eqn, invals):
    params = eqn.primitive.get_bind_params(eqn.params)
    subfuns = []
    if isinstance(params, tuple):  # older jax: (subfuns, params)
        subfuns, params = params
    ans = eqn.primitive.bind(*subfuns, *invals, **params)
    return list(ans) if eqn.primitive.multiple_results else [ans]


def _inner(eqn):
    """``(jaxpr, consts)`` of a plain call to inline, else None."""
    from jax.extend.core import ClosedJaxpr

    if eqn.primitive.name not in _CALLS:
        return None
    inner = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
    if isinstance(inner, ClosedJaxpr):
        return inner.jaxpr, inner.consts
    if inner is not None and hasattr(inner, "eqns"):
        return inner, []
    return None


def _eval(jaxpr, consts, args, record=(), inline=True):
    """Evaluate ``jaxpr``; returns ``(outputs, [values of the variables in record])``. With ``inline``, plain
    calls are evaluated equation by equation (so that tracing this evaluation gives a flat program)."""
    from jax.extend.core import Literal

    env = {}

    def read(v):
        return v.val if isinstance(v, Literal) else env[v]

    for v, c in zip(jaxpr.constvars, consts):
        env[v] = c
    for v, a in zip(jaxpr.invars, args):
        env[v] = a
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        inner = _inner(eqn) if inline else None
        outs = _eval(inner[0], inner[1], invals)[0] if inner is not None else _bind(eqn, invals)
        for v, o in zip(eqn.outvars, outs):
            env[v] = o
    return [read(v) for v in jaxpr.outvars], [read(v) for v in record]


# ---------------------------------------------------------------------------------------------- analysis


def _custom_name(eqn) -> str:
    """The name of a ``custom_jvp`` / ``custom_vjp`` function (``relu``, ``silu``, ...), else the primitive's."""
    if eqn.params.get("name"):
        return str(eqn.params["name"])
    inner = eqn.params.get("call_jaxpr", eqn.params.get("fun_jaxpr"))
    inner = getattr(inner, "jaxpr", inner)
    names = [e.params.get("name") for e in getattr(inner, "eqns", ()) if e.params.get("name")]
    return str(names[0]) if len(names) == 1 else eqn.primitive.name


def _is_var(v) -> bool:
    from jax.extend.core import Literal

    return not isinstance(v, Literal)


def _shape(v) -> tuple[int, ...]:
    return tuple(getattr(v.aval, "shape", ()))


def _analyze(jaxpr, n_param: int, paths: list[str]) -> tuple[list[TracedLayer], list[tuple[Any, Any]]]:
    """The layers of a flat jaxpr whose first ``n_param`` inputs are parameter leaves and the rest ``x``."""
    eqns = jaxpr.eqns
    has_x = set(jaxpr.invars[n_param:])
    src = {v: i for i, v in enumerate(jaxpr.invars[:n_param])}  # var -> the one leaf it is a view of
    consumers: dict[Any, list[int]] = {}
    for k, eqn in enumerate(eqns):
        for v in eqn.invars:
            if _is_var(v):
                consumers.setdefault(v, []).append(k)
    outvars = {v for v in jaxpr.outvars if _is_var(v)}
    nested = []  # higher-order primitives (scan, while, cond) holding contractions: their layers are not found

    def is_x(v):
        return _is_var(v) and v in has_x

    def constant(v):
        return not _is_var(v) or (v not in has_x and v not in src)

    found = []
    for k, eqn in enumerate(eqns):
        name = eqn.primitive.name
        if any(is_x(v) for v in eqn.invars):
            has_x.update(eqn.outvars)
        if name in _LAYOUT and eqn.invars and _is_var(eqn.invars[0]) and eqn.invars[0] in src:
            if all(constant(v) for v in eqn.invars[1:]):
                src[eqn.outvars[0]] = src[eqn.invars[0]]
        elif name in ("mul", "div") and len(eqn.invars) == 2:
            a, b = eqn.invars
            if _is_var(a) and a in src and constant(b):
                src[eqn.outvars[0]] = src[a]
            elif name == "mul" and _is_var(b) and b in src and constant(a):
                src[eqn.outvars[0]] = src[b]
        if name in _CONTRACTIONS:
            lhs, rhs = eqn.invars[:2]
            for w, d in ((lhs, rhs), (rhs, lhs)):
                if _is_var(w) and w in src and w not in has_x and is_x(d):
                    found.append((k, src[w]))
        elif any(p in name for p in ("scan", "while", "cond")) and any(is_x(v) for v in eqn.invars):
            if "dot_general" in str(eqn.params) or "conv_general_dilated" in str(eqn.params):
                nested.append(name)

    def pre_of(v):
        while v not in outvars and len(consumers.get(v, ())) == 1:
            e = eqns[consumers[v][0]]
            nm = e.primitive.name
            if nm in _CHAIN_LAYOUT and e.invars[0] is v:
                pass
            elif nm in _CHAIN_AFFINE and len(e.invars) == 2:
                other = e.invars[1] if e.invars[0] is v else e.invars[0]
                if other is v or is_x(other) or int(np.prod(_shape(e.outvars[0]))) != int(np.prod(_shape(v))):
                    break
                if nm == "div" and e.invars[1] is v:  # c / z is not affine in z
                    break
            else:
                break
            v = e.outvars[0]
        return v

    def post_of(z, start: int):
        region, ops = {z}, []
        member = set()
        for k in range(start, len(eqns)):
            e = eqns[k]
            nm = e.primitive.name
            ins = [v for v in e.invars if _is_var(v)]
            if nm not in _ELEMENTWISE or not any(v in region for v in ins):
                continue
            if not all(v in region or not is_x(v) for v in ins):
                continue
            if not all(_shape(o) == _shape(z) for o in e.outvars):
                continue
            region.update(e.outvars)
            member.add(k)
            ops.append(_custom_name(e) if nm.startswith("custom_") else nm)
        exits = []
        for v in region:
            used_outside = v in outvars or any(c not in member for c in consumers.get(v, ()))
            if used_outside and jnp.issubdtype(v.aval.dtype, jnp.floating):
                exits.append(v)
        others = [v for v in exits if v is not z]
        if len(others) == 1:
            return others[0], "+".join(dict.fromkeys(ops))
        return z, None

    defined = {v: k for k, e in enumerate(eqns) for v in e.outvars}
    layers, record = [], []
    for k, leaf in found:
        eqn = eqns[k]
        z = pre_of(eqn.outvars[0])
        h, act = post_of(z, defined.get(z, k) + 1)
        layers.append(TracedLayer(paths[leaf], leaf, eqn.primitive.name, _shape(z), _shape(h), act))
        record.append((z, h))
    if not layers:
        where = f"; contractions inside {sorted(set(nested))} bodies are not searched" if nested else ""
        raise ValueError(
            "found no dense/conv layer in apply_fn(params, x): no dot_general / conv_general_dilated with one "
            f"operand a parameter leaf (through transposes/reshapes/casts) and the other depending on x{where}"
        )
    return layers, record


# ------------------------------------------------------------------------------------------------- model


class TracedModel:
    """``apply_fn`` with the :func:`jaxnn.diagnostics.signal_propagation` contract, from :func:`trace_layers`.

    ``model(params, x)`` is ``apply_fn(params, x)``; ``model(params, x, return_activations=True)`` returns
    ``(out, [{"pre": z_l, "post": h_l}, ...])`` for the traced layers. ``params`` and ``x`` must have the
    structure and shapes the model was traced with. ``layers`` lists the :class:`TracedLayer` records.
    """

    def __init__(self, apply_fn, params, x):
        flat, self._treedef = jax.tree.flatten(params)
        self._is_arr = [_is_array(leaf) for leaf in flat]
        self._static = [None if a else leaf for a, leaf in zip(self._is_arr, flat)]
        arrays = [leaf for a, leaf in zip(self._is_arr, flat) if a]
        named = leaves_with_paths(params)
        if len(named) == len(arrays) and all(a is b for (_, a), b in zip(named, arrays)):
            paths = [p for p, _ in named]
        else:  # cannot align the paths with the flattened leaves: name them by position
            paths = [f"leaf_{i}" for i in range(len(arrays))]
        self.paths = paths
        x_flat, self._x_tree = jax.tree.flatten(x)

        def fn(arrays, x_flat):
            return apply_fn(self._rebuild(arrays), jax.tree.unflatten(self._x_tree, x_flat))

        closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(arrays, x_flat)
        self._out_tree = jax.tree.structure(out_shape)
        flat_args = [*arrays, *x_flat]
        self._closed = jax.make_jaxpr(lambda *a: _eval(closed.jaxpr, closed.consts, a)[0])(*flat_args)
        self.layers, self._record = _analyze(self._closed.jaxpr, len(arrays), paths)
        self._n = len(arrays)
        self._apply_fn = apply_fn
        self._avals = [(tuple(np.shape(a)), jnp.result_type(a)) for a in flat_args]

    def _rebuild(self, arrays):
        it = iter(arrays)
        return jax.tree.unflatten(self._treedef, [next(it) if a else s for a, s in zip(self._is_arr, self._static)])

    def arrays(self, params) -> list:
        flat, treedef = jax.tree.flatten(params)
        if treedef != self._treedef:
            raise ValueError(f"params has structure {treedef}, but the model was traced with {self._treedef}")
        return [leaf for a, leaf in zip(self._is_arr, flat) if a]

    def __call__(self, params, x, return_activations: bool = False):
        args = [*self.arrays(params), *jax.tree.leaves(x)]
        shapes = [(tuple(np.shape(a)), jnp.result_type(a)) for a in args]
        if [s for s, _ in shapes] != [s for s, _ in self._avals]:
            raise ValueError("params / x shapes differ from those the model was traced with; trace it again")
        record = [v for pair in self._record for v in pair] if return_activations else []
        outs, vals = _eval(self._closed.jaxpr, self._closed.consts, args, record, inline=False)
        out = jax.tree.unflatten(self._out_tree, outs)
        if not return_activations:
            return out
        return out, [{"pre": vals[2 * i], "post": vals[2 * i + 1]} for i in range(len(self._record))]

    def on_arrays(self, arrays, x, return_activations: bool = False):
        """``self(params, x, ...)`` with ``params`` given as its list of array leaves (:meth:`arrays`): a function
        of arrays only, for ``jax.jit`` when ``params`` holds non-array leaves (an Equinox module's functions)."""
        return self(self._rebuild(arrays), x, return_activations)

    def apply_arrays(self, arrays, x):
        """The original ``apply_fn(params, x)`` with ``params`` given as its array leaves (any ``x`` shape)."""
        return self._apply_fn(self._rebuild(arrays), x)


def trace_layers(apply_fn: Callable, params, x) -> TracedModel:
    """Trace ``apply_fn(params, x)`` and find its layers (see the module docstring); returns a
    :class:`TracedModel` whose ``layers`` lists them and which computes their pre-activations / activations."""
    return TracedModel(apply_fn, params, x)


def has_return_activations(apply_fn: Callable, params, x) -> bool:
    """Whether ``apply_fn(params, x, return_activations=True)`` is the explicit jaxnn contract: ``apply_fn``
    names a ``return_activations`` parameter, or takes ``**kwargs`` and returns ``(out, [{"pre", "post"}...])``
    with it; otherwise the layers are found by tracing."""
    try:
        sig = inspect.signature(apply_fn)
    except (TypeError, ValueError):
        return False
    if "return_activations" in sig.parameters:
        return True
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return False
    try:
        out = jax.eval_shape(lambda p: apply_fn(p, x, return_activations=True), params)
    except TypeError:
        return False
    return (
        isinstance(out, tuple)
        and len(out) == 2
        and isinstance(out[1], (list, tuple))
        and all(isinstance(a, dict) and "pre" in a and "post" in a for a in out[1])
    )


# -------------------------------------------------------------------------------------------------- LSUV


def lsuv_traced(key, params, apply_fn: Callable, x, *, tol: float, max_iters: int, w_init=None):
    """:func:`jaxnn.schemes.lsuv` on any model: the layers are found by :func:`trace_layers`.

    Each layer's parameter leaf is redrawn from ``w_init`` (default orthogonal) through :func:`jaxnn.reinit`
    (so in the framework's layout, key derived from the leaf's path); other leaves (biases, norms) are kept.
    Then layer by layer, ``W_l <- W_l / sqrt(Var(z_l))`` until ``|Var(z_l) - 1| < tol`` or ``max_iters``.
    A leaf feeding several layers (shared weights) raises ``ValueError``.
    """
    from jaxnn import initializers
    from jaxnn._reinit import reinit

    model = trace_layers(apply_fn, params, x)
    layers = model.layers
    seen: dict[int, int] = {}
    for l, layer in enumerate(layers):
        if layer.leaf in seen:
            raise ValueError(
                f"lsuv: parameter {layer.path!r} feeds layers {seen[layer.leaf]} and {l} (a shared or reused "
                "weight); lsuv rescales one leaf per layer and cannot give both unit variance"
            )
        seen[layer.leaf] = l
    init = w_init if w_init is not None else initializers.orthogonal()
    wanted = {layer.path for layer in layers}
    params = reinit(key, params, lambda path, leaf: init if path in wanted else None)
    base = model.arrays(params)
    n = len(layers)

    def scaled(s):
        arrays = list(base)
        for l, layer in enumerate(layers):
            arrays[layer.leaf] = arrays[layer.leaf] * s[l].astype(arrays[layer.leaf].dtype)
        return model._rebuild(arrays)

    def variances(s):
        _, acts = model(scaled(s), x, return_activations=True)
        return jnp.stack([jnp.var(a["pre"].astype(jnp.float32)) for a in acts])

    def body(c):
        s, l, it, v = c
        done = (jnp.abs(v - 1.0) < tol) | (it >= max_iters) | ~(v > 0) | ~jnp.isfinite(v)
        s = jnp.where(done, s, s.at[l].multiply(jax.lax.rsqrt(jnp.where(done, 1.0, v))))
        l = jnp.where(done, l + 1, l)
        it = jnp.where(done, 0, it + 1)
        v = variances(s)[jnp.minimum(l, n - 1)]
        return s, l, it, v

    s0 = jnp.ones((n,), jnp.float32)
    s, *_ = jax.lax.while_loop(lambda c: c[1] < n, body, (s0, jnp.int32(0), jnp.int32(0), variances(s0)[0]))
    return scaled(s)
