"""The configuration of one benchmark: :class:`Config`, the named :data:`PRESETS`, and its one validation.

A :class:`Config` is the complete, JSON-able definition of one benchmark (what ``config.json`` records and what
decides whether a results directory can be resumed). The CLI starts from a preset and applies overrides;
:func:`validate` checks every field and resolves every spec once, before anything is written;
:func:`jaxnn.bench.experiment.build` then turns it into data and functions.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from jaxnn import activations, datasets
from jaxnn._util import positive_int

# The bundled scikit-learn datasets and the seeded synthetic regression with outliers (the loss-robustness preset).
# "hmm": the seeded hidden-Markov-model language of jaxnn.datasets.hmm_language (model "transformer" only).
DATASETS = (*datasets.KNOWN_DATASETS, "synthetic_regression", "hmm")

__all__ = ["DATASETS", "Config", "PRESETS", "DEFAULT_SCHEMES", "MODELS", "get_preset", "validate"]

DEFAULT_SCHEMES = (
    "zeros",
    "ones",
    "normal(0.01)",
    "normal(1.0)",
    "uniform(-0.05, 0.05)",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "orthogonal",
    "torch_linear_default",
)

MODELS = ("mlp", "conv", "resmlp", "transformer")
TRANSFORMER_NORMS = ("pre", "post", "deepnorm", "none")
LR_MODES = ("tune", "each")


@dataclasses.dataclass(frozen=True)
class Config:
    """One benchmark, fully specified. Tuples so a Config is hashable; ``to_json`` for config.json."""

    preset: str = "default"
    description: str = ""
    dataset: str = "digits"
    dataset_seed: int = 0
    model: str = "mlp"  # "mlp", "conv", "resmlp" or "transformer" (with dataset "hmm")
    # mlp hidden widths (conv: dense widths after the convs; resmlp: (width,) * num_blocks, each block
    # h <- h + f(h) with a 2-layer branch f)
    hidden: tuple[int, ...] = (128, 128, 128)
    channels: tuple[int, ...] = (16, 32)  # conv only
    activation: str = "relu"
    compare: str = "schemes"  # the compared axis: "schemes" or "losses"
    losses: tuple[str, ...] = ("categorical_cross_entropy",)
    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    optimizer: str = "sgd(momentum=0.9)"
    learning_rates: tuple[float, ...] = (0.01,)
    seeds: int = 16
    tune_seeds: int | None = None
    steps: int = 300
    batch_size: int = 128
    eval_every: int = 10
    target: float = 0.3
    target_on: str = "eval_loss"  # "eval_loss", "train_loss" or "eval_metric"
    train_loss: str = "batch"  # the train_loss curve: "batch" (running minibatch mean) or "full"
    seed: int = 0
    # transformer only (model="transformer"): width(s), heads, blocks; schemes are NORM/INIT specs
    # (jaxnn.bench.specs). Several widths: every scheme is compared at every width (the muP transfer view).
    d_model: tuple[int, ...] = (64,)
    num_heads: int = 4
    num_layers: int = 2
    # linear learning-rate warmup over this fraction of the steps (0: none); several: every scheme at each
    warmup: tuple[float, ...] = (0.0,)
    # several learning_rates: "tune" (each scheme at its rate tuned on a validation split) or "each" (every
    # rate is its own compared entry, the fixed-learning-rate view, e.g. loss against learning rate)
    lr_mode: str = "tune"

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def replace(self, **kw) -> Config:
        return dataclasses.replace(self, **kw)


PRESETS: dict[str, Config] = {
    "default": Config(
        preset="default",
        description="digits, MLP 64-128-128-128-10, ReLU, cross-entropy, SGD+momentum: 12 schemes x 16 seeds",
    ),
    "deep-relu": Config(
        preset="deep-relu",
        description="30-layer ReLU MLP (width 64): He trains it, Glorot does not (He et al. 2015)",
        hidden=(64,) * 29,
        schemes=("glorot_normal", "glorot_uniform", "lecun_normal", "he_normal", "he_uniform", "orthogonal"),
        # With momentum 0.9, lr 0.01 made He unstable at this depth (8/8 seeds reached loss 1.0, then the
        # median final loss rose to 1.6); 0.003 trains every He seed. Glorot fails at both.
        learning_rates=(0.003,),
        seeds=8,
        steps=600,
        target=1.0,
    ),
    "deep-tanh": Config(
        preset="deep-tanh",
        description="20-layer tanh MLP (width 64): N(0,1) saturates, Glorot trains (Glorot & Bengio 2010)",
        hidden=(64,) * 19,
        activation="tanh",
        schemes=("normal(1.0)", "normal(0.01)", "glorot_normal", "glorot_uniform", "lecun_normal", "orthogonal"),
        learning_rates=(0.003,),
        seeds=8,
        steps=600,
        target=1.0,
    ),
    "deep-residual": Config(
        preset="deep-residual",
        description="16-block residual MLP (width 64, h + f(h)): Fixup, ZerO and LSUV vs He / Glorot "
        "(LSUV costs extra forward passes before training)",
        model="resmlp",
        hidden=(64,) * 16,
        schemes=("he_normal", "fixup", "zero", "lsuv", "glorot_normal"),
        learning_rates=(0.01,),
        seeds=8,
        steps=300,
        target=0.3,
    ),
    "loss-robustness": Config(
        preset="loss-robustness",
        description="regression with heavy-tailed outliers in the training targets: MSE vs Huber, "
        "scored by R^2 on clean test targets",
        dataset="synthetic_regression",
        hidden=(64, 64),
        compare="losses",
        losses=("mse", "huber(delta=1.0)", "mae"),
        schemes=("he_normal",),
        optimizer="adam",
        learning_rates=(0.003,),
        seeds=16,
        steps=300,
        batch_size=64,
        target=0.5,
        target_on="eval_metric",
    ),
    "loss-choice": Config(
        preset="loss-choice",
        description="digits MLP trained with cross-entropy vs MSE on one-hot targets, target 90% accuracy",
        compare="losses",
        losses=("categorical_cross_entropy", "mse"),
        schemes=("he_normal",),
        learning_rates=(0.01,),
        seeds=16,
        steps=300,
        target=0.9,
        target_on="eval_metric",
    ),
    "breast-cancer": Config(
        preset="breast-cancer",
        description="breast cancer (binary, malignant = 1), MLP 30-32-32-1, binary cross-entropy",
        dataset="breast_cancer",
        hidden=(32, 32),
        losses=("binary_cross_entropy",),
        seeds=16,
        steps=200,
        batch_size=64,
        target=0.15,
    ),
    "diabetes": Config(
        preset="diabetes",
        description="diabetes progression (regression, standardized target), MLP 10-32-32-1, MSE",
        dataset="diabetes",
        hidden=(32, 32),
        losses=("mse",),
        seeds=16,
        steps=200,
        batch_size=64,
        target=0.6,
    ),
    # Transformers on the seeded HMM language (jaxnn.datasets.hmm_language, dataset_seed 0: 16 states, 32 tokens,
    # 2048 train / 256 test sequences of 25 tokens). Sized for a 2-core CPU: every (norm placement, width,
    # warmup) is its own compiled program (~20-30 s of XLA compilation each on a loaded 2-core machine), so the
    # presets keep the programs few and the models small; see docs/benchmarks.md ("Transformers").
    "transformer-depth": Config(
        preset="transformer-depth",
        description="6-block decoder-only transformer (d=32) on an HMM language, Adam lr 3e-3: Post-LN with and "
        "without warmup vs Pre-LN, DeepNorm, T-Fixup (no LayerNorm) and GPT-2 init (Xiong et al. 2020; "
        "Wang et al. 2022; Huang et al. 2020)",
        dataset="hmm",
        model="transformer",
        schemes=(
            "post/xavier_uniform",
            "post/xavier_uniform/warmup(0.2)",
            "pre/xavier_uniform",
            "pre/gpt2",
            "deepnorm/deepnorm",
            "none/t_fixup",
        ),
        optimizer="adam(b2=0.98)",
        learning_rates=(0.003,),
        seeds=8,
        steps=150,
        batch_size=16,
        eval_every=25,
        target=2.8,
        d_model=(32,),
        num_heads=4,
        num_layers=6,
    ),
    "transformer-mup": Config(
        preset="transformer-mup",
        description="learning-rate transfer across width (d=32, 64, 128; 2 blocks, Pre-LN, Adam): muP vs the "
        "standard parametrization (LeCun init, global lr), every rate its own entry (Yang et al. 2022, Fig. 1)",
        dataset="hmm",
        model="transformer",
        schemes=("pre/lecun_normal", "pre/mup"),
        optimizer="adam(b2=0.98)",
        learning_rates=(0.001, 0.003, 0.01, 0.03),
        lr_mode="each",
        seeds=8,
        steps=100,
        batch_size=16,
        eval_every=25,
        target=2.8,
        d_model=(32, 64, 128),
        num_heads=4,
        num_layers=2,
    ),
}


def get_preset(name: str) -> Config:
    """The preset called ``name``; unknown names raise ``ValueError`` listing the valid ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return PRESETS[name]


def validate(config: Config) -> Config:
    """``config`` itself if every field is valid, else a one-line ``ValueError`` naming the field and the value.

    The checks that need no data: names, counts, the budget, the compared axis. What needs the data or the
    model (spec arguments, batch size against the training set) is checked by
    :func:`jaxnn.bench.experiment.build`; both run before a results directory is touched.
    """
    if config.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {config.dataset!r}; valid datasets: {', '.join(DATASETS)}")
    if config.model not in MODELS:
        raise ValueError(f"unknown model {config.model!r}; valid models: {', '.join(MODELS)}")
    activations.get(config.activation)
    if config.compare not in ("schemes", "losses"):
        raise ValueError(f"compare must be 'schemes' or 'losses', got {config.compare!r}")
    if config.compare == "schemes" and len(config.losses) != 1:
        raise ValueError(
            f"comparing schemes needs exactly one loss, got {list(config.losses)} "
            "(use --compare losses to compare losses)"
        )
    if not config.schemes:
        raise ValueError("schemes must name at least one scheme")
    if config.compare == "losses" and len(config.schemes) != 1:
        raise ValueError(f"comparing losses needs exactly one scheme, got {list(config.schemes)}")
    if config.target_on not in ("eval_loss", "train_loss", "eval_metric"):
        raise ValueError(f"target_on must be eval_loss, train_loss or eval_metric, got {config.target_on!r}")
    if config.train_loss not in ("batch", "full"):
        raise ValueError(f"train_loss must be batch or full, got {config.train_loss!r}")
    if config.compare == "losses" and config.target_on != "eval_metric":
        raise ValueError(
            "comparing losses needs target_on='eval_metric' (loss values of different losses are not comparable)"
        )
    for name in ("seeds", "steps", "batch_size", "eval_every"):
        positive_int(getattr(config, name), name)
    if config.tune_seeds is not None:
        positive_int(config.tune_seeds, "tune_seeds")
    if config.eval_every > config.steps:
        raise ValueError(
            f"eval_every={config.eval_every} exceeds steps={config.steps}: there would be no evaluation after step 0"
        )
    for field in ("schemes", "losses"):
        values = list(getattr(config, field))
        if len(set(values)) != len(values):
            raise ValueError(f"{field} must be unique, got {values}")
    if not config.learning_rates or any(not (math.isfinite(v) and v > 0) for v in config.learning_rates):
        raise ValueError(f"learning_rates must be positive numbers, got {list(config.learning_rates)}")
    if not math.isfinite(config.target):
        raise ValueError(f"target must be a finite number, got {config.target!r}")
    if config.lr_mode not in LR_MODES:
        raise ValueError(f"lr_mode must be one of {', '.join(LR_MODES)}, got {config.lr_mode!r}")
    _check_unique_tuple(config.warmup, "warmup")
    if any(isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= w < 1.0 for w in config.warmup):
        raise ValueError(f"warmup must be fractions of the steps in [0, 1), got {list(config.warmup)}")
    if (config.model == "transformer") != (config.dataset == "hmm"):
        raise ValueError(
            f"model 'transformer' trains on dataset 'hmm' (next-token prediction) and 'hmm' needs model "
            f"'transformer'; got model {config.model!r} with dataset {config.dataset!r}"
        )
    if config.model == "transformer":
        _check_unique_tuple(config.d_model, "d_model")
        for d in config.d_model:
            positive_int(d, "d_model")
        positive_int(config.num_heads, "num_heads")
        positive_int(config.num_layers, "num_layers")
        bad = [d for d in config.d_model if d % config.num_heads]
        if bad:
            raise ValueError(f"d_model {bad} must be divisible by num_heads={config.num_heads}")
    elif len(config.d_model) != 1:
        raise ValueError(f"several d_model widths need model 'transformer', got {list(config.d_model)}")
    return config


def _check_unique_tuple(values, name: str) -> None:
    values = list(values)
    if not values:
        raise ValueError(f"{name} must give at least one value")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must be unique, got {values}")
