"""Initialization schemes for the decoder-only transformer of :func:`jaxnn.models.transformer_init` (re-exported by
:mod:`jaxnn.schemes`).

**Every scheme here returns reinit rules**, not parameters: an ordered ``{pattern: initializer}`` mapping (first
match wins, the pattern syntax of :func:`jaxnn.reinit`) that you apply with::

    params = jaxnn.reinit(key, params, schemes.gpt2(num_layers))

Rules compose (put your overrides first: ``[{"readout/w": zeros}, schemes.gpt2(L)]``), keep every leaf's draw
independent of the others (keys folded from the path) and work on any model that names its leaves the same way
(``blocks/<i>/attn/{q,k,v,o}/w``, ``blocks/<i>/mlp/{fc1,fc2}/w``, ``embed/{token,pos}``, ``readout/w``, biases
``b``, LayerNorm ``scale``/``bias``). The architecture half of a scheme (DeepNorm's ``alpha``, muP's ``1/d_head``
attention, T-Fixup's missing LayerNorm) is an argument of :func:`jaxnn.models.transformer_apply`; each docstring
says which. ``L`` is the number of blocks and ``d`` the width throughout; "Xavier" draws have variance
``gain^2 * 2 / (fan_in + fan_out)``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from jaxnn import initializers
from jaxnn._reinit import standard as _standard_rule
from jaxnn._util import Initializer, Params, positive_int

__all__ = [
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

# the residual branches' output projections, and the weights DeepNorm / T-Fixup rescale
ATTN_OUT = "blocks/*/attn/o/w"
MLP_OUT = "blocks/*/mlp/fc2/w"
BRANCH_WEIGHTS = ("blocks/*/attn/v/w", "blocks/*/attn/o/w", "blocks/*/mlp/fc1/w", "blocks/*/mlp/fc2/w")
EMBEDDINGS = "embed/*"
_NORM_AND_BIAS = {"b": initializers.zeros, "bias": initializers.zeros, "scale": initializers.ones}


def _layers(num_layers) -> int:
    return positive_int(num_layers, "num_layers")


def _scaled(init: Initializer, factor: float) -> Initializer:
    """``factor * init(key, shape, dtype)`` (the product in float32, cast to ``dtype``)."""

    def scaled(key, shape, dtype=jnp.float32):
        return (factor * init(key, shape, jnp.float32)).astype(dtype)

    scaled.__name__ = f"{getattr(init, '__name__', 'init')}*{factor:.6g}"
    return scaled


def _xavier_normal(gain: float = 1.0) -> Initializer:
    """Untruncated Xavier normal (torch's ``xavier_normal_``): ``N(0, gain^2 * 2 / (fan_in + fan_out))``."""
    return initializers.variance_scaling(gain * gain, "fan_avg", "normal")


def _embedding_normal(d_model: int | None) -> Initializer:
    """``N(0, d^-1/2)`` (standard deviation ``1/sqrt(d)``); ``d`` is the table's last axis unless given."""

    def init(key, shape, dtype=jnp.float32):
        d = shape[-1] if d_model is None else d_model
        return (jax.random.normal(key, shape, jnp.float32) / math.sqrt(d)).astype(dtype)

    return init


def gpt2(num_layers: int, *, std: float = 0.02) -> dict:
    """GPT-2 (Radford et al. 2019; the released code and Hugging Face's): every weight and both embedding tables
    ``N(0, std^2)`` with ``std = 0.02``; the residual output projections (attention out ``o``, MLP out ``fc2``)
    ``N(0, (std / sqrt(2 L))^2)``, one ``1/sqrt(2L)`` for each of the ``2L`` residual additions; biases 0,
    LayerNorm scale 1 and bias 0. Pair with ``transformer_apply(norm="pre")``. Returns reinit rules."""
    L = _layers(num_layers)
    residual = initializers.normal(std / math.sqrt(2 * L))
    return {
        ATTN_OUT: residual,
        MLP_OUT: residual,
        EMBEDDINGS: initializers.normal(std),
        "w": initializers.normal(std),
        **_NORM_AND_BIAS,
    }


def t_fixup(num_layers: int, d_model: int | None = None) -> dict:
    """T-Fixup, decoder rule (Huang, Perez, Ba & Volkovs 2020, "Improving Transformer Optimization Through Better
    Initialization"): train without LayerNorm and without warmup.

    * every weight Xavier uniform (gain 1); the embedding tables ``N(0, d^-1/2)`` (standard deviation
      ``1/sqrt(d)``, ``d = d_model`` or each table's last axis);
    * then, in every block, the attention value ``v`` and output ``o`` weights and both MLP weights, and the
      embedding tables (token and, here learned, position), are multiplied by ``(9 L)^(-1/4)`` (the decoder
      factor; the paper's encoder factor ``0.67 L^(-1/4)`` is not used);
    * query ``q``, key ``k`` and the readout keep plain Xavier; biases 0 (LayerNorm leaves, if any, scale 1).

    Pair with ``transformer_init(norm="none")`` / ``transformer_apply(norm="none")``. Returns reinit rules.
    """
    L = _layers(num_layers)
    if d_model is not None:
        positive_int(d_model, "d_model")
    c = (9.0 * L) ** -0.25
    branch = _scaled(initializers.xavier_uniform(), c)
    return {
        **{p: branch for p in BRANCH_WEIGHTS},
        EMBEDDINGS: _scaled(_embedding_normal(d_model), c),
        "w": initializers.xavier_uniform(),
        **_NORM_AND_BIAS,
    }


def deepnorm_constants(num_layers: int) -> tuple[float, float]:
    """DeepNorm's ``(alpha, beta)`` for a decoder-only (or encoder-only) model of ``L`` blocks (Wang et al. 2022,
    Table 1): ``alpha = (2 L)^(1/4)``, ``beta = (8 L)^(-1/4)``."""
    L = _layers(num_layers)
    return (2.0 * L) ** 0.25, (8.0 * L) ** -0.25


def deepnorm(num_layers: int) -> dict:
    """DeepNorm / DeepNet, decoder-only (Wang, Ma, Dong, Huang, Zhang & Wei 2022, "DeepNet: Scaling Transformers
    to 1,000 Layers"): the Post-LN residual ``x <- LN(alpha x + f(x))`` with ``alpha = (2 L)^(1/4)`` -- the
    default ``alpha`` of ``transformer_apply(norm="deepnorm")`` -- and this initialization:

    * attention value ``v`` and output ``o`` weights and both MLP weights: Xavier normal with gain
      ``beta = (8 L)^(-1/4)``, i.e. ``N(0, beta^2 * 2 / (fan_in + fan_out))``;
    * query ``q``, key ``k`` and the readout: Xavier normal, gain 1;
    * embedding tables ``N(0, d^-1/2)`` (as in the authors' torchscale code); biases 0, LayerNorm scale 1.

    See :func:`deepnorm_constants` for the two numbers. Returns reinit rules.
    """
    _, beta = deepnorm_constants(num_layers)
    branch = _xavier_normal(beta)
    return {
        **{p: branch for p in BRANCH_WEIGHTS},
        EMBEDDINGS: _embedding_normal(None),
        "w": _xavier_normal(1.0),
        **_NORM_AND_BIAS,
    }


def transformer_standard(weight_init: Initializer, *, embedding_init: Initializer | None = None) -> list:
    """A standard scheme on every transformer kernel: ``weight_init`` (e.g. ``initializers.xavier_uniform()``,
    ``he_normal()``, ``lecun_normal()``) on every ``w`` (q, k, v, o, fc1, fc2, readout), the embedding tables from
    ``embedding_init`` (default ``N(0, 0.02^2)``, the small embedding init of GPT-2 / BERT), biases 0, LayerNorm
    scale 1 and bias 0 (:func:`jaxnn.rules.standard`). Returns reinit rules."""
    emb = initializers.normal(0.02) if embedding_init is None else embedding_init
    return [{EMBEDDINGS: emb}, _standard_rule(weight_init, initializers.zeros, scale_init=initializers.ones)]


# ----------------------------------------------------------------------------------------------------- muP


def mup_transformer(*, embedding_std: float = 0.02) -> dict:
    """muP initialization of the transformer for Adam (Yang et al. 2022, "Tensor Programs V", Table 3 and
    Appendix B.1):

    * hidden weights (``k``, ``v``, ``o``, ``fc1``, ``fc2``): ``N(0, 1 / fan_in)`` (untruncated LeCun);
    * query ``q`` and readout ``w``: zero (muP allows it; zero queries make every attention map uniform at
      step 0, and the zero readout gives the ``1/fan_in^2`` readout variance in its limit);
    * embedding tables (input weights): ``N(0, embedding_std^2)``, the same at every width; biases 0,
      LayerNorm scale 1.

    The rest of muP is in the forward pass and the optimizer: ``transformer_apply(attn_scale="mup")`` (logits
    ``q.k / d_head`` instead of ``/ sqrt(d_head)``), untied embeddings (``tie_embeddings=False``) and the per-layer
    Adam learning rates of :func:`mup_transformer_lr_multipliers` / :func:`mup_transformer_optimizer`. Returns
    reinit rules.
    """
    return {
        "blocks/*/attn/q/w": initializers.zeros,
        "readout/w": initializers.zeros,
        EMBEDDINGS: initializers.normal(embedding_std),
        "w": initializers.variance_scaling(1.0, "fan_in", "normal"),
        **_NORM_AND_BIAS,
    }


def _width(tree) -> int:
    try:
        return int(tree["embed"]["token"].shape[-1])
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        raise TypeError("expected transformer params with an 'embed/token' table (from transformer_init)") from e


def mup_transformer_lr_multipliers(params: Params, *, base_width: int) -> Params:
    """Per-leaf Adam learning-rate multipliers of muP (Yang et al. 2022, Table 3), a tree of floats shaped like
    ``params``: every weight ``w`` inside the blocks and the readout (hidden and output weights) gets
    ``base_width / d`` (Adam learning rate ``proportional to 1/width``; ``d`` = ``embed/token``'s last axis, so
    ``d_ff`` scaling with ``d`` is covered); the embedding tables (input weights), biases and LayerNorm
    parameters get 1. All ones at ``d == base_width``: a learning rate tuned at the base width transfers."""
    positive_int(base_width, "base_width")
    ratio = base_width / _width(params)

    def one(path, leaf):
        del leaf
        name = path[-1].key if isinstance(path[-1], jax.tree_util.DictKey) else None
        top = path[0].key if isinstance(path[0], jax.tree_util.DictKey) else None
        return ratio if name == "w" and top in ("blocks", "readout") else 1.0

    return jax.tree_util.tree_map_with_path(one, params)


def scale_by_mup_transformer(*, base_width: int) -> optax.GradientTransformation:
    """Stateless optax transform multiplying each update leaf by its :func:`mup_transformer_lr_multipliers`
    entry (from the update tree's shapes at trace time)."""
    positive_int(base_width, "base_width")

    def f(updates, params=None):
        del params
        mult = mup_transformer_lr_multipliers(updates, base_width=base_width)
        return jax.tree.map(lambda u, m: u * jnp.asarray(m, u.dtype), updates, mult)

    return optax.stateless(f)


def mup_transformer_optimizer(learning_rate, *, base_width: int, optimizer=optax.adam) -> optax.GradientTransformation:
    """``optax.chain(optimizer(learning_rate), scale_by_mup_transformer(base_width))``: Adam (default) with muP's
    per-layer learning rates. Only for scale-invariant optimizers such as Adam; ``learning_rate`` may be a float
    or an optax schedule (warmup included). Extra optimizer arguments: ``functools.partial(optax.adam, b2=0.98)``."""
    return optax.chain(optimizer(learning_rate), scale_by_mup_transformer(base_width=base_width))
