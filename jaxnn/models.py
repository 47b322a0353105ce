"""Small models as plain functions over pytrees: an MLP, a convnet for 8x8 digits and a residual MLP.

Parameter structure (the documented rule that ``jaxnn.regularizers`` and ``jaxnn.monitor`` rely on):

* every layer is a dict ``{"w": W, "b": b}``; leaves named ``"w"`` are weights, leaves named ``"b"`` are biases;
* dense ``W`` has shape ``(in, out)`` and ``b`` shape ``(out,)``, so ``z = x @ W + b``;
* conv kernels are HWIO ``(kh, kw, in_channels, out_channels)`` with ``b`` of shape ``(out_channels,)``;
* :func:`mlp_init` and :func:`conv_init` return a plain ``list`` of such dicts, input layer first;
* :func:`resmlp_init` returns ``{"input": layer, "blocks": [[layer, ...], ...], "output": layer}``; the last
  layer of residual branch ``i`` is ``params["blocks"][i][-1]`` (what Fixup / ZerO schemes zero or rescale).

Everything here is pure and jit / grad / vmap-clean; stacking ``k`` parameter sets along a new leading axis
(e.g. ``jax.vmap(lambda k: mlp_init(k, sizes))(keys)``) and calling ``jax.vmap(mlp_apply, (0, None))``
trains ``k`` models side by side.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxnn import activations, initializers
from jaxnn._transformer import transformer_apply, transformer_init
from jaxnn._util import Array, Initializer, Params, layer_dicts, positive_int

__all__ = [
    "mlp_init",
    "mlp_apply",
    "conv_init",
    "conv_apply",
    "resmlp_init",
    "resmlp_apply",
    "get_activation",
    "layers",
    "transformer_init",
    "transformer_apply",
]


def get_activation(activation: str | Callable[[Array], Array]) -> Callable[[Array], Array]:
    """Resolve an activation given by name (``"relu"``, ``"tanh"``, ...) or pass a callable through.

    Names are resolved by :func:`jaxnn.activations.get` (the ``jax.nn`` functions); unknown names raise
    ``ValueError`` listing the known ones.
    """
    if callable(activation):
        return activation
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a name (str) or a callable, got {activation!r}")
    return activations.get(activation)


def _default_w_init() -> Initializer:
    return initializers.he_normal()


def _default_b_init() -> Initializer:
    return initializers.zeros


def _resolve_init(init, default: Callable[[], Initializer], name: str) -> Initializer:
    """``None`` -> default; a string -> ``jaxnn.initializers.get(name)()``; a callable -> itself."""
    if init is None:
        return default()
    if isinstance(init, str):
        return initializers.get(init)()
    if not callable(init):
        raise TypeError(f"{name} must be an initializer callable(key, shape, dtype), a name or None, got {init!r}")
    return init


def _per_layer(init, n: int, default: Callable[[], Initializer], name: str) -> list[Initializer]:
    """One initializer for every layer, or a sequence with exactly one per layer."""
    if isinstance(init, (list, tuple)):
        if len(init) != n:
            raise ValueError(f"{name} has {len(init)} entries but the model has {n} layers; give one or {n}")
        return [_resolve_init(i, default, name) for i in init]
    return [_resolve_init(init, default, name)] * n


def _check_sizes(layer_sizes, name="layer_sizes") -> tuple[int, ...]:
    sizes = tuple(layer_sizes) if isinstance(layer_sizes, (list, tuple)) else None
    if sizes is None or len(sizes) < 2:
        raise ValueError(f"{name} must be a sequence of at least 2 ints (input, ..., output), got {layer_sizes!r}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise ValueError(f"{name} entries must be positive ints, got {layer_sizes!r}")
    return sizes


def _check_dtype(dtype):
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    return dtype


def _dense_layer(key, fan_in, fan_out, w_init, b_init, dtype):
    kw, kb = jax.random.split(key)
    return {"w": w_init(kw, (fan_in, fan_out), dtype), "b": b_init(kb, (fan_out,), dtype)}


def layers(params: Params) -> list[tuple[str, dict]]:
    """All layer dicts (dicts holding a ``"w"`` leaf) in ``params`` as ``(name, layer)`` pairs, in order.

    Names are the ``/``-joined path: ``"0"``, ``"1"`` for the list models, ``"input"``, ``"blocks/0/1"``,
    ``"output"`` for :func:`resmlp_init`. Dict keys are visited ``"input"`` first, ``"output"`` last and the
    rest sorted, so the order does not depend on how the dict was built (jax re-sorts dict keys). Used by
    :mod:`jaxnn.monitor` (the per-layer axis of its statistics follows this order).
    """
    return layer_dicts(params)


# ---------------------------------------------------------------------------------------------------- MLP


def mlp_init(
    key: Array,
    layer_sizes: Sequence[int],
    *,
    w_init: Initializer | str | Sequence[Initializer] | None = None,
    b_init: Initializer | str | Sequence[Initializer] | None = None,
    activation: str | Callable = "relu",
    dtype=jnp.float32,
) -> list[dict[str, Array]]:
    """Parameters of a dense network ``layer_sizes = (d_in, h_1, ..., d_out)``.

    Returns ``[{"w": (d_in, h_1), "b": (h_1,)}, ..., {"w": (h_{L-1}, d_out), "b": (d_out,)}]``.

    Args:
      key: PRNG key; layer ``l`` uses ``jax.random.split(key, L)[l]`` (split again for ``w`` and ``b``).
      layer_sizes: input width, hidden widths, output width (at least two positive ints).
      w_init: weight initializer ``init(key, shape, dtype)``; default ``jaxnn.initializers.he_normal()``
        (He et al. 2015). A name is resolved with ``jaxnn.initializers.get(name)()``. A list/tuple gives one
        initializer per layer (e.g. a different output layer).
      b_init: bias initializer, default zeros; same forms as ``w_init`` (e.g. ``prior_bias(p)`` last).
      activation: the hidden activation the network will use; validated here so a typo fails at init. The
        initializer does not see it (pick a gain-matched initializer yourself).
      dtype: parameter dtype (floating).
    """
    sizes = _check_sizes(layer_sizes)
    dtype = _check_dtype(dtype)
    get_activation(activation)
    n = len(sizes) - 1
    w_inits = _per_layer(w_init, n, _default_w_init, "w_init")
    b_inits = _per_layer(b_init, n, _default_b_init, "b_init")
    keys = jax.random.split(key, n)
    return [_dense_layer(keys[i], sizes[i], sizes[i + 1], w_inits[i], b_inits[i], dtype) for i in range(n)]


def _check_dense_params(params, name="params"):
    if not isinstance(params, (list, tuple)) or len(params) == 0:
        raise TypeError(f"{name} must be a non-empty list of {{'w','b'}} dicts, got {type(params).__name__}")
    for i, layer in enumerate(params):
        if not isinstance(layer, dict) or "w" not in layer or "b" not in layer:
            raise TypeError(f"{name}[{i}] must be a dict with 'w' and 'b', got {layer!r:.80}")


def _check_input(x, width: int, name="x"):
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[-1] != width:
        raise ValueError(f"{name} must have shape (..., {width}) to match the first layer, got {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must be floating point, got {x.dtype}")
    return x


def _dense(layer, x):
    w = layer["w"]
    if w.ndim != 2 or x.shape[-1] != w.shape[0]:
        raise ValueError(f"dense weight of shape {w.shape} cannot take an input of width {x.shape[-1]}")
    return x @ w + layer["b"]


def mlp_apply(
    params: Sequence[dict[str, Array]],
    x: Array,
    *,
    activation: str | Callable = "relu",
    return_activations: bool = False,
):
    """Forward pass ``h_0 = x; z_l = h_{l-1} W_l + b_l; h_l = act(z_l)`` (no activation on the last layer).

    Args:
      params: as returned by :func:`mlp_init`.
      x: inputs of shape ``(..., d_in)`` (any leading batch shape), floating point.
      activation: hidden activation, by name or callable.
      return_activations: also return ``[{"pre": z_l, "post": h_l}, ...]``, one per layer; the last layer's
        ``"post"`` is its ``"pre"`` (the logits).

    Returns:
      logits of shape ``(..., d_out)``, or ``(logits, activations)``.
    """
    _check_dense_params(params)
    act = get_activation(activation)
    h = _check_input(x, params[0]["w"].shape[0])
    record = []
    for i, layer in enumerate(params):
        z = _dense(layer, h)
        h = z if i == len(params) - 1 else act(z)
        record.append({"pre": z, "post": h})
    return (h, record) if return_activations else h


# ---------------------------------------------------------------------------------------------------- conv


def conv_init(
    key: Array,
    *,
    in_channels: int = 1,
    channels: Sequence[int] = (16, 32),
    kernel_size: int = 3,
    image_size: int = 8,
    hidden: Sequence[int] = (),
    num_classes: int = 10,
    w_init: Initializer | str | None = None,
    dense_w_init: Initializer | str | None = None,
    b_init: Initializer | str | None = None,
    activation: str | Callable = "relu",
    dtype=jnp.float32,
) -> list[dict[str, Array]]:
    """A small convnet for ``image_size x image_size`` images (the 8x8 sklearn digits by default).

    ``len(channels)`` conv layers (stride 1, SAME padding, HWIO kernels ``(k, k, c_in, c_out)``), then the
    feature map ``(image_size, image_size, channels[-1])`` is flattened and fed to dense layers
    ``hidden + (num_classes,)``. Returns a list of ``{"w", "b"}`` dicts (conv layers first; a layer is a conv
    layer iff its ``w`` is 4-D).

    Args:
      w_init: conv kernel initializer (default He normal, which uses the conv fan rule
        ``fan_in = k*k*c_in``); ``delta_orthogonal`` needs ``c_in <= c_out`` at every conv layer.
      dense_w_init: initializer for the dense layers; ``None`` means "same as ``w_init``". Give one explicitly
        when ``w_init`` only makes sense for conv kernels (``delta_orthogonal``, ``dirac``).
      b_init: bias initializer for every layer (default zeros).
    """
    for nm, v in (
        ("in_channels", in_channels),
        ("kernel_size", kernel_size),
        ("image_size", image_size),
        ("num_classes", num_classes),
    ):
        positive_int(v, nm)
    channels = tuple(channels)
    hidden = tuple(hidden)
    if not channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
        raise ValueError(f"channels must be a non-empty sequence of positive ints, got {channels!r}")
    if any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in hidden):
        raise ValueError(f"hidden must be a sequence of positive ints, got {hidden!r}")
    dtype = _check_dtype(dtype)
    get_activation(activation)
    conv_w = _resolve_init(w_init, _default_w_init, "w_init")
    dense_w = conv_w if dense_w_init is None else _resolve_init(dense_w_init, _default_w_init, "dense_w_init")
    b = _resolve_init(b_init, _default_b_init, "b_init")

    n_conv, dense_sizes = len(channels), (image_size * image_size * channels[-1], *hidden, num_classes)
    keys = jax.random.split(key, n_conv + len(dense_sizes) - 1)
    params = []
    c_in = in_channels
    for i, c_out in enumerate(channels):
        kw, kb = jax.random.split(keys[i])
        params.append({"w": conv_w(kw, (kernel_size, kernel_size, c_in, c_out), dtype), "b": b(kb, (c_out,), dtype)})
        c_in = c_out
    for j in range(len(dense_sizes) - 1):
        params.append(_dense_layer(keys[n_conv + j], dense_sizes[j], dense_sizes[j + 1], dense_w, b, dtype))
    return params


def _as_images(x, in_channels: int, image_shape):
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"x must be floating point, got {x.dtype}")
    if x.ndim == 4:
        if x.shape[-1] != in_channels:
            raise ValueError(f"x of shape {x.shape} must have {in_channels} channels last (NHWC)")
        return x
    if x.ndim != 2:
        raise ValueError(f"x must be (N, H*W*C) flattened or (N, H, W, C) images, got shape {x.shape}")
    if image_shape is None:
        side = math.isqrt(x.shape[1] // in_channels)
        if side * side * in_channels != x.shape[1]:
            raise ValueError(
                f"x of shape {x.shape} is not square {in_channels}-channel images; pass image_shape=(H, W)"
            )
        image_shape = (side, side)
    h, w = image_shape
    if h * w * in_channels != x.shape[1]:
        raise ValueError(f"x of shape {x.shape} cannot be reshaped to images {(h, w, in_channels)}")
    return x.reshape(x.shape[0], h, w, in_channels)


def conv_apply(
    params: Sequence[dict[str, Array]],
    x: Array,
    *,
    activation: str | Callable = "relu",
    image_shape: tuple[int, int] | None = None,
    return_activations: bool = False,
):
    """Forward pass of :func:`conv_init`'s network; no activation after the last (dense) layer.

    Conv layers compute ``z = conv(h, W) + b`` with ``jax.lax.conv_general_dilated`` (NHWC x HWIO, stride 1,
    SAME padding); the map is flattened (row-major over H, W, C) before the first dense layer.

    Args:
      x: ``(N, H*W*C)`` flattened images (e.g. ``(N, 64)`` digits; square unless ``image_shape`` is given) or
        ``(N, H, W, C)``.
      return_activations: also return ``[{"pre", "post"}, ...]`` per layer (conv entries are NHWC maps).

    Returns:
      logits ``(N, num_classes)``, or ``(logits, activations)``.
    """
    _check_dense_params(params)
    act = get_activation(activation)
    first = params[0]["w"]
    if first.ndim != 4:
        raise ValueError(f"params[0]['w'] must be an HWIO conv kernel, got shape {first.shape}")
    h = _as_images(x, first.shape[2], image_shape)
    record = []
    for i, layer in enumerate(params):
        w = layer["w"]
        if w.ndim == 4:
            z = (
                jax.lax.conv_general_dilated(
                    h, w, window_strides=(1, 1), padding="SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
                )
                + layer["b"]
            )
        else:
            if h.ndim == 4:
                h = h.reshape(h.shape[0], -1)
            z = _dense(layer, h)
        h = z if i == len(params) - 1 else act(z)
        record.append({"pre": z, "post": h})
    return (h, record) if return_activations else h


# ---------------------------------------------------------------------------------------------------- ResMLP


def resmlp_init(
    key: Array,
    in_dim: int,
    width: int,
    num_blocks: int,
    out_dim: int,
    *,
    branch_depth: int = 2,
    w_init: Initializer | str | None = None,
    b_init: Initializer | str | None = None,
    activation: str | Callable = "relu",
    dtype=jnp.float32,
) -> dict[str, Any]:
    """A residual MLP: input projection, ``num_blocks`` blocks ``h <- h + f(h)``, and a classifier.

    Returns ``{"input": {"w": (in_dim, width), "b"}, "blocks": [[{"w": (width, width), "b"}] * branch_depth]
    * num_blocks, "output": {"w": (width, out_dim), "b"}}``. The last layer of branch ``i`` is
    ``params["blocks"][i][-1]`` (Fixup zero-initialises it; ZerO sets it to zero / identity).
    """
    for nm, v in (("in_dim", in_dim), ("width", width), ("out_dim", out_dim), ("branch_depth", branch_depth)):
        positive_int(v, nm)
    if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 0:
        raise ValueError(f"num_blocks must be a non-negative int, got {num_blocks!r}")
    dtype = _check_dtype(dtype)
    get_activation(activation)
    w = _resolve_init(w_init, _default_w_init, "w_init")
    b = _resolve_init(b_init, _default_b_init, "b_init")
    k_in, k_blocks, k_out = jax.random.split(key, 3)
    block_keys = jax.random.split(k_blocks, max(num_blocks, 1) * branch_depth).reshape(
        max(num_blocks, 1), branch_depth, *k_blocks.shape
    )
    return {
        "input": _dense_layer(k_in, in_dim, width, w, b, dtype),
        "blocks": [
            [_dense_layer(block_keys[i, j], width, width, w, b, dtype) for j in range(branch_depth)]
            for i in range(num_blocks)
        ],
        "output": _dense_layer(k_out, width, out_dim, w, b, dtype),
    }


def resmlp_apply(
    params: dict[str, Any],
    x: Array,
    *,
    activation: str | Callable = "relu",
    return_activations: bool = False,
):
    """Forward pass of :func:`resmlp_init`'s network.

    ``h = act(x W_in + b_in)``; per block ``f(h) = L_m(act(... act(L_1(h))))`` with ``L_j(u) = u W_j + b_j``
    (no activation after the branch's last layer) and ``h <- h + f(h)``; logits ``= h W_out + b_out``.

    ``return_activations`` also returns one ``{"pre", "post"}`` dict per dense layer in order input, block
    layers, output (a branch's last layer and the output layer have ``post == pre``).
    """
    if not isinstance(params, dict) or set(params) != {"input", "blocks", "output"}:
        raise TypeError("params must be a dict with keys 'input', 'blocks', 'output' (from resmlp_init)")
    act = get_activation(activation)
    x = _check_input(x, params["input"]["w"].shape[0])
    record = []
    z = _dense(params["input"], x)
    h = act(z)
    record.append({"pre": z, "post": h})
    for block in params["blocks"]:
        u = h
        for j, layer in enumerate(block):
            z = _dense(layer, u)
            u = z if j == len(block) - 1 else act(z)
            record.append({"pre": z, "post": u})
        h = h + u
    out = _dense(params["output"], h)
    record.append({"pre": out, "post": out})
    return (out, record) if return_activations else out
