"""A validated :class:`~jaxnn.bench.config.Config` resolved into what the engine needs: the data, the model's
``init_fn``/``apply_fn``, the losses, the metric, the optimizer factory and the schemes."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxnn import datasets, metrics, models, schemes
from jaxnn._util import layer_dicts
from jaxnn.bench import specs
from jaxnn.bench.config import Config, validate

__all__ = ["Experiment", "build"]


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

    @property
    def n_runs(self) -> int:
        """Training runs the benchmark makes: every (scheme, loss, seed), plus the tuning runs of a rate grid."""
        c = self.config
        n_lr = len(c.learning_rates)
        n_tune = n_lr * (c.tune_seeds or c.seeds) if n_lr > 1 else 0
        return len(self.schemes) * len(self.losses) * (c.seeds + n_tune)

    def sweep_args(self) -> dict[str, Any]:
        """The keyword arguments of :func:`jaxnn.bench.sweep.sweep` this experiment decides (all but the loss,
        the execution strategy and the plumbing: store, progress, hooks)."""
        c, ds, val = self.config, self.dataset, self.validation
        return dict(
            init_fn=self.init_fn,
            apply_fn=self.apply_fn,
            optimizer=self.optimizer,
            train_data=(ds.x_train, ds.y_train),
            eval_data=(ds.x_test, ds.y_test),
            schemes=self.schemes,
            seeds=c.seeds,
            steps=c.steps,
            batch_size=c.batch_size,
            eval_every=c.eval_every,
            target=c.target,
            target_on=c.target_on,
            train_loss=c.train_loss,
            metric=self.metric,
            learning_rates=c.learning_rates,
            tune_seeds=c.tune_seeds,
            seed=c.seed,
            tuning_data=None if val is None else ((val.x_train, val.y_train), (val.x_test, val.y_test)),
        )


def build(config: Config) -> Experiment:
    """Load the data and resolve every name in ``config``; bad names raise ``ValueError`` listing valid ones."""
    validate(config)
    if config.dataset == "synthetic_regression":
        ds = datasets.synthetic_regression(jax.random.PRNGKey(config.dataset_seed))
    else:
        ds = datasets.load(config.dataset, seed=config.dataset_seed)
    info = ds.info
    in_dim, out_dim = int(ds.x_train.shape[1]), int(info.output_dim)
    if config.model == "mlp":
        sizes = (in_dim, *config.hidden, out_dim)
        init_fn = specs.bind(models.mlp_init, layer_sizes=sizes, activation=config.activation)
        apply_fn = specs.bind(models.mlp_apply, activation=config.activation)
        fan_ins = sizes[:-1]
    elif config.model == "resmlp":
        if not config.hidden or len(set(config.hidden)) != 1:
            raise ValueError(
                f"model 'resmlp' needs hidden = (width,) * num_blocks with one width and at least one "
                f"block (e.g. --depth 16 --width 64), got {list(config.hidden)}"
            )
        width, blocks = int(config.hidden[0]), len(config.hidden)
        init_fn = _ResMLPInit(
            specs.bind(
                models.resmlp_init,
                in_dim=in_dim,
                width=width,
                num_blocks=blocks,
                out_dim=out_dim,
                activation=config.activation,
            )
        )
        apply_fn = specs.bind(models.resmlp_apply, activation=config.activation)
        fan_ins = (in_dim,) + (width,) * (2 * blocks + 1)  # input, 2 layers per block, output
    else:
        side = math.isqrt(in_dim)
        if side * side != in_dim:
            raise ValueError(f"model 'conv' needs square single-channel images; {config.dataset} has {in_dim} features")
        k = 3
        init_fn = specs.bind(
            models.conv_init,
            channels=tuple(config.channels),
            kernel_size=k,
            image_size=side,
            hidden=tuple(config.hidden),
            num_classes=out_dim,
            activation=config.activation,
        )
        init_fn = _ConvInit(init_fn)
        apply_fn = specs.bind(models.conv_apply, activation=config.activation)
        chans = (1, *config.channels)
        dense = (side * side * config.channels[-1], *config.hidden)
        fan_ins = tuple(k * k * c for c in chans[:-1]) + dense
    lsuv_batch = jnp.asarray(ds.x_train[: specs.LSUV_BATCH])
    scheme_list = [
        specs.scheme(s, fan_ins, model=config.model, apply_fn=apply_fn, batch=lsuv_batch) for s in config.schemes
    ]
    loss_fns = {s: specs.loss(s, info.task, info.num_classes) for s in config.losses}
    metric = metrics.for_task(info.task)
    metric_name = {"multiclass": "accuracy", "binary": "binary_accuracy", "regression": "r2"}[info.task]
    validation = datasets.validation_split(ds, 0.2, seed=config.seed) if len(config.learning_rates) > 1 else None
    n_train = int(ds.x_train.shape[0])
    if config.batch_size > n_train:
        raise ValueError(f"batch_size={config.batch_size} exceeds the {n_train} training examples of {config.dataset}")
    if validation is not None and config.batch_size > int(validation.x_train.shape[0]):
        raise ValueError(
            f"batch_size={config.batch_size} exceeds the {int(validation.x_train.shape[0])} examples the "
            "learning-rate tuning trains on (80% of the training set)"
        )
    opt = specs.optimizer(config.optimizer)
    _probe(config, scheme_list, loss_fns, opt, ds)
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
        optimizer=opt,
        schemes=scheme_list,
        layer_names=[f"layer {i + 1}" for i in range(n_layers)],
    )


def _probe(config: Config, scheme_list, loss_fns, opt, ds) -> None:
    r"""Use every spec once on tiny inputs (traced with ``jax.eval_shape``, nothing computed), so arguments that
    only fail when used are refused before anything is written, as one-line ``ValueError``\ s naming the spec."""
    key = jax.random.PRNGKey(0)
    for s in scheme_list:
        for init in (s.w_init, *(s.b_init if isinstance(s.b_init, (list, tuple)) else (s.b_init,))):
            if not isinstance(init, (list, tuple)):
                specs.probe("scheme", s.name, lambda k, f=init: f(k, (4, 3), jnp.float32), key)
    y = jnp.asarray(ds.y_train[:2])
    pred = jnp.zeros((2, int(ds.info.output_dim)), jnp.float32)  # what apply_fn returns for 2 examples
    for spec, fn in loss_fns.items():
        specs.probe("loss", spec, fn, pred, y)
    w = {"w": jnp.zeros((3, 2), jnp.float32), "b": jnp.zeros((2,), jnp.float32)}

    def step(p):
        o = opt(jnp.float32(config.learning_rates[0]))
        updates, _ = o.update(p, o.init(p), p)
        return updates

    specs.probe("optimizer", config.optimizer, step, w)


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
        if isinstance(w_init, (list, tuple)):
            raise ValueError("model 'resmlp' takes one weight initializer for all layers, not a per-layer list")
        if not isinstance(b_init, (list, tuple)):
            return self.fn(key, w_init=w_init, b_init=b_init)
        params = self.fn(key, w_init=w_init, b_init=jax.nn.initializers.zeros)
        n = len(layer_dicts(params))
        if len(b_init) != n:
            raise ValueError(f"b_init has {len(b_init)} entries but the residual MLP has {n} layers")
        keys = jax.random.split(jax.random.fold_in(key, 1), n)
        return schemes.map_layers(
            params, lambda i, _, layer: {**layer, "b": b_init[i](keys[i], layer["b"].shape, layer["b"].dtype)}
        )
