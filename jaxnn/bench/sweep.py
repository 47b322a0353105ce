"""Initialization sweeps: train K schemes x S seeds (x L learning rates) with ONE compiled program.

The question: *for this model, activation, loss and data, which initialization converges fastest, and is the
difference real?* Schemes differ only in the initial parameters, so a sweep

1. builds the initial parameter sets first -- one eager ``vmap(init)`` per scheme over the seeds' init keys (then
   the scheme's optional whole-network ``transform``, e.g. LSUV, Fixup, ZerO), stacked along a *run axis* of
   length ``R = K * L * S``;
2. trains every run with the **same** compiled program (:mod:`jaxnn.bench.program`: :func:`jaxnn.train.fit`, one
   ``lax.scan``): the learning rate, initial parameters and data-order keys are inputs, so adding a scheme, a
   seed or a learning rate never recompiles. How the runs are cut into program calls, spread over devices and
   threads and bounded in memory is :mod:`jaxnn.bench.execution`'s business; only the runs per device per call
   can change a result, in the last digits (:func:`jaxnn.bench.execution.numerics`, recorded with each chunk);
3. reduces each run's history to convergence metrics (steps-to-target, area under the curve, final values,
   per-layer gradient norms at step 0, divergence) and each scheme to medians with bootstrap confidence
   intervals and a ranking with paired significance tests (:mod:`jaxnn.bench.summary`).

**Pairing**: seed ``s`` gives every scheme (and every learning rate) the same data-order key and the same init
key, so run ``s`` of scheme A and run ``s`` of scheme B are a pair -- the differences are paired, which is what
the Wilcoxon signed-rank test in the ranking uses. Init and data-order keys are separate streams.

**Learning-rate fairness** (``learning_rates`` with more than one value): each scheme is trained at every
learning rate on a *validation split* of the training data with separate tuning seeds; each scheme's
learning rate is the one with the lowest median area under its validation curve; then each scheme is trained
at its own chosen rate on the full training data with fresh seeds and reported on the test data. So no scheme
is ranked low merely because one shared learning rate happened to suit another. The per-rate tuning results
are kept (the fixed-learning-rate view).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
import optax

from jaxnn import datasets
from jaxnn._util import positive_int
from jaxnn.bench.execution import Execution, run_program
from jaxnn.bench.program import Program
from jaxnn.bench.scheme import Scheme, check_schemes, initial_params, initial_shapes, seed_keys
from jaxnn.bench.summary import run_metrics, summarize

__all__ = ["Scheme", "SweepResult", "sweep", "merge"]  # Scheme re-exported: what sweep() compares


@dataclasses.dataclass
class SweepResult:
    """What :func:`sweep` returns.

    Attributes:
      names: the K compared entries (scheme names, or whatever was compared after :func:`merge`).
      arrays: per-run arrays with leading axes ``(K, S)`` (see :func:`run_program`), at each scheme's reported
        learning rate.
      metrics: :func:`run_metrics` of ``arrays``, each ``(K, S)``.
      summary: :func:`summarize` rows, best first.
      learning_rates: ``(K,)`` the learning rate each entry was reported at.
      steps: ``(n_eval,)`` the evaluated steps.
      settings: the scalar settings (target, steps, eval_every, seeds, ...).
      tuning: for a learning-rate grid, ``{"learning_rates": (L,), "arrays": {... (K, L, S_tune, ...)},
        "metrics": {... (K, L, S_tune)}, "choice": (K,) index of the chosen rate, "score": (K, L)}``; else None.
    """

    names: list[str]
    arrays: dict[str, np.ndarray]
    metrics: dict[str, np.ndarray]
    summary: list[dict[str, Any]]
    learning_rates: np.ndarray
    steps: np.ndarray
    settings: dict[str, Any]
    tuning: dict[str, Any] | None = None


def sweep(
    *,
    init_fn: Callable,
    apply_fn: Callable,
    loss_fn: Callable,
    optimizer,
    train_data: tuple,
    eval_data: tuple,
    schemes: Sequence[Scheme],
    seeds: int = 8,
    steps: int,
    batch_size: int,
    eval_every: int = 10,
    target: float,
    target_on: str = "eval_loss",
    metric: Callable | None = None,
    train_loss: str = "batch",
    learning_rates: Sequence[float] | None = None,
    tuning_data: tuple | None = None,
    tune_seeds: int | None = None,
    seed: int = 0,
    execution: Execution | None = None,
    store=None,
    phase_prefix: str = "",
    progress=None,
    on_chunk: Callable | None = None,
    alpha: float = 0.05,
    n_resamples: int = 2000,
    grad0_rows: int | None = None,
) -> SweepResult:
    r"""Train every scheme on every seed (at every learning rate) and compare their convergence.

    Args:
      init_fn: ``init_fn(key, *, w_init, b_init) -> params`` (e.g. ``functools.partial(jaxnn.models.mlp_init,
        layer_sizes=(64, 128, 10))``) for schemes with ``w_init``; for schemes with ``rules``, any model's own
        ``init_fn(key) -> params`` (e.g. ``lambda key: flax_model.init(key, x)``), re-initialized per scheme by
        :func:`jaxnn.reinit`.
      apply_fn: ``apply_fn(params, x) -> predictions``.
      loss_fn: ``loss_fn(predictions, targets) -> scalar``.
      optimizer: an optax ``GradientTransformation`` (then ``learning_rates`` must be None), or a factory
        ``lr -> GradientTransformation`` such as ``functools.partial(optax.sgd, momentum=0.9)``.
      train_data, eval_data: ``(x, y)`` arrays; curves are evaluated on ``eval_data`` (the test split).
      schemes: :class:`Scheme` entries (name, weight init, bias init; or name, ``rules=``); names must be unique.
      seeds: S, seeds per scheme (each gives all schemes the same init key and data order: paired runs).
      steps, batch_size, eval_every: the training budget, minibatch size and evaluation interval.
      target: the level that counts as converged, on ``target_on`` (``"eval_loss"`` (default), ``"train_loss"``
        or ``"eval_metric"``; losses must get *at or below* it, a metric *at or above*). A target that no run
        reaches is reported (fraction 0), not an error.
      metric: ``metric(predictions, targets) -> scalar`` on ``eval_data`` (e.g. ``jaxnn.metrics.accuracy``).
      train_loss: the ``train_loss`` curve (see :func:`jaxnn.train.fit`): ``"batch"`` (default), the mean
        minibatch loss since the previous evaluation, free; ``"full"``, the exact loss on the whole training set,
        one extra forward pass over it per evaluation (+33% FLOPs on the ``default`` preset). Use ``"full"``
        when ``target_on="train_loss"`` should not see minibatch noise.
      learning_rates: required with an optimizer factory. One value: every scheme uses it. Several: the
        per-scheme tuned view described in the module docstring, with ``tune_seeds`` seeds (default ``seeds``).
      tuning_data: ``(fit_data, validation_data)``, two ``(x, y)`` pairs carved from the training data (e.g.
        :func:`jaxnn.datasets.validation_split`): tuning runs train on the first and are scored on the second.
        Default: a seeded random 80/20 split of ``train_data`` (:func:`jaxnn.datasets.split_indices`); never the
        test data.
      seed: the base seed of every key stream.
      execution: the execution strategy, a :class:`jaxnn.bench.execution.Execution` (default: the backend's
        defaults); only the runs per device per call can change results, in the last digits (see
        :mod:`jaxnn.bench.execution`).
      store: a :class:`jaxnn.bench.results.ChunkStore` for resumable runs; ``phase_prefix`` namespaces its chunks.
      progress: a tqdm-like object (``update(n)``, ``set_postfix_str``) advanced by finished runs, or None.
      on_chunk: ``on_chunk(phase, run_index)`` after every saved chunk.
      alpha, n_resamples: significance level (Holm) and bootstrap resamples for the summary.
      grad0_rows: the step-0 per-layer gradient norms (``grad_norm0``) on the first ``grad0_rows`` training rows
        (default: the whole training set; a cap keeps that one extra pass cheap on large sets).
    """
    schemes = list(schemes)
    if not schemes:
        raise ValueError("schemes must name at least one Scheme")
    check_schemes(schemes)
    names = [s.name for s in schemes]
    if len(set(names)) != len(names):
        raise ValueError(f"scheme names must be unique, got {names}")
    seeds = positive_int(seeds, "seeds")
    steps = positive_int(steps, "steps")
    eval_every = positive_int(eval_every, "eval_every")
    if eval_every > steps:
        raise ValueError(f"eval_every={eval_every} exceeds steps={steps}: there would be no evaluation after step 0")
    if target_on not in ("eval_loss", "train_loss", "eval_metric"):
        raise ValueError(f"target_on must be 'eval_loss', 'train_loss' or 'eval_metric', got {target_on!r}")
    if target_on == "eval_metric" and metric is None:
        raise ValueError("target_on='eval_metric' needs a metric")
    if not isinstance(target, (int, float, np.floating)) or not math.isfinite(float(target)):
        raise ValueError(f"target must be a finite number, got {target!r}")
    factory = callable(optimizer)
    if factory:
        if learning_rates is None or len(learning_rates) == 0:
            raise ValueError("an optimizer factory (lr -> GradientTransformation) needs learning_rates")
        lr_grid = np.asarray([float(v) for v in learning_rates], dtype=np.float32)
        if not np.all(np.isfinite(lr_grid)) or np.any(lr_grid <= 0):
            raise ValueError(f"learning_rates must be positive finite numbers, got {list(learning_rates)}")
    else:
        if not isinstance(optimizer, optax.GradientTransformation):
            raise TypeError(
                f"optimizer must be an optax GradientTransformation or a factory lr -> one, got {optimizer!r}"
            )
        if learning_rates is not None:
            raise ValueError(
                "learning_rates needs an optimizer factory (lr -> GradientTransformation), "
                "not a ready-made GradientTransformation"
            )
        lr_grid = np.asarray([np.nan], dtype=np.float32)
    if train_loss not in ("batch", "full"):
        raise ValueError(f"train_loss must be 'batch' or 'full', got {train_loss!r}")
    higher = target_on == "eval_metric"
    if grad0_rows is not None:
        grad0_rows = positive_int(grad0_rows, "grad0_rows")
    program = Program(apply_fn, loss_fn, optimizer, steps, int(batch_size), eval_every, metric, train_loss, grad0_rows)
    k, n_lr = len(schemes), lr_grid.size
    tune = n_lr > 1
    s_tune = positive_int(tune_seeds if tune_seeds is not None else seeds, "tune_seeds") if tune else 0

    common = dict(execution=execution, store=store, progress=progress, on_chunk=on_chunk)
    tuning = None
    if tune:
        if tuning_data is None:
            x, y = (np.asarray(a) for a in train_data)
            tr, va = datasets.split_indices(x.shape[0], None, 0.2, seed, what="validation")
            tr_data, val_data = (x[tr], y[tr]), (x[va], y[va])
        else:
            tr_data, val_data = tuning_data
        init_k = seed_keys(seed, "tune_init", s_tune)
        data_k = seed_keys(seed, "tune_data", s_tune)
        # Run axis ordered (K, L, S_tune): repeat each scheme's S_tune parameter sets for every rate.
        order = np.array([i * s_tune + s for i in range(k) for _ in range(n_lr) for s in range(s_tune)])

        def p_runs(init_k=init_k, order=order):
            p0 = initial_params(init_fn, schemes, init_k)  # (K*S_tune, ...)
            return jax.tree_util.tree_map(lambda a: a[order], p0)

        keys_runs = np.tile(data_k, (k * n_lr, 1))
        lrs_runs = np.repeat(np.tile(lr_grid, k), s_tune)
        shapes = initial_shapes(init_fn, schemes, order.size)
        arr = run_program(
            program,
            p_runs,
            keys_runs,
            lrs_runs,
            tr_data,
            val_data,
            phase=f"{phase_prefix}tune",
            param_shapes=shapes,
            **common,
        )
        arr = {a: v.reshape(k, n_lr, s_tune, *v.shape[1:]) for a, v in arr.items()}
        met = run_metrics(arr, target=target, target_on=target_on)
        auc = np.where(np.isnan(met["auc"]), np.inf, met["auc"])
        score = np.median(-auc if higher else auc, axis=-1)  # (K, L), lower is better
        score = np.where(np.isnan(score), np.inf, score)
        choice = np.argmin(score, axis=1)
        tuning = {"learning_rates": lr_grid, "arrays": arr, "metrics": met, "choice": choice, "score": score}
        chosen = lr_grid[choice]
    else:
        chosen = np.full(k, lr_grid[0], dtype=np.float32)
    init_k = seed_keys(seed, "init", seeds)
    data_k = seed_keys(seed, "data", seeds)
    p0 = functools.partial(initial_params, init_fn, schemes, init_k)  # (K*S, ...), built lazily
    keys_runs = np.tile(data_k, (k, 1))
    lrs_runs = np.repeat(chosen, seeds).astype(np.float32)
    shapes = initial_shapes(init_fn, schemes, k * seeds)
    arr = run_program(
        program,
        p0,
        keys_runs,
        lrs_runs,
        train_data,
        eval_data,
        phase=f"{phase_prefix}main",
        param_shapes=shapes,
        **common,
    )
    arr = {a: v.reshape(k, seeds, *v.shape[1:]) for a, v in arr.items()}
    met = run_metrics(arr, target=target, target_on=target_on)
    settings = dict(
        target=float(target),
        target_on=target_on,
        train_loss=train_loss,
        higher_is_better=higher,
        steps=steps,
        eval_every=eval_every,
        batch_size=int(batch_size),
        seeds=seeds,
        tune_seeds=s_tune,
        seed=seed,
        alpha=alpha,
        n_resamples=n_resamples,
    )
    lr_report = None if not factory else chosen
    summary = summarize(
        names,
        met,
        steps=steps,
        eval_every=eval_every,
        higher_is_better=higher,
        alpha=alpha,
        n_resamples=n_resamples,
        seed=seed,
        learning_rates=lr_report,
    )
    return SweepResult(
        names=names,
        arrays=arr,
        metrics=met,
        summary=summary,
        learning_rates=np.asarray(chosen, dtype=np.float64),
        steps=arr["step"][0, 0].copy(),
        settings=settings,
        tuning=tuning,
    )


def merge(results: Sequence[SweepResult], names: Sequence[str] | None = None) -> SweepResult:
    """Concatenate sweeps along the compared axis (e.g. one sweep per loss) and re-rank them together.

    The sweeps must share seeds, steps, eval_every and target (so seed ``s`` is still a pair across them:
    same data order and init keys). ``names`` renames the concatenated entries (default: the original names).
    Tuning details are kept per input in ``tuning["parts"]``.
    """
    results = list(results)
    if not results:
        raise ValueError("merge needs at least one SweepResult")
    base = results[0].settings
    for r in results[1:]:
        for key in ("seeds", "steps", "eval_every", "target", "target_on", "seed"):
            if r.settings[key] != base[key]:
                raise ValueError(f"cannot merge sweeps with different {key}: {base[key]!r} vs {r.settings[key]!r}")
    all_names = [n for r in results for n in r.names]
    names = list(names) if names is not None else all_names
    if len(names) != len(all_names) or len(set(names)) != len(names):
        raise ValueError(f"names must be {len(all_names)} unique names, got {names}")
    arrays = {
        a: np.concatenate([r.arrays[a] for r in results])
        for a in results[0].arrays
        if all(r.arrays[a].shape[1:] == results[0].arrays[a].shape[1:] for r in results)
    }
    if "grad_norm0" not in arrays:  # different depths: pad the layer axis with NaN
        width = max(r.arrays["grad_norm0"].shape[-1] for r in results)
        arrays["grad_norm0"] = np.concatenate(
            [
                np.pad(
                    r.arrays["grad_norm0"],
                    ((0, 0), (0, 0), (0, width - r.arrays["grad_norm0"].shape[-1])),
                    constant_values=np.nan,
                )
                for r in results
            ]
        )
    metrics = {m: np.concatenate([r.metrics[m] for r in results]) for m in results[0].metrics}
    lrs = np.concatenate([r.learning_rates for r in results])
    has_lr = any(row["learning_rate"] is not None for r in results for row in r.summary)
    summary = summarize(
        names,
        metrics,
        steps=base["steps"],
        eval_every=base["eval_every"],
        higher_is_better=base["higher_is_better"],
        alpha=base["alpha"],
        n_resamples=base["n_resamples"],
        seed=base["seed"],
        learning_rates=lrs if has_lr else None,
    )
    tuning = {"parts": [r.tuning for r in results]} if any(r.tuning is not None for r in results) else None
    return SweepResult(
        names=names,
        arrays=arrays,
        metrics=metrics,
        summary=summary,
        learning_rates=lrs,
        steps=results[0].steps,
        settings=dict(base),
        tuning=tuning,
    )
