"""Initialization schemes that need more than a tensor's shape: data (LSUV), the network's depth and
residual structure (Fixup, ZerO) or its width relative to a tuned base model (muP).

Every scheme that rewrites a whole network has the signature ``scheme(key, params, ...) -> params``:
``params`` (e.g. from :func:`jaxnn.models.mlp_init` / :func:`jaxnn.models.resmlp_init`) supplies the
structure and shapes, ``key`` the randomness; the result does not depend on the values in ``params`` (LSUV
keeps the biases). Layers are the dicts with a ``"w"`` leaf, visited in :func:`jaxnn.models.layers` order.

* :func:`lsuv` -- layer-sequential unit variance (Mishkin & Matas 2016), data-dependent, jit-able.
* :func:`fixup` -- Fixup for residual MLPs (Zhang, Dauphin & Ma 2019).
* :func:`zero_init`, :func:`zero_initializer`, :func:`hadamard` -- ZerO (Zhao et al. 2022), deterministic.
* :func:`mup_initializers`, :func:`mup_init`, :func:`mup_lr_multipliers`, :func:`mup_optimizer` -- muP
  width scaling for MLPs trained with Adam (Yang et al. 2022, "Tensor Programs V", Table 3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import _trace, activations, initializers, models
from jaxnn._transformer_schemes import (
    deepnorm,
    deepnorm_constants,
    gpt2,
    mup_transformer,
    mup_transformer_lr_multipliers,
    mup_transformer_optimizer,
    scale_by_mup_transformer,
    t_fixup,
    transformer_standard,
)
from jaxnn._util import Array, Initializer, Params, check_key, layer_dicts, map_layer_dicts, positive_int

__all__ = [
    "map_layers",
    "lsuv",
    "fixup",
    "hadamard",
    "zero_initializer",
    "zero_init",
    "mup_initializers",
    "mup_init",
    "mup_lr_multipliers",
    "scale_by_mup",
    "mup_optimizer",
    "gpt2",
    "t_fixup",
    "deepnorm",
    "deepnorm_constants",
    "mup_transformer",
    "mup_transformer_lr_multipliers",
    "scale_by_mup_transformer",
    "mup_transformer_optimizer",
    "transformer_standard",
]

# ------------------------------------------------------------------------------------------- helpers


def map_layers(params: Params, fn: Callable[[int, str, dict], dict]) -> Params:
    """Rebuild ``params`` with every layer dict (a dict holding ``"w"``) replaced by ``fn(i, name, layer)``.

    ``i`` counts layers in :func:`jaxnn.models.layers` order (``"input"`` first, ``"output"`` last, other dict
    keys sorted, lists in order) and ``name`` is the same ``/``-joined path. Containers keep their type.
    """
    return map_layer_dicts(params, fn)


def _layer_list(params: Params) -> list[tuple[str, dict]]:
    """:func:`jaxnn.models.layers`, but a ``ValueError`` for params without layer dicts (a scheme has nothing
    to initialize). Private: outside this module use ``jaxnn.models.layers``."""
    found = layer_dicts(params)
    if not found:
        raise ValueError("params holds no layer dicts with a 'w' leaf")
    return found


# ---------------------------------------------------------------------------------------------- LSUV


def lsuv(
    key: Array,
    params: Params,
    apply_fn: Callable,
    batch,
    *,
    tol: float = 0.1,
    max_iters: int = 10,
    w_init: Initializer | None = None,
) -> Params:
    """Layer-sequential unit-variance initialization (Mishkin & Matas 2016, "All you need is a good init").

    1. Every weight is re-drawn from ``w_init`` (default orthogonal: an orthonormal start, Saxe et al. 2014)
       with ``jax.random.split(key, L)[l]``; biases are kept.
    2. Layers in order ``l = 1..L``: with ``v = Var(z_l)`` the variance of the layer's output (its
       pre-activation, over the batch and the units) on ``batch``, repeat ``W_l <- W_l / sqrt(v)`` until
       ``|v - 1| < tol`` or ``max_iters`` rescalings. Later layers see the already rescaled earlier ones.

    With zero biases one rescaling already gives ``v = 1`` (``Var(c z) = c^2 Var(z)``); the loop matters
    with non-zero biases. The batch should be standardized (unit-variance inputs), as in the paper. A layer
    whose output variance is zero (dead) is left as is.

    Pure and jit-able (``jax.jit(lsuv, static_argnames=("apply_fn", "tol", "max_iters", "w_init"))``): one
    ``lax.while_loop`` over (layer, iteration) whose step is one forward pass with per-layer weight scales,
    so it compiles one forward pass; it costs ``L * (iterations + 1) + 1`` forward passes of the batch
    (``2L + 1`` with zero biases).

    Args:
      key: PRNG key for the orthonormal start.
      params: the model's parameters (structure and biases are used).
      apply_fn: ``apply_fn(params, x, return_activations=True) -> (out, [{"pre", "post"}, ...])`` with one
        record per layer, in :func:`jaxnn.models.layers` order (true of the jaxnn models). Or a plain
        ``apply_fn(params, x) -> out`` from any framework, ``params`` any pytree (Flax, Haiku, an Equinox
        module): the layers (dense/conv contractions with a parameter leaf) are found by tracing it
        (:mod:`jaxnn._trace`), each layer's leaf is redrawn through :func:`jaxnn.reinit` (the framework's
        layout; the key folded with the leaf's path) and rescaled by the variance of the contraction's output
        after its bias; other leaves are kept. A leaf feeding several layers (shared weights) raises.
      batch: inputs ``x`` ``(B, ...)`` or an ``(x, y)`` tuple.
      tol: tolerance on ``|Var - 1|``, > 0.
      max_iters: maximum rescalings per layer, >= 1.
      w_init: the starting initializer (default orthogonal).
    """
    check_key(key)
    if not (isinstance(tol, (int, float)) and 0.0 < tol < 1.0):
        raise ValueError(f"tol must be a float in (0, 1), got {tol!r}")
    positive_int(max_iters, "max_iters")
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    x = jnp.asarray(x)
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(f"batch must hold at least 2 examples along axis 0, got shape {x.shape}")
    if not _trace.has_return_activations(apply_fn, params, x):  # any framework: find the layers by tracing
        return _trace.lsuv_traced(key, params, apply_fn, x, tol=tol, max_iters=max_iters, w_init=w_init)
    layers = _layer_list(params)
    n = len(layers)
    _, acts = jax.eval_shape(lambda p: apply_fn(p, x, return_activations=True), params)
    if len(acts) != n:
        raise ValueError(
            f"apply_fn records {len(acts)} activations but params has {n} layers; lsuv needs one record per "
            "layer in jaxnn.models.layers order"
        )
    init = w_init if w_init is not None else initializers.orthogonal()
    keys = jax.random.split(key, n)
    params = map_layers(params, lambda i, _, layer: {**layer, "w": init(keys[i], layer["w"].shape, layer["w"].dtype)})

    def scaled(s):
        return map_layers(params, lambda i, _, layer: {**layer, "w": layer["w"] * s[i].astype(layer["w"].dtype)})

    def variances(s):
        _, a = apply_fn(scaled(s), x, return_activations=True)
        return jnp.stack([jnp.var(r["pre"].astype(jnp.float32)) for r in a])

    # One while_loop over (layer l, iteration): each step is one forward pass at the current scales.
    def cond(c):
        return c[1] < n

    def body(c):
        s, l, it, v = c
        done = (jnp.abs(v - 1.0) < tol) | (it >= max_iters) | ~(v > 0) | ~jnp.isfinite(v)
        s = jnp.where(done, s, s.at[l].multiply(jax.lax.rsqrt(jnp.where(done, 1.0, v))))
        l = jnp.where(done, l + 1, l)
        it = jnp.where(done, 0, it + 1)
        v = variances(s)[jnp.minimum(l, n - 1)]
        return s, l, it, v

    s0 = jnp.ones((n,), jnp.float32)
    s, *_ = jax.lax.while_loop(cond, body, (s0, jnp.int32(0), jnp.int32(0), variances(s0)[0]))
    return scaled(s)


# --------------------------------------------------------------------------------------------- Fixup


def _check_resmlp(params, who):
    if not isinstance(params, dict) or set(params) != {"input", "blocks", "output"}:
        raise TypeError(
            f"{who}: params must be a residual MLP from jaxnn.models.resmlp_init "
            "(a dict with 'input', 'blocks', 'output')"
        )
    depths = {len(b) for b in params["blocks"]}
    if len(depths) > 1:
        raise ValueError(f"{who}: all residual branches must have the same depth, got {sorted(depths)}")


def fixup(key: Array, params: Params, *, w_init: Initializer | None = None) -> Params:
    """Fixup initialization for a residual MLP (Zhang, Dauphin & Ma 2019, "Fixup initialization").

    With ``L`` residual branches of ``m`` layers each (``params`` from :func:`jaxnn.models.resmlp_init`):

    1. the classifier (``params["output"]``) and the last layer of every branch are zero;
    2. every other layer is drawn from ``w_init`` (default He normal) and the weights *inside branches* are
       multiplied by ``L^(-1/(2m-2))`` (for ``m = 1`` the branch is only its zero layer);
    3. biases are zero.

    So each block starts as the identity and the update a step makes to the output is O(1) whatever the
    depth. Fixup's scalar multipliers and biases (its step 3) need model support and are not added here.
    ``key`` draws the non-zero layers (``jax.random.split(key, num_layers)[i]`` for layer ``i``).
    """
    check_key(key)
    _check_resmlp(params, "fixup")
    init = w_init if w_init is not None else initializers.he_normal()
    L = len(params["blocks"])
    m = len(params["blocks"][0]) if L else 1
    factor = float(L) ** (-1.0 / (2 * m - 2)) if (L and m > 1) else 1.0
    n = len(_layer_list(params))
    keys = jax.random.split(key, n)

    def one(i, name, layer):
        w, b = layer["w"], layer["b"]
        parts = name.split("/")
        zero = name == "output" or (parts[0] == "blocks" and int(parts[2]) == m - 1)
        if zero:
            new_w = jnp.zeros_like(w)
        else:
            new_w = init(keys[i], w.shape, w.dtype)
            if parts[0] == "blocks":
                new_w = new_w * jnp.asarray(factor, w.dtype)
        return {**layer, "w": new_w, "b": jnp.zeros_like(b)}

    return map_layers(params, one)


# ---------------------------------------------------------------------------------------------- ZerO


def hadamard(order: int, dtype=jnp.float32) -> Array:
    """The Sylvester Hadamard matrix ``H_m`` of size ``2^m``: ``H_0 = [1]``, ``H_m = [[H, H], [H, -H]]``;
    entries ``+-1`` and ``H_m H_m^T = 2^m I``. (Entry ``(i, j) = (-1)^popcount(i & j)``.)"""
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= 16:
        raise ValueError(f"order must be an int in [0, 16], got {order!r}")
    i = np.arange(2**order)
    bits = np.bitwise_and(i[:, None], i[None, :])
    parity = np.zeros_like(bits)
    while np.any(bits):
        parity ^= bits & 1
        bits >>= 1
    return jnp.asarray(1 - 2 * parity, dtype)


def _zero_matrix(fan_in: int, fan_out: int, dtype) -> Array:
    """ZerO's Algorithm 1 for a dense ``(in, out)`` weight, ``z = x W``."""
    if fan_out <= fan_in:  # identity / partial identity: unit j copies input j
        return jnp.eye(fan_in, fan_out, dtype=dtype)
    m = math.ceil(math.log2(fan_out))
    c = 2.0 ** (-(m - 1) / 2)
    H = hadamard(m, jnp.float32)
    # paper (out, in) layout: c * I*_{out x 2^m} H_m I*_{2^m x in}; ours is its transpose
    return (c * H[:fan_out, :fan_in].T).astype(dtype)


def zero_initializer() -> Initializer:
    """The ZerO initializer for dense weights ``(..., in, out)`` (Zhao et al. 2022, Algorithm 1), deterministic:

    * ``out <= in``: (partial) identity, ``W = I_{in x out}`` (unit ``j`` copies input ``j``);
    * ``out > in``: ``W^T = c I*_{out x 2^m} H_m I*_{2^m x in}`` with ``m = ceil(log2 out)``, ``H_m`` the
      Hadamard matrix (:func:`hadamard`) and ``c = 2^(-(m-1)/2)`` (the paper's constant; the authors'
      notebook uses ``2^(-m/2)``). The Hadamard mixing breaks the symmetry a plain partial identity
      would leave in the extra units.

    The key is ignored (accepted for the ``init(key, shape, dtype)`` convention). Leading axes (if any) are
    filled with copies.
    """

    def init(key, shape, dtype=jnp.float32):
        del key
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"zero_initializer needs a weight shape (..., in, out), got {shape}")
        w = _zero_matrix(shape[-2], shape[-1], jnp.dtype(dtype))
        return jnp.broadcast_to(w, shape)

    return init


def zero_init(key: Array, params: Params) -> Params:
    """ZerO initialization of a whole network (Zhao et al. 2022, "ZerO initialization: initializing neural
    networks with only zeros and ones"), deterministic.

    Every dense layer gets :func:`zero_initializer`; in a residual MLP (:func:`jaxnn.models.resmlp_init`) the
    last layer of every residual branch is zero, so every block starts as the identity map. Biases are zero.
    ``key`` is unused (kept for the uniform ``scheme(key, params)`` signature). Conv kernels are not handled
    (``ValueError``).
    """
    del key
    init = zero_initializer()
    residual = isinstance(params, dict) and "blocks" in params
    if residual:
        _check_resmlp(params, "zero_init")
    m = len(params["blocks"][0]) if residual and params["blocks"] else 0

    def one(i, name, layer):
        w, b = layer["w"], layer["b"]
        if w.ndim != 2:
            raise ValueError(f"zero_init handles dense (in, out) weights; layer {name!r} has shape {w.shape}")
        parts = name.split("/")
        if residual and parts[0] == "blocks" and int(parts[2]) == m - 1:
            new_w = jnp.zeros_like(w)
        else:
            new_w = init(None, w.shape, w.dtype)
        return {**layer, "w": new_w, "b": jnp.zeros_like(b)}

    return map_layers(params, one)


# ----------------------------------------------------------------------------------------------- muP


def _gain_sq(activation) -> float:
    if callable(activation):
        return activations.numerical_gain(activation) ** 2
    return activations.gain(activation) ** 2


def _check_widths(layer_sizes, base_width):
    sizes = tuple(layer_sizes) if isinstance(layer_sizes, (list, tuple)) else None
    if sizes is None or len(sizes) < 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(
            f"layer_sizes must be (d_in, h_1, ..., d_out) with at least one hidden layer, got {layer_sizes!r}"
        )
    positive_int(base_width, "base_width")
    return sizes


def mup_initializers(
    layer_sizes: Sequence[int],
    *,
    base_width: int,
    activation: str | Callable = "relu",
    zero_output: bool = False,
) -> list[Initializer]:
    """One weight initializer per layer of an MLP in muP (Yang et al. 2022, Table 3), relative to a base width.

    With ``s = gain(activation)^2`` (``jaxnn.activations.gain``; ``numerical_gain`` for a callable) and
    ``N(0, var)`` draws:

    * input layer and hidden layers: ``var = s / fan_in`` (He for ReLU) -- as in the standard
      parameterization (SP);
    * output layer: ``var = s / fan_in * (base_width / fan_in)``, i.e. ``1/fan_in^2`` scaling, equal to SP at
      ``fan_in = base_width``; or zero (``zero_output=True``, also allowed by muP).

    At ``width == base_width`` this is exactly the SP He initialization, so a learning rate tuned on the base
    model is the muP learning rate; use it with :func:`mup_optimizer`.
    """
    sizes = _check_widths(layer_sizes, base_width)
    s = _gain_sq(activation)
    n = len(sizes) - 1

    def normal(var):
        std = math.sqrt(var)

        def init(key, shape, dtype=jnp.float32):
            return (std * jax.random.normal(key, shape, jnp.float32)).astype(dtype)

        return init

    inits = [normal(s / sizes[i]) for i in range(n - 1)]
    fan_in = sizes[-2]
    inits.append(jax.nn.initializers.zeros if zero_output else normal(s / fan_in * base_width / fan_in))
    return inits


def mup_init(
    key: Array,
    layer_sizes: Sequence[int],
    *,
    base_width: int,
    activation: str | Callable = "relu",
    zero_output: bool = False,
    dtype=jnp.float32,
) -> list[dict[str, Array]]:
    """:func:`jaxnn.models.mlp_init` with :func:`mup_initializers` (zero biases)."""
    inits = mup_initializers(layer_sizes, base_width=base_width, activation=activation, zero_output=zero_output)
    return models.mlp_init(
        key, layer_sizes, w_init=inits, activation=activation if isinstance(activation, str) else "relu", dtype=dtype
    )


def mup_lr_multipliers(params: Params, *, base_width: int) -> Params:
    """Per-leaf Adam learning-rate multipliers of muP for a layered MLP (a list of ``{"w", "b"}``).

    Layer 0 (input weights) and every bias: 1. Hidden and output weights: ``base_width / fan_in``
    (``fan_in = w.shape[-2]``), i.e. Adam LR ``proportional to 1/width``, equal to 1 at the base width.
    Leading axes on the leaves (stacked runs) are allowed.
    """
    positive_int(base_width, "base_width")
    if not isinstance(params, (list, tuple)) or not params or not all(isinstance(l, dict) and "w" in l for l in params):
        raise TypeError("params must be a non-empty list of {'w', 'b'} layer dicts (an MLP)")

    def layer(i, lay):
        out = {k: 1.0 for k in lay}
        if i > 0:
            out["w"] = base_width / lay["w"].shape[-2]
        return out

    return type(params)(layer(i, l) for i, l in enumerate(params))


def scale_by_mup(*, base_width: int) -> optax.GradientTransformation:
    """Stateless optax transform multiplying each update leaf by its :func:`mup_lr_multipliers` entry
    (computed from the update shapes at trace time)."""
    mup_lr_multipliers([{"w": np.zeros((1, 1))}], base_width=base_width)  # validate base_width now

    def f(updates, params=None):
        del params
        mult = mup_lr_multipliers(updates, base_width=base_width)
        return jax.tree.map(lambda u, m: u * jnp.asarray(m, u.dtype), updates, mult)

    return optax.stateless(f)


def mup_optimizer(
    learning_rate,
    *,
    base_width: int,
    optimizer: Callable[..., optax.GradientTransformation] = optax.adam,
) -> optax.GradientTransformation:
    """``optax.chain(optimizer(learning_rate), scale_by_mup(base_width))``: Adam (by default) whose effective
    learning rate is ``learning_rate * base_width / fan_in`` for hidden and output weights and
    ``learning_rate`` for the input weights and the biases (muP for Adam, Yang et al. 2022, Table 3).

    Only for scale-invariant optimizers such as Adam, where scaling the update is scaling the learning rate;
    ``learning_rate`` may be a float, a traced scalar or an optax schedule.
    """
    return optax.chain(optimizer(learning_rate), scale_by_mup(base_width=base_width))
