"""A small decoder-only transformer as a plain pytree (re-exported by :mod:`jaxnn.models`).

Parameter tree of :func:`transformer_init` (``/``-joined paths, as :func:`jaxnn.reinit` and the rules see them)::

    embed/token           (vocab_size, d_model)   token embedding table
    embed/pos             (seq_len, d_model)      learned position embeddings
    blocks/i/ln1/{scale,bias}  (d_model,)         LayerNorm of the attention sublayer (absent for norm="none")
    blocks/i/attn/{q,k,v,o}/{w,b}                 (d_model, d_model) / (d_model,) projections
    blocks/i/ln2/{scale,bias}  (d_model,)         LayerNorm of the MLP sublayer (absent for norm="none")
    blocks/i/mlp/fc1/{w,b}     (d_model, d_ff)    first MLP layer (GELU after it)
    blocks/i/mlp/fc2/{w,b}     (d_ff, d_model)    second MLP layer (the residual output projection)
    ln_f/{scale,bias}     (d_model,)              final LayerNorm (absent for norm="none")
    readout/{w,b}         (d_model, vocab_size)   absent when tie_embeddings=True (logits = h @ embed/token.T)

Every linear layer is a ``{"w", "b"}`` dict with ``z = x @ w + b`` (jaxnn's layer rule), so
:func:`jaxnn.models.layers`, the regularizers and the monitor see the projections; LayerNorms are ``{"scale",
"bias"}`` dicts and the embedding tables are bare leaves (neither is a layer).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxnn import initializers
from jaxnn._util import Array, Initializer, Params, positive_int

NORMS = ("pre", "post", "deepnorm", "none")
ATTN_SCALES = ("sqrt", "mup")
_LN_EPS = 1e-5


def _check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return norm


def _linear(key, d_in, d_out, w_init, dtype):
    return {"w": w_init(key, (d_in, d_out), dtype), "b": jnp.zeros((d_out,), dtype)}


def _layer_norm_params(d, dtype):
    return {"scale": jnp.ones((d,), dtype), "bias": jnp.zeros((d,), dtype)}


def transformer_init(
    key: Array,
    *,
    vocab_size: int,
    seq_len: int,
    d_model: int,
    num_heads: int,
    num_layers: int,
    d_ff: int | None = None,
    norm: str = "pre",
    tie_embeddings: bool = False,
    w_init: Initializer | None = None,
    embed_init: Initializer | None = None,
    dtype=jnp.float32,
) -> dict:
    """Parameters of a decoder-only transformer (tree layout in the module docstring).

    Args:
      key: PRNG key.
      vocab_size, seq_len: number of tokens and the longest sequence (rows of ``embed/pos``).
      d_model, num_heads: width and attention heads (``d_model % num_heads == 0``, ``d_head = d_model / heads``).
      num_layers: number of blocks ``L`` (``>= 0``).
      d_ff: MLP hidden width, default ``4 * d_model``.
      norm: ``"pre"``, ``"post"``, ``"deepnorm"`` (LayerNorm leaves ``ln1``/``ln2``/``ln_f``) or ``"none"`` (no
        LayerNorm leaves at all). Pass the same ``norm`` to :func:`transformer_apply`.
      tie_embeddings: no ``readout`` layer; the logits use the token table.
      w_init: initializer of every projection weight ``w`` (default ``normal(0.02)``, GPT-2's); biases are zero,
        LayerNorm scales one. For a published scheme, re-initialize with :func:`jaxnn.reinit` and the rules of
        :mod:`jaxnn.schemes` (``gpt2``, ``t_fixup``, ``deepnorm``, ``mup_transformer``, ``transformer_standard``).
      embed_init: initializer of ``embed/token`` and ``embed/pos`` (default ``normal(0.02)``).
      dtype: parameter dtype (floating).
    """
    for name, v in (("vocab_size", vocab_size), ("seq_len", seq_len), ("d_model", d_model), ("num_heads", num_heads)):
        positive_int(v, name)
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
        raise ValueError(f"num_layers must be a non-negative int, got {num_layers!r}")
    if d_model % num_heads:
        raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
    d_ff = positive_int(4 * d_model if d_ff is None else d_ff, "d_ff")
    _check_norm(norm)
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    w_init = initializers.normal(0.02) if w_init is None else w_init
    embed_init = initializers.normal(0.02) if embed_init is None else embed_init

    k_tok, k_pos, k_out, k_blocks = jax.random.split(key, 4)
    blocks = []
    for kb in jax.random.split(k_blocks, max(num_layers, 1))[:num_layers]:
        kq, kk, kv, ko, k1, k2 = jax.random.split(kb, 6)
        block = {
            "attn": {n: _linear(k, d_model, d_model, w_init, dtype) for n, k in zip("qkvo", (kq, kk, kv, ko))},
            "mlp": {"fc1": _linear(k1, d_model, d_ff, w_init, dtype), "fc2": _linear(k2, d_ff, d_model, w_init, dtype)},
        }
        if norm != "none":
            block["ln1"] = _layer_norm_params(d_model, dtype)
            block["ln2"] = _layer_norm_params(d_model, dtype)
        blocks.append(block)
    params = {
        "embed": {
            "token": embed_init(k_tok, (vocab_size, d_model), dtype),
            "pos": embed_init(k_pos, (seq_len, d_model), dtype),
        },
        "blocks": blocks,
    }
    if norm != "none":
        params["ln_f"] = _layer_norm_params(d_model, dtype)
    if not tie_embeddings:
        params["readout"] = _linear(k_out, d_model, vocab_size, w_init, dtype)
    return params


# ------------------------------------------------------------------------------------------------ apply


def layer_norm(p: dict, x: Array) -> Array:
    """``(x - mean) / sqrt(var + 1e-5) * scale + bias`` over the last axis (statistics in float32)."""
    x32 = x.astype(jnp.float32)
    mu = jnp.mean(x32, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x32 - mu), axis=-1, keepdims=True)
    y = ((x32 - mu) * jax.lax.rsqrt(var + _LN_EPS)).astype(x.dtype)
    return y * p["scale"] + p["bias"]


def causal_attention(p: dict, x: Array, num_heads: int, scale: float) -> Array:
    """Causal multi-head self-attention ``o(softmax(scale * q k^T + mask) v)`` over the axis ``-2`` of ``x``
    (``(..., T, d)``); position ``t`` attends to positions ``<= t`` only (masked logits get exactly zero weight)."""
    *lead, t, d = x.shape
    dh = d // num_heads

    def heads(layer):
        return (x @ layer["w"] + layer["b"]).reshape(*lead, t, num_heads, dh)

    q, k, v = heads(p["q"]), heads(p["k"]), heads(p["v"])
    logits = jnp.einsum("...qhd,...khd->...hqk", q, k).astype(jnp.float32) * scale
    mask = jnp.tril(jnp.ones((t, t), bool))
    logits = jnp.where(mask, logits, -jnp.inf)
    weights = jax.nn.softmax(logits, axis=-1).astype(x.dtype)
    out = jnp.einsum("...hqk,...khd->...qhd", weights, v).reshape(*lead, t, d)
    return out @ p["o"]["w"] + p["o"]["b"]


def mlp_block(p: dict, x: Array) -> Array:
    """``gelu(x @ fc1.w + fc1.b) @ fc2.w + fc2.b`` (``jax.nn.gelu``, tanh approximation as in GPT-2)."""
    h = jax.nn.gelu(x @ p["fc1"]["w"] + p["fc1"]["b"])
    return h @ p["fc2"]["w"] + p["fc2"]["b"]


def _sublayer(norm: str, alpha: float, ln: dict | None, f: Callable[[Array], Array], x: Array):
    """One residual sublayer; returns ``(un-normalized residual sum, output)``."""
    if norm == "pre":
        s = x + f(layer_norm(ln, x))
        return s, s
    if norm == "none":
        s = x + f(x)
        return s, s
    s = (alpha * x if norm == "deepnorm" else x) + f(x)  # post-LN: alpha = 1
    return s, layer_norm(ln, s)


def _embed(params: Params, tokens: Array) -> Array:
    table, pos = params["embed"]["token"], params["embed"]["pos"]
    tokens = jnp.asarray(tokens)
    if jnp.issubdtype(tokens.dtype, jnp.integer):
        if tokens.ndim < 1:
            raise ValueError(f"tokens must have shape (..., T), got {tokens.shape}")
        h = jnp.take(table, tokens, axis=0)
    elif jnp.issubdtype(tokens.dtype, jnp.floating):
        if tokens.ndim < 2 or tokens.shape[-1] != table.shape[0]:
            raise ValueError(
                f"float tokens must be one-hot / soft tokens (..., T, {table.shape[0]}), got {tokens.shape}"
            )
        h = (tokens.astype(table.dtype) @ table).astype(table.dtype)
    else:
        raise TypeError(f"tokens must be integer ids or floating one-hot vectors, got {tokens.dtype}")
    t = h.shape[-2]
    if t > pos.shape[0]:
        raise ValueError(f"sequence length {t} exceeds the model's seq_len {pos.shape[0]}")
    return h + pos[:t]


def transformer_apply(
    params: Params,
    tokens: Array,
    *,
    norm: str = "pre",
    num_heads: int,
    alpha: float | None = None,
    attn_scale: str = "sqrt",
    return_activations: bool = False,
    scan_blocks: bool = False,
):
    """Logits ``(..., T, vocab_size)`` of :func:`transformer_init`'s model; position ``t`` sees tokens ``<= t``.

    ``h_0 = embed/token[tokens] + embed/pos[:T]``; each block applies two residual sublayers, attention
    ``f = causal_attention`` then MLP ``f = mlp_block``, placed by ``norm``:

    * ``"pre"`` (Pre-LN, GPT-2; Xiong et al. 2020): ``x <- x + f(LN(x))``;
    * ``"post"`` (Post-LN, Vaswani et al. 2017): ``x <- LN(x + f(x))``;
    * ``"deepnorm"`` (Wang et al. 2022): ``x <- LN(alpha * x + f(x))``, ``alpha`` default ``(2L)^(1/4)``;
    * ``"none"`` (T-Fixup, Huang et al. 2020): ``x <- x + f(x)``.

    Then the final LayerNorm ``ln_f`` (not for ``"none"``) and the readout ``h @ readout.w + readout.b`` (or
    ``h @ embed/token.T`` with tied embeddings).

    Args:
      params: from :func:`transformer_init` (with the same ``norm``).
      tokens: int ids ``(..., T)`` with ``T <= seq_len``, or floating one-hot / soft tokens ``(..., T, vocab)``
        (embedded as ``tokens @ embed/token``: the input :func:`jaxnn.diagnostics.signal_propagation` and its
        Jacobian need).
      norm: the residual/normalization placement (static).
      num_heads: attention heads (static; not stored in the tree).
      alpha: DeepNorm's residual scale (only for ``norm="deepnorm"``); default ``(2 L)^(1/4)``.
      attn_scale: attention-logit scale ``"sqrt"`` (``1/sqrt(d_head)``) or ``"mup"`` (``1/d_head``, muP).
      scan_blocks: run the blocks with one ``lax.scan`` over their stacked parameters instead of a Python loop:
        the same arithmetic, but a jitted program holds one block instead of ``L``, so a deep model compiles in
        about the time of a shallow one (the parameter tree is unchanged). Not with ``return_activations``.
      return_activations: also return one ``{"pre", "post"}`` record per stage, the contract of
        :mod:`jaxnn.diagnostics`: the embedding ``h_0`` (pre = post), per block ``pre`` = its last
        un-normalized residual sum (``x + f(x)``, ``alpha x + f(x)``) and ``post`` = the block's output (equal
        for ``"pre"``/``"none"``), and the logits (pre = post); ``L + 2`` records.

    Returns:
      logits in the parameters' dtype, or ``(logits, activations)``.
    """
    _check_norm(norm)
    if attn_scale not in ATTN_SCALES:
        raise ValueError(f"attn_scale must be one of {ATTN_SCALES}, got {attn_scale!r}")
    if alpha is not None and norm != "deepnorm":
        raise ValueError(f"alpha is DeepNorm's residual scale; it needs norm='deepnorm', got norm={norm!r}")
    num_heads = positive_int(num_heads, "num_heads")
    num_layers = len(params["blocks"])
    if alpha is None:
        alpha = (2.0 * num_layers) ** 0.25 if norm == "deepnorm" else 1.0
    d_model = params["embed"]["token"].shape[-1]
    if d_model % num_heads:
        raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
    d_head = d_model // num_heads
    scale = 1.0 / math.sqrt(d_head) if attn_scale == "sqrt" else 1.0 / d_head

    h = _embed(params, tokens)
    record = [{"pre": h, "post": h}]
    if scan_blocks and return_activations:
        raise ValueError("scan_blocks=True records no per-block activations; use return_activations without it")
    blocks = params["blocks"] if not (scan_blocks and num_layers) else []
    if scan_blocks and num_layers:

        def step(x, b):
            _, x = _sublayer(norm, alpha, b.get("ln1"), lambda u: causal_attention(b["attn"], u, num_heads, scale), x)
            _, x = _sublayer(norm, alpha, b.get("ln2"), lambda u: mlp_block(b["mlp"], u), x)
            return x, None

        h, _ = jax.lax.scan(step, h, jax.tree_util.tree_map(lambda *a: jnp.stack(a), *params["blocks"]))
    for block in blocks:
        _, h = _sublayer(
            norm, alpha, block.get("ln1"), lambda u, b=block: causal_attention(b["attn"], u, num_heads, scale), h
        )
        s, h = _sublayer(norm, alpha, block.get("ln2"), lambda u, b=block: mlp_block(b["mlp"], u), h)
        record.append({"pre": s, "post": h})
    if norm != "none":
        h = layer_norm(params["ln_f"], h)
    if "readout" in params:
        logits = h @ params["readout"]["w"] + params["readout"]["b"]
    else:
        logits = h @ params["embed"]["token"].T
    record.append({"pre": logits, "post": logits})
    return (logits, record) if return_activations else logits
