"""Benchmark presets and the resolution of a benchmark configuration into the functions a sweep needs.

A :class:`Config` is the complete, JSON-able definition of one benchmark (what ``config.json`` records and
what decides whether a results directory can be resumed). :data:`PRESETS` holds the named ones; the CLI
starts from a preset and applies overrides. :func:`build` turns a config into data, model, loss, metric,
optimizer and schemes.

Spec strings (schemes, losses, optimizers) use one small grammar, ``name`` or ``name(arg, key=value)``, with
Python literals as arguments, passed straight to the factory:

* scheme: ``WEIGHT`` or ``WEIGHT/BIAS`` with ``jaxnn.initializers`` names, e.g. ``he_normal``,
  ``normal(0.01)``, ``uniform(-0.05, 0.05)``, ``orthogonal(scale=1.414)``, ``glorot_uniform/normal(0.01)``.
  The bias defaults to ``zeros``, except for ``torch_linear_default``, whose bias (like torch's ``nn.Linear``)
  is ``U(+-1/sqrt(fan_in))`` with each layer's own fan-in; a bias spec ``torch_linear_default`` means the same.
  Named whole-network schemes (:mod:`jaxnn.schemes`, applied as a :class:`jaxnn.bench.sweep.Scheme` ``transform``
  after the model's init; no ``/BIAS`` part):

  - ``lsuv`` / ``lsuv(tol=0.1, max_iters=10)``: LSUV (Mishkin & Matas 2016), orthogonal start rescaled layer by
    layer to unit pre-activation variance on a fixed batch, the first :data:`LSUV_BATCH` training rows.
    Data-dependent and *not free*: it costs up to ``L * (max_iters + 1) + 1`` forward passes of that batch per
    run (``2L + 1`` with zero biases) before training, which the step counts of the comparison do not include
    -- so it is not an equal-compute comparison with the per-leaf schemes (the extra cost is small next to
    the training steps: a few dozen forward passes of 256 rows). Models: mlp, resmlp, conv.
  - ``fixup``: Fixup (Zhang et al. 2019): classifier and last layer of every residual branch zero, other branch
    layers He-normal scaled by ``L^(-1/(2m-2))``, zero biases. Model: resmlp only.
  - ``zero``: ZerO (Zhao et al. 2022), deterministic identity / Hadamard weights (residual branches end in
    zero), zero biases. Models: mlp, resmlp.
* loss: ``jaxnn.losses`` names, e.g. ``categorical_cross_entropy``, ``mse``, ``huber(delta=1.0)``. On a
  multiclass task a regression loss (mse, mae, huber, smooth_l1, log_cosh) is applied to one-hot targets.
* optimizer: an ``optax`` optimizer that takes ``learning_rate`` first, e.g. ``sgd(momentum=0.9)``,
  ``adam``, ``adamw(weight_decay=1e-4)``; the learning rate is given separately (``learning_rates``).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "Config",
    "PRESETS",
    "DEFAULT_SCHEMES",
    "NAMED_SCHEMES",
    "get_preset",
    "parse_spec",
    "split_specs",
    "build",
    "Experiment",
]

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

KNOWN_DATASETS = ("digits", "breast_cancer", "diabetes", "synthetic_regression")
MODELS = ("mlp", "conv", "resmlp")
# Named whole-network schemes (jaxnn.schemes) and the models each supports.
NAMED_SCHEMES = {"lsuv": ("mlp", "resmlp", "conv"), "fixup": ("resmlp",), "zero": ("mlp", "resmlp")}
LSUV_BATCH = 256  # LSUV calibrates on the first LSUV_BATCH rows of the training data
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "lion", "nadam", "adabelief")
_REGRESSION_LOSSES = ("mean_squared_error", "mean_absolute_error", "huber", "smooth_l1", "log_cosh")


@dataclasses.dataclass(frozen=True)
class Config:
    """One benchmark, fully specified. Tuples so a Config is hashable; ``to_json`` for config.json."""

    preset: str = "default"
    description: str = ""
    dataset: str = "digits"
    dataset_seed: int = 0
    model: str = "mlp"  # "mlp", "conv" or "resmlp"
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
}


def get_preset(name: str) -> Config:
    """The preset called ``name``; unknown names raise ``ValueError`` listing the valid ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return PRESETS[name]


# ---------------------------------------------------------------------------------------------------- specs


def split_specs(text: str, sep: str = ",") -> list[str]:
    """Split ``"he_normal, uniform(-0.05, 0.05)"`` at top-level separators (not inside parentheses)."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [s for s in out if s]


def parse_spec(spec: str, what: str = "spec") -> tuple[str, tuple, dict]:
    """``"name(1, k=2)"`` -> ``("name", (1,), {"k": 2})``; arguments must be Python literals."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{what} must be a non-empty string like 'name' or 'name(arg, key=value)', got {spec!r}")
    try:
        node = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"cannot parse {what} {spec!r}: expected 'name' or 'name(arg, key=value)'") from e
    if isinstance(node, ast.Name):
        return node.id, (), {}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        try:
            args = tuple(ast.literal_eval(a) for a in node.args)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except ValueError as e:
            raise ValueError(f"{what} {spec!r}: arguments must be Python literals") from e
        return node.func.id, args, kwargs
    raise ValueError(f"cannot parse {what} {spec!r}: expected 'name' or 'name(arg, key=value)'")


def _initializer(spec: str):
    from jaxnn import initializers

    name, args, kwargs = parse_spec(spec, "initializer")
    try:
        factory = initializers.get(name)
    except ValueError as e:
        raise ValueError(
            f"unknown initializer in scheme {spec!r}; valid names: "
            f"{', '.join(initializers.names())}; named schemes: {', '.join(NAMED_SCHEMES)}"
        ) from e
    return factory(*args, **kwargs)


@dataclasses.dataclass(frozen=True, eq=False)
class _LSUV:
    """LSUV bound to the model's apply function and a fixed calibration batch (a Scheme ``transform``)."""

    apply_fn: Callable
    batch: Any
    tol: float = 0.1
    max_iters: int = 10

    def __call__(self, key, params):
        from jaxnn import schemes

        return schemes.lsuv(key, params, self.apply_fn, self.batch, tol=self.tol, max_iters=self.max_iters)


def _named_scheme(spec: str, name: str, args: tuple, kwargs: dict, *, model: str, apply_fn, batch):
    from jaxnn import schemes
    from jaxnn.bench.sweep import Scheme

    models_ok = NAMED_SCHEMES[name]
    if model not in models_ok:
        raise ValueError(
            f"scheme {spec!r} does not support model {model!r}; {name} supports models: "
            f"{', '.join(models_ok)}" + (" (use --model resmlp)" if models_ok == ("resmlp",) else "")
        )
    zeros = jax.nn.initializers.zeros  # placeholder weights: every named scheme overwrites them
    if name == "lsuv":
        unknown = set(kwargs) - {"tol", "max_iters"}
        if args or unknown:
            raise ValueError(
                f"scheme {spec!r}: lsuv takes only keyword options tol and max_iters, e.g. lsuv(tol=0.1, max_iters=10)"
            )
        tol, max_iters = kwargs.get("tol", 0.1), kwargs.get("max_iters", 10)
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0.0 < tol < 1.0:
            raise ValueError(f"scheme {spec!r}: tol must be a number in (0, 1), got {tol!r}")
        if isinstance(max_iters, bool) or not isinstance(max_iters, int) or max_iters < 1:
            raise ValueError(f"scheme {spec!r}: max_iters must be a positive int, got {max_iters!r}")
        if apply_fn is None or batch is None:
            raise ValueError(f"scheme {spec!r} is data-dependent: it needs the model's apply_fn and a batch")
        return Scheme(spec, zeros, zeros, _LSUV(apply_fn, batch, float(tol), int(max_iters)))
    if args or kwargs:
        raise ValueError(f"scheme {spec!r}: {name} takes no arguments")
    if name == "fixup":
        return Scheme(spec, zeros, zeros, schemes.fixup)
    # zero: a plain initializer on an MLP, the whole-network version (zero branch ends) on a residual MLP
    if model == "mlp":
        return Scheme(spec, schemes.zero_initializer(), zeros)
    return Scheme(spec, zeros, zeros, schemes.zero_init)


def scheme(spec: str, fan_ins: Sequence[int], *, model: str = "mlp", apply_fn: Callable | None = None, batch=None):
    """A :class:`jaxnn.bench.sweep.Scheme` from a spec (see the module docstring); ``fan_ins`` per layer (bias rule).

    Named schemes (``lsuv``, ``fixup``, ``zero``; :data:`NAMED_SCHEMES`) depend on ``model``; ``lsuv`` also
    needs ``apply_fn`` and a calibration ``batch`` of inputs. Unsupported combinations raise ``ValueError``.
    """
    from jaxnn import initializers
    from jaxnn.bench.sweep import Scheme

    parts = split_specs(spec, "/")
    if len(parts) not in (1, 2):
        raise ValueError(f"scheme {spec!r} must be 'WEIGHT' or 'WEIGHT/BIAS'")
    name, args, kwargs = parse_spec(parts[0], "scheme")
    if name in NAMED_SCHEMES:
        if len(parts) != 1:
            raise ValueError(f"scheme {spec!r}: the named scheme {name!r} sets the biases itself; drop the /BIAS part")
        return _named_scheme(spec, name, args, kwargs, model=model, apply_fn=apply_fn, batch=batch)
    w = _initializer(parts[0])
    b_spec = (
        parts[1]
        if len(parts) == 2
        else ("torch_linear_default" if parse_spec(parts[0])[0] == "torch_linear_default" else "zeros")
    )
    if b_spec == "torch_linear_default":
        b = tuple(initializers.torch_linear_default(fan_in=int(f)) for f in fan_ins)
    else:
        b = _initializer(b_spec)
    return Scheme(spec, w, b)


@dataclasses.dataclass(frozen=True)
class Bound:
    """``functools.partial`` with value equality: ``Bound(f, (("k", v),))(*a) == f(*a, k=v)``.

    Two builds of the same config give *equal* functions, so ``jit`` reuses the compiled training program
    (a ``functools.partial`` compares by identity and would recompile).
    """

    fn: Callable
    kwargs: tuple = ()

    def __call__(self, *args, **kw):
        return self.fn(*args, **dict(self.kwargs), **kw)


def _bind(fn, **kwargs) -> Bound:
    return Bound(fn, tuple(sorted(kwargs.items())))


def _loss(spec: str, task: str, num_classes: int | None):
    from jaxnn import losses

    name, args, kwargs = parse_spec(spec, "loss")
    try:
        fn = losses.get(name)
    except ValueError as e:
        raise ValueError(f"unknown loss {spec!r}; valid losses: {', '.join(losses.names())}") from e
    if args:
        raise ValueError(f"loss {spec!r}: give loss options as keywords, e.g. huber(delta=1.0)")
    fn = _bind(fn, **kwargs) if kwargs else fn
    if task == "multiclass" and fn_name(fn) in _REGRESSION_LOSSES:
        return _OneHotLoss(fn, num_classes)
    return fn


def fn_name(fn) -> str:
    while isinstance(fn, (functools.partial, Bound)):
        fn = fn.func if isinstance(fn, functools.partial) else fn.fn
    return getattr(fn, "__name__", "")


@dataclasses.dataclass(frozen=True)
class _OneHotLoss:
    """A regression loss applied to one-hot targets of integer labels (loss-choice: MSE on one-hot)."""

    fn: Callable
    num_classes: int

    def __call__(self, predictions, labels):
        return self.fn(predictions, jax.nn.one_hot(labels, self.num_classes, dtype=predictions.dtype))


def _optimizer(spec: str):
    import optax

    name, args, kwargs = parse_spec(spec, "optimizer")
    if name not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {spec!r}; valid optimizers: {', '.join(OPTIMIZERS)} "
            "(any optax optimizer taking learning_rate, given as e.g. 'sgd(momentum=0.9)')"
        )
    if args:
        raise ValueError(
            f"optimizer {spec!r}: give options as keywords (the learning rate comes from --lr/learning_rates)"
        )
    return _bind(getattr(optax, name), **kwargs)


# ---------------------------------------------------------------------------------------------------- build


@dataclasses.dataclass
class Experiment:
    """What :func:`build` makes from a Config: ready for :func:`jaxnn.bench.sweep.sweep` (one call per loss)."""

    config: Config
    dataset: Any
    validation: Any
    init_fn: Callable
    apply_fn: Callable
    losses: dict[str, Callable]  # compared losses (one entry when compare == "schemes")
    metric: Callable
    metric_name: str
    optimizer: Callable
    schemes: list
    layer_names: list[str]


def _check(config: Config):
    from jaxnn import activations

    if config.dataset not in KNOWN_DATASETS:
        raise ValueError(f"unknown dataset {config.dataset!r}; valid datasets: {', '.join(KNOWN_DATASETS)}")
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
        v = getattr(config, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not config.learning_rates or any(not (math.isfinite(v) and v > 0) for v in config.learning_rates):
        raise ValueError(f"learning_rates must be positive numbers, got {list(config.learning_rates)}")
    if not math.isfinite(config.target):
        raise ValueError(f"target must be a finite number, got {config.target!r}")


def build(config: Config) -> Experiment:
    """Load the data and resolve every name in ``config``; bad names raise ``ValueError`` listing valid ones."""
    from jaxnn import datasets, metrics, models

    _check(config)
    if config.dataset == "synthetic_regression":
        ds = datasets.synthetic_regression(jax.random.PRNGKey(config.dataset_seed))
    else:
        ds = datasets.load(config.dataset, seed=config.dataset_seed)
    info = ds.info
    in_dim, out_dim = int(ds.x_train.shape[1]), int(info.output_dim)
    if config.model == "mlp":
        sizes = (in_dim, *config.hidden, out_dim)
        init_fn = _bind(models.mlp_init, layer_sizes=sizes, activation=config.activation)
        apply_fn = _bind(models.mlp_apply, activation=config.activation)
        fan_ins = sizes[:-1]
    elif config.model == "resmlp":
        if not config.hidden or len(set(config.hidden)) != 1:
            raise ValueError(
                f"model 'resmlp' needs hidden = (width,) * num_blocks with one width and at least one "
                f"block (e.g. --depth 16 --width 64), got {list(config.hidden)}"
            )
        width, blocks = int(config.hidden[0]), len(config.hidden)
        init_fn = _ResMLPInit(
            _bind(
                models.resmlp_init,
                in_dim=in_dim,
                width=width,
                num_blocks=blocks,
                out_dim=out_dim,
                activation=config.activation,
            )
        )
        apply_fn = _bind(models.resmlp_apply, activation=config.activation)
        fan_ins = (in_dim,) + (width,) * (2 * blocks + 1)  # input, 2 layers per block, output
    else:
        side = math.isqrt(in_dim)
        if side * side != in_dim:
            raise ValueError(f"model 'conv' needs square single-channel images; {config.dataset} has {in_dim} features")
        k = 3
        init_fn = _bind(
            models.conv_init,
            channels=tuple(config.channels),
            kernel_size=k,
            image_size=side,
            hidden=tuple(config.hidden),
            num_classes=out_dim,
            activation=config.activation,
        )
        init_fn = _ConvInit(init_fn)
        apply_fn = _bind(models.conv_apply, activation=config.activation)
        chans = (1, *config.channels)
        dense = (side * side * config.channels[-1], *config.hidden)
        fan_ins = tuple(k * k * c for c in chans[:-1]) + dense
    lsuv_batch = jnp.asarray(ds.x_train[:LSUV_BATCH])
    schemes = [scheme(s, fan_ins, model=config.model, apply_fn=apply_fn, batch=lsuv_batch) for s in config.schemes]
    loss_fns = {s: _loss(s, info.task, info.num_classes) for s in config.losses}
    metric = metrics.for_task(info.task)
    metric_name = {"multiclass": "accuracy", "binary": "binary_accuracy", "regression": "r2"}[info.task]
    validation = datasets.validation_split(ds, 0.2, seed=config.seed) if len(config.learning_rates) > 1 else None
    n_layers = len(fan_ins)
    return Experiment(
        config=config,
        dataset=ds,
        validation=validation,
        init_fn=init_fn,
        apply_fn=apply_fn,
        losses=loss_fns,
        metric=metric,
        metric_name=metric_name,
        optimizer=_optimizer(config.optimizer),
        schemes=schemes,
        layer_names=[f"layer {i + 1}" for i in range(n_layers)],
    )


@dataclasses.dataclass(frozen=True)
class _ConvInit:
    """conv_init with the sweep's ``init_fn(key, *, w_init, b_init)`` signature (per-layer bias lists are
    not supported by conv_init: a sequence bias init uses its first entry for every layer)."""

    fn: Callable

    def __call__(self, key, *, w_init, b_init):
        if isinstance(b_init, (list, tuple)):
            b_init = b_init[0]
        if isinstance(w_init, (list, tuple)):
            w_init = w_init[0]
        return self.fn(key, w_init=w_init, b_init=b_init)


@dataclasses.dataclass(frozen=True)
class _ResMLPInit:
    """resmlp_init with the sweep's ``init_fn(key, *, w_init, b_init)`` signature. resmlp_init takes one
    initializer for all layers; a per-layer bias list (``torch_linear_default``: each layer's own fan-in) is
    applied afterwards, layer ``i`` (in :func:`jaxnn.models.layers` order) drawing with
    ``split(fold_in(key, 1), n_layers)[i]``. Per-layer weight lists are not supported (``ValueError``)."""

    fn: Callable

    def __call__(self, key, *, w_init, b_init):
        from jaxnn import schemes

        if isinstance(w_init, (list, tuple)):
            raise ValueError("model 'resmlp' takes one weight initializer for all layers, not a per-layer list")
        if not isinstance(b_init, (list, tuple)):
            return self.fn(key, w_init=w_init, b_init=b_init)
        params = self.fn(key, w_init=w_init, b_init=jax.nn.initializers.zeros)
        n = len(schemes._layer_list(params))
        if len(b_init) != n:
            raise ValueError(f"b_init has {len(b_init)} entries but the residual MLP has {n} layers")
        keys = jax.random.split(jax.random.fold_in(key, 1), n)
        return schemes.map_layers(
            params, lambda i, _, layer: {**layer, "b": b_init[i](keys[i], layer["b"].shape, layer["b"].dtype)}
        )
