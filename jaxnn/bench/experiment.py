"""A validated :class:`~jaxnn.bench.config.Config` resolved into what the engine needs: the data, the model's
``init_fn``/``apply_fn``, the losses, the metric, the optimizer factory and the schemes."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import datasets, metrics, models, reinit, schemes
from jaxnn._util import layer_dicts
from jaxnn.bench import specs
from jaxnn.bench.config import Config, validate
from jaxnn.bench.scheme import Scheme

__all__ = ["Experiment", "Group", "build", "HMM_TRAIN", "HMM_TEST", "GRAD0_ROWS"]

# dataset "hmm": jaxnn.datasets.hmm_language(dataset_seed) with these many train / test sequences (25 tokens:
# inputs x[:, :-1], next-token targets x[:, 1:]); the step-0 gradient norms use the first GRAD0_ROWS sequences
HMM_TRAIN, HMM_TEST, GRAD0_ROWS = 2048, 256, 256


@dataclasses.dataclass
class Group:
    """The compared entries one compiled program trains: what they override in :meth:`Experiment.sweep_args`
    (model functions, optimizer, schemes), a name suffix and a chunk-store prefix (empty for a single group)."""

    suffix: str
    prefix: str
    overrides: dict[str, Any]


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
    groups: list[Group] = dataclasses.field(default_factory=list)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. the HMM's Bayes floor

    @property
    def n_runs(self) -> int:
        """Training runs the benchmark makes: every (scheme, loss, seed), plus the tuning runs of a rate grid."""
        c = self.config
        n_lr = len(c.learning_rates)
        n_tune = n_lr * (c.tune_seeds or c.seeds) if n_lr > 1 and c.lr_mode == "tune" else 0
        n_main = c.seeds * (n_lr if n_lr > 1 and c.lr_mode == "each" else 1)
        n_schemes = sum(len(g.overrides.get("schemes", self.schemes)) for g in self.groups) or len(self.schemes)
        return n_schemes * len(self.losses) * (n_main + n_tune)

    def sweep_calls(self) -> list[tuple[str, list[str], dict[str, Any]]]:
        """``(phase_prefix, entry names, sweep kwargs)`` per :func:`jaxnn.bench.sweep.sweep` call: one per loss x
        program group (transformer norm placement / width, warmup) x learning rate (``lr_mode="each"``). Seeds are
        paired across all calls (same base seed), so :func:`jaxnn.bench.sweep.merge` of the parts stays paired.
        A single call keeps the plain scheme names and an empty prefix."""
        c = self.config
        base = self.sweep_args()
        groups = self.groups or [Group("", "", {})]
        lr_axis = [(f" lr={v:g}", (v,)) for v in c.learning_rates] if c.lr_mode == "each" else [("", None)]
        calls = []
        for i, (loss_name, loss_fn) in enumerate(self.losses.items()):
            for g in groups:
                for li, (lr_suffix, lrs) in enumerate(lr_axis):
                    kw = {**base, **g.overrides, "loss_fn": loss_fn}
                    if lrs is not None:
                        kw.update(learning_rates=lrs, tuning_data=None)
                    prefix = "" if len(self.losses) == 1 else f"loss{i}/"
                    prefix += g.prefix if len(groups) > 1 else ""
                    prefix += f"lr{li}/" if len(lr_axis) > 1 else ""
                    entries = [loss_name] if c.compare == "losses" else [s.name for s in kw["schemes"]]
                    calls.append((prefix, [e + g.suffix + lr_suffix for e in entries], kw))
        return calls

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
            grad0_rows=GRAD0_ROWS if c.model == "transformer" else None,
        )


def build(config: Config) -> Experiment:
    """Load the data and resolve every name in ``config``; bad names raise ``ValueError`` listing valid ones."""
    validate(config)
    if config.model == "transformer":
        return _build_transformer(config)
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
    groups = []
    if len(config.warmup) > 1 or config.warmup[0] > 0:
        for i, w in enumerate(config.warmup):
            n = specs.warmup_steps(w, config.steps)
            groups.append(
                Group(
                    f" warmup={w:g}" if len(config.warmup) > 1 else "",
                    f"w{i}/",
                    {"optimizer": specs.TransformerOptimizer(opt, n)} if n else {},
                )
            )
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
        groups=groups,
    )


def hmm_dataset(dataset_seed: int):
    """The ``hmm`` data set: next-token pairs ``(x[:, :-1], x[:, 1:])`` of :func:`jaxnn.datasets.hmm_language`
    (``HMM_TRAIN`` / ``HMM_TEST`` sequences), with ``optimal_loss`` (the Bayes floor on the test split) and
    ``unigram_entropy`` in nats/token."""
    lang = datasets.hmm_language(dataset_seed, num_train=HMM_TRAIN, num_test=HMM_TEST)
    tr, te = np.asarray(lang.train), np.asarray(lang.test)
    vocab = int(lang.hmm.emission.shape[1])
    info = SimpleNamespace(task="multiclass", num_classes=vocab, output_dim=vocab, train_outliers=None)
    return SimpleNamespace(
        x_train=tr[:, :-1],
        y_train=tr[:, 1:],
        x_test=te[:, :-1],
        y_test=te[:, 1:],
        info=info,
        vocab_size=vocab,
        seq_len=int(tr.shape[1]) - 1,
        optimal_loss=float(lang.optimal_loss),
        unigram_entropy=float(lang.unigram_entropy),
    )


def _build_transformer(config: Config) -> Experiment:
    """A decoder-only transformer on the HMM language: one program group per (width, norm placement, attention
    scale, muP multipliers, warmup); the schemes of a group share its ``init_fn`` / ``apply_fn`` / optimizer and
    differ only in their reinit rules."""
    ds = hmm_dataset(config.dataset_seed)
    if config.batch_size > ds.x_train.shape[0]:
        raise ValueError(f"batch_size={config.batch_size} exceeds the {ds.x_train.shape[0]} training sequences")
    base_opt = specs.optimizer(config.optimizer)
    base_width = min(config.d_model)
    loss_fns = {s: specs.loss(s, "multiclass", ds.vocab_size) for s in config.losses}
    groups: dict[tuple, Group] = {}
    first_schemes = None
    for d in config.d_model:
        variants = [
            specs.transformer_scheme(s, num_layers=config.num_layers, d_model=d, base_width=base_width)
            for s in config.schemes
        ]
        own = [v.name for v in variants if v.warmup is not None]
        if own and len(config.warmup) > 1:
            raise ValueError(f"schemes {own} set their own warmup; give no warmup list (warmup={list(config.warmup)})")
        for w_config in config.warmup:
            for v in variants:
                w = v.warmup if v.warmup is not None else w_config
                n_warm = specs.warmup_steps(w, config.steps)
                key = (d, v.norm, v.attn_scale, v.mup_base_width, w)
                if key not in groups:
                    init_fn = specs.bind(
                        models.transformer_init,
                        vocab_size=ds.vocab_size,
                        seq_len=ds.seq_len,
                        d_model=d,
                        num_heads=config.num_heads,
                        num_layers=config.num_layers,
                        norm=v.norm,
                    )
                    apply_fn = specs.bind(
                        models.transformer_apply,
                        norm=v.norm,
                        num_heads=config.num_heads,
                        attn_scale=v.attn_scale,
                        scan_blocks=True,
                    )
                    opt = specs.TransformerOptimizer(base_opt, n_warm, v.mup_base_width)
                    suffix = (f" d={d}" if len(config.d_model) > 1 else "") + (
                        f" warmup={w:g}" if len(config.warmup) > 1 else ""
                    )
                    groups[key] = Group(
                        suffix,
                        f"g{len(groups)}/",
                        {"init_fn": init_fn, "apply_fn": apply_fn, "optimizer": opt, "schemes": []},
                    )
                groups[key].overrides["schemes"].append(Scheme(v.name, rules=v.rules))
        if first_schemes is None:
            first_schemes = [Scheme(v.name, rules=v.rules) for v in variants]
    group_list = list(groups.values())
    _probe_transformer(config, group_list, loss_fns, ds)
    g0 = group_list[0].overrides
    return Experiment(
        config=config,
        dataset=ds,
        validation=None,  # learning-rate tuning: the sweep's own seeded 80/20 split of the training sequences
        init_fn=g0["init_fn"],
        apply_fn=g0["apply_fn"],
        losses=loss_fns,
        metric=metrics.accuracy,
        metric_name="token accuracy",
        optimizer=g0["optimizer"],
        schemes=first_schemes,
        layer_names=[],
        groups=group_list,
        extra={"optimal_loss": ds.optimal_loss, "unigram_entropy": ds.unigram_entropy},
    )


def _probe_transformer(config: Config, groups, loss_fns, ds) -> None:
    """Trace every group's init + reinit, forward, loss and one optimizer update on two sequences
    (``jax.eval_shape``: nothing computed), so bad specs fail as one-line ``ValueError``s before anything runs."""
    x, y = jnp.asarray(ds.x_train[:2]), jnp.asarray(ds.y_train[:2])
    key = jax.random.PRNGKey(0)
    for g in groups:
        o = g.overrides
        for s in o["schemes"]:
            specs.probe("scheme", s.name, lambda k, r=s.rules, o=o: reinit(k, o["init_fn"](k), r), key)
        params = jax.eval_shape(o["init_fn"], key)
        for spec, fn in loss_fns.items():
            specs.probe("loss", spec, lambda p, f=fn, o=o: f(o["apply_fn"](p, x), y), params)

        def step(p, o=o):
            opt = o["optimizer"](jnp.float32(config.learning_rates[0]))
            updates, _ = opt.update(p, opt.init(p), p)
            return updates

        specs.probe("optimizer", config.optimizer, step, params)


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
