r"""Initialization sweeps: train K schemes x S seeds (x L learning rates) with ONE compiled program.

The question: *for this model, activation, loss and data, which initialization converges fastest, and is the
difference real?* Schemes differ only in the initial parameters, so a sweep

1. builds the initial parameter sets first -- one eager ``vmap(init)`` per scheme over the seeds' init keys (then
   the scheme's optional whole-network ``transform``, e.g. LSUV, Fixup, ZerO), stacked along a *run axis* of
   length ``R = K * L * S``;
2. trains every run with the **same** ``jit``-compiled program: :func:`jaxnn.train.fit` (one ``lax.scan``)
   ``vmap``-ped over a chunk of ``chunk_size`` runs. The run axis is cut into chunks of that fixed size (the last
   one padded with copies), and each chunk is one call of the program, so the number of schemes, seeds or
   learning rates never changes a traced shape -- nothing recompiles when you add a scheme or a seed
   (:func:`trace_count` lets a test check it). The learning rate is an *input* array of the program
   (``optimizer`` is a factory ``lr -> optax.GradientTransformation`` evaluated inside the trace), so a
   learning-rate grid runs through the same program too;
3. shards each chunk's run axis over all devices with :mod:`jax.sharding` (``Mesh(devices, ("runs",))``; training
   data replicated). Runs are independent, so sharding changes where a run is computed, not its result. With
   several hosts call ``jax.distributed.initialize()`` first: ``jax.devices()`` then spans every host, inputs are
   assembled with ``jax.make_array_from_callback`` and outputs gathered with ``process_allgather``;
4. reduces each run's history to convergence metrics (steps-to-target, area under the curve, final values,
   per-layer gradient norms at step 0, divergence) and each scheme to medians with bootstrap confidence
   intervals and a ranking with paired significance tests (:mod:`jaxnn.bench.stats`).

**Execution strategy** (``chunk_size``): how many runs one call of the program trains side by side. On the
2-core CPUs we measured, wide ``vmap`` was *slower* than running runs one after another through the compiled
program, while on a GPU a wide ``vmap`` is 10-100x faster. The default is therefore per backend: on CPU one run
per device (``chunk_size = n_devices``) with ``workers`` = one thread per free core calling the program
concurrently (one run per call is traced without ``vmap``, so its matmuls stay plain GEMMs), on GPU/TPU
``n_devices * min(256, next_pow2(runs per device))`` and one call at a time. ``memory_cap`` (default: half of
a device's memory) halves the chunk until XLA's memory analysis of the compiled program, times the calls in
flight, fits. On CPU the program is compiled at XLA backend optimization level 1 (the FLOPs are in GEMM library
calls; it compiles faster and runs as fast). Always overridable; it never changes the results (each run is
computed independently), only the speed.

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

import collections
import concurrent.futures
import dataclasses
import functools
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxnn._util import CPU_COMPILER_OPTIONS
from jaxnn.bench import stats as _stats
from jaxnn.train import fit

__all__ = [
    "Scheme",
    "Program",
    "SweepResult",
    "initial_params",
    "run_program",
    "default_chunk_size",
    "default_workers",
    "trace_count",
    "default_memory_cap",
    "compile_program",
    "program_bytes",
    "run_metrics",
    "summarize",
    "sweep",
    "merge",
]

Array = jax.Array
Initializer = Callable[..., Array]


class Scheme(NamedTuple):
    """A named initialization: a weight initializer and a bias initializer (``init(key, shape, dtype)``),
    optionally followed by a whole-network ``transform``.

    Either initializer may also be a sequence with one initializer per layer (passed to the model's
    ``init_fn`` as is, e.g. :func:`jaxnn.models.mlp_init` accepts per-layer lists).

    ``transform(key, params) -> params`` (optional) rewrites the parameters ``init_fn`` built, for schemes
    that are not per-leaf initializers: data-dependent (:func:`jaxnn.schemes.lsuv`) or depth/structure-aware
    (:func:`jaxnn.schemes.fixup`, :func:`jaxnn.schemes.zero_init`). :func:`initial_params` applies it per run
    with ``jax.random.fold_in(init_key, 1)`` (derived from the run's init key, so seed ``s`` still pairs
    across schemes). It must return the same structure, shapes and dtypes as ``init_fn``: it only changes
    the initial parameters, never the compiled training program.
    """

    name: str
    w_init: Any
    b_init: Any = jax.nn.initializers.zeros
    transform: Callable | None = None


@dataclasses.dataclass(frozen=True)
class Program:
    """Everything that decides the compiled training program (hashable; a static argument of ``jit``).

    ``optimizer`` is either an optax ``GradientTransformation`` (fixed learning rate; the per-run ``lr`` input
    is ignored) or a factory ``optimizer(learning_rate) -> GradientTransformation`` (called inside the trace
    with a traced scalar, so the learning rate is data, not a compile-time constant). Functions compare by
    identity: reuse the same objects to reuse the compiled program.
    """

    apply_fn: Callable
    loss_fn: Callable
    optimizer: Any
    steps: int
    batch_size: int
    eval_every: int
    metric: Callable | None = None
    train_loss: str = "batch"  # fit's train_loss: "batch" (free running mean) or "full" (+1 forward pass/eval)

    def make_optimizer(self, lr):
        return self.optimizer(lr) if callable(self.optimizer) else self.optimizer


_TRACES = {"program": 0}


def trace_count() -> int:
    """How many times the training program has been traced (compiled) in this process."""
    return _TRACES["program"]


def _layer_weight_grad_norms(grads) -> Array:
    """L2 norm of the gradient of each layer's weight ("w" leaf), layers in :func:`jaxnn.models.layers` order;
    falls back to one norm per leaf for pytrees without ``{"w": ...}`` layer dicts."""
    from jaxnn.models import layers

    found = layers(grads)
    if found:
        leaves = [layer["w"] for _, layer in found]
    else:
        leaves = jax.tree_util.tree_leaves(grads)
    return jnp.stack([jnp.sqrt(jnp.sum(jnp.square(g.astype(jnp.float32)))) for g in leaves])


def _program_body(program: Program, params, data_keys, lrs, train_data, eval_data):
    _TRACES["program"] += 1  # Python side effect: runs once per trace, never per call

    def one(p, key, lr):
        res = fit(
            p,
            train_data,
            key=key,
            apply_fn=program.apply_fn,
            loss_fn=program.loss_fn,
            optimizer=program.make_optimizer(lr),
            steps=program.steps,
            batch_size=program.batch_size,
            eval_data=eval_data,
            eval_every=program.eval_every,
            metric=program.metric,
            train_loss=program.train_loss,
        )
        x, y = train_data
        grads = jax.grad(lambda q: program.loss_fn(program.apply_fn(q, x), y))(p)
        h = res.history
        return {
            "train_loss": h["train_loss"],
            "eval_loss": h["eval_loss"],
            "eval_metric": h["eval_metric"],
            "diverged_step": h["diverged_step"],
            "grad_norm0": _layer_weight_grad_norms(grads),
            "step": h["step"],
        }

    if lrs.shape[0] == 1:  # one run per call (the CPU default): no vmap, so every matmul stays a plain GEMM
        squeeze = functools.partial(jax.tree_util.tree_map, lambda a: a[0])
        return jax.tree_util.tree_map(lambda a: a[None], one(squeeze(params), data_keys[0], lrs[0]))
    return jax.vmap(one)(params, data_keys, lrs)


_program_jit = jax.jit(_program_body, static_argnums=0)
# On CPU the program's FLOPs are in GEMM library calls, not in LLVM-generated code: XLA's backend optimization
# level 1 (default 3) made run_program 0.4 s faster cold (5.2-5.3 s vs 5.5-5.9 s, 3 A/B pairs at the
# benchmarks/throughput.py headline shape) with the same warm run time. Other backends keep their defaults.
_program_jit_cpu = jax.jit(_program_body, static_argnums=0, compiler_options=CPU_COMPILER_OPTIONS)


def default_chunk_size(n_runs: int, devices: Sequence | None = None) -> int:
    """Runs per program call: ``n_devices`` on CPU; ``n_devices * min(256, next_pow2(ceil(n_runs/n_devices)))``
    on GPU/TPU (powers of two keep the number of distinct compiled shapes small)."""
    devices = list(devices) if devices is not None else jax.devices()
    n_dev = len(devices)
    if devices[0].platform == "cpu":
        return n_dev
    per = max(1, math.ceil(n_runs / n_dev))
    return n_dev * min(256, 1 << (per - 1).bit_length())


def default_workers(devices: Sequence | None = None) -> int:
    """Concurrent calls of the compiled program: on CPU ``cores // n_devices`` (at least 1) -- XLA:CPU runs one
    small-matmul program on about one core and releases the GIL, so two threads on two cores gave ~2x on an idle
    machine (``benchmarks/throughput.py``); on GPU/TPU, and with several hosts (every process must issue the same
    calls in the same order), 1."""
    devices = list(devices) if devices is not None else jax.devices()
    if jax.process_count() > 1 or devices[0].platform != "cpu":
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // len(devices))


DEFAULT_MEMORY_FRACTION = 0.5


def default_memory_cap(devices: Sequence | None = None, fraction: float = DEFAULT_MEMORY_FRACTION) -> int:
    """Bytes one device's share of a program call may use: ``fraction`` of the device's memory
    (``memory_stats()["bytes_limit"]`` on GPU/TPU) or, on CPU, of the machine's physical memory divided by the
    number of local CPU devices (they share it)."""
    devices = list(devices) if devices is not None else jax.devices()
    dev = devices[0]
    total = None
    if dev.platform != "cpu":
        stats = dev.memory_stats() or {}
        total = stats.get("bytes_limit")
    if total is None:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # not POSIX: assume 8 GiB
            total = 8 << 30
        total //= max(1, sum(d.platform == dev.platform for d in jax.local_devices()))
    return int(fraction * total)


def program_bytes(compiled) -> int:
    """Per-device bytes of a compiled program call from XLA's memory analysis: its peak when XLA reports one,
    else arguments + outputs + temporaries - aliased buffers."""
    m = compiled.memory_analysis()
    peak = getattr(m, "peak_memory_in_bytes", 0) or 0
    total = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes
    return int(max(peak, total))


def _to_global(x, sharding):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def _to_host(tree):
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        tree = multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))


def _hashable(x):
    return tuple(x) if isinstance(x, list) else x


def initial_params(init_fn: Callable, schemes: Sequence[Scheme], init_keys) -> Any:
    """Stacked initial parameters, run axis ``K * S`` (scheme-major): ``init_fn(key, w_init=..., b_init=...)``.

    One ``vmap(init)`` per scheme over the ``S`` init keys, run eagerly: each initializer call is then its own
    small compiled draw (``jaxnn.initializers`` jits every draw, cached per initializer and shape), batched over
    the seeds. Deliberately *not* one ``jit`` over the whole network: that compiles one large program per
    scheme (seconds each on XLA:CPU, growing with depth), and with jaxlib 0.10.2 a program holding ~30
    vmapped QR factorizations (``orthogonal`` on a 30-layer net) deadlocked on XLA:CPU.
    A scheme's ``transform`` (if any) runs right after ``init_fn`` inside the same eager ``vmap`` over seeds:
    ``transform(fold_in(init_key, 1), init_fn(init_key, ...))``; its output must match ``init_fn``'s
    structure, shapes and dtypes (``ValueError`` otherwise), so every scheme feeds the same compiled program.
    Returns a pytree of host numpy arrays with leading axis ``K * S``.
    """
    init_keys = jnp.asarray(init_keys)
    out = []
    for s in schemes:
        if not isinstance(s, Scheme):
            raise TypeError(f"schemes must be jaxnn.bench.sweep.Scheme tuples, got {s!r}")
        if s.transform is not None and not callable(s.transform):
            raise TypeError(
                f"scheme {s.name!r}: transform must be callable(key, params) -> params or None, got {s.transform!r}"
            )
        w, b = _hashable(s.w_init), _hashable(s.b_init)

        def one(k, w=w, b=b, t=s.transform, name=s.name):
            p = init_fn(k, w_init=w, b_init=b)
            if t is None:
                return p
            q = t(jax.random.fold_in(k, 1), p)
            before = jax.tree_util.tree_structure(p), [(a.shape, a.dtype) for a in jax.tree_util.tree_leaves(p)]
            after = jax.tree_util.tree_structure(q), [(a.shape, a.dtype) for a in jax.tree_util.tree_leaves(q)]
            if before != after:
                raise ValueError(
                    f"scheme {name!r}: transform changed the parameters' structure, shapes or dtypes "
                    f"({before[0]} -> {after[0]}); it may only change their values"
                )
            return q

        out.append(jax.device_get(jax.vmap(one)(init_keys)))
    return jax.tree_util.tree_map(lambda *a: np.concatenate(a, axis=0), *out)


def _placement(devices, train_data, eval_data):
    """The run-axis sharding over ``devices`` and the data replicated on them."""
    mesh = Mesh(np.array(devices), ("runs",))
    rep_sh = NamedSharding(mesh, P())
    train_g = tuple(_to_global(a, rep_sh) for a in train_data)
    eval_g = tuple(_to_global(a, rep_sh) for a in eval_data) if eval_data is not None else None
    return NamedSharding(mesh, P("runs")), train_g, eval_g


def _compile(program, params, chunk_size, run_sh, train_g, eval_g):
    """The program for chunks of ``chunk_size`` runs, compiled ahead of time (what every call then runs)."""
    program_jit = _program_jit_cpu if next(iter(run_sh.device_set)).platform == "cpu" else _program_jit

    def spec(a):
        return jax.ShapeDtypeStruct((chunk_size, *np.shape(a)[1:]), np.asarray(a).dtype, sharding=run_sh)

    args = (
        jax.tree_util.tree_map(spec, params),
        jax.ShapeDtypeStruct((chunk_size, 2), np.uint32, sharding=run_sh),
        jax.ShapeDtypeStruct((chunk_size,), np.float32, sharding=run_sh),
        train_g,
        eval_g,
    )
    return program_jit.lower(program, *args).compile()


def compile_program(
    program: Program, params, chunk_size: int, train_data, eval_data, *, devices: Sequence | None = None
):
    """The compiled program :func:`run_program` calls for chunks of ``chunk_size`` runs (``params``: any pytree
    with a leading run axis; only shapes and dtypes are used). ``program_bytes(compile_program(...))`` is what
    ``memory_cap`` is checked against, per call."""
    devices = list(devices) if devices is not None else jax.devices()
    run_sh, train_g, eval_g = _placement(devices, train_data, eval_data)
    return _compile(program, params, chunk_size, run_sh, train_g, eval_g)


def _fit_chunk(program, params, chunk_size, n_dev, run_sh, train_g, eval_g, memory_cap, workers=1, n_runs=1):
    """``(chunk, compiled)``: the largest chunk (a multiple of ``n_dev``, halving from ``chunk_size``) whose
    program fits in ``memory_cap`` bytes per device with as many calls in flight as ``workers`` and the
    ``n_runs`` runs allow; compiled ahead of time."""
    while True:
        compiled = _compile(program, params, chunk_size, run_sh, train_g, eval_g)
        in_flight = min(workers, math.ceil(n_runs / chunk_size))
        need = in_flight * program_bytes(compiled)
        if need <= memory_cap:
            return chunk_size, compiled
        if chunk_size == n_dev:
            raise ValueError(
                f"memory_cap={memory_cap} bytes per device is less than one run per device needs "
                f"({need} bytes by XLA's memory analysis, {in_flight} call(s) in flight); raise the "
                f"cap, lower workers or shrink the model"
            )
        chunk_size = n_dev * max(1, chunk_size // n_dev // 2)


def run_program(
    program: Program,
    params,
    data_keys,
    lrs,
    train_data,
    eval_data,
    *,
    chunk_size: int | None = None,
    devices: Sequence | None = None,
    workers: int | None = None,
    memory_cap: int | None = None,
    store=None,
    phase: str = "main",
    progress=None,
    on_chunk: Callable | None = None,
) -> dict[str, np.ndarray]:
    """Train ``R`` runs (leading axis of ``params``, ``data_keys`` ``(R, 2)`` uint32 and ``lrs`` ``(R,)``).

    ``params`` may also be a zero-argument callable returning them, called only when some run is missing.

    The runs are processed in chunks of ``chunk_size`` (rounded up to a multiple of the device count; the last
    chunk padded with copies of its first run, whose results are dropped). Each chunk is one call of the
    compiled program with its run axis sharded over ``devices`` (default: all devices). ``workers`` calls run
    concurrently from a thread pool (default :func:`default_workers`: on CPU one per core not already driven by a
    device, else 1); results are recorded, saved and reported in run order on the calling thread, so neither
    ``chunk_size`` nor ``workers`` changes any result.

    ``memory_cap`` (bytes per device; default :func:`default_memory_cap`, half of the device's memory) bounds
    the chunk: the program is compiled ahead of time for the chunk size and, while XLA's memory analysis of one
    call (:func:`program_bytes`) times the calls in flight (``workers``) exceeds the cap, the runs per device
    are halved (the compilation is the one the first call would do anyway). One run per device over the cap is
    a ``ValueError``. The cap bounds the compiled programs' buffers; host-side copies of the parameters and
    results, and the runtime itself, come on top (on CPU both live in the same RAM).

    ``store`` (a :class:`jaxnn.bench.results.ChunkStore`) makes it resumable: finished runs of ``phase`` are loaded
    instead of recomputed, and each finished chunk is saved atomically before the next starts. ``progress`` is
    a tqdm-like object (``update(n)``, ``set_postfix_str``) advanced by runs; ``on_chunk(phase, run_index)`` is
    called after each chunk is saved (a hook for tests and logging).

    Returns a dict of host arrays with leading axis ``R``: ``train_loss``, ``eval_loss``, ``eval_metric``
    ``(R, n_eval)``, ``diverged_step`` ``(R,)``, ``grad_norm0`` ``(R, n_layers)`` and ``step`` ``(R, n_eval)``.
    """
    lrs = np.asarray(lrs, dtype=np.float32)
    data_keys = np.asarray(data_keys, dtype=np.uint32)
    n_runs = lrs.shape[0]
    if lrs.ndim != 1 or data_keys.shape != (n_runs, 2):
        raise ValueError(
            f"data_keys (R, 2) and lrs (R,) need the same run axis; got lrs {lrs.shape}, data_keys {data_keys.shape}"
        )
    devices = list(devices) if devices is not None else jax.devices()
    n_dev = len(devices)
    if chunk_size is None:
        chunk_size = default_chunk_size(n_runs, devices)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    chunk_size = n_dev * math.ceil(chunk_size / n_dev)
    if memory_cap is not None:
        if (
            isinstance(memory_cap, bool)
            or not isinstance(memory_cap, (int, float, np.integer, np.floating))
            or not math.isfinite(memory_cap)
            or memory_cap < 1
        ):
            raise ValueError(f"memory_cap must be a positive number of bytes per device or None, got {memory_cap!r}")
        memory_cap = int(memory_cap)
    if workers is None:
        workers = default_workers(devices)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")

    done = store.load(phase) if store is not None else {}
    done = {r: v for r, v in done.items() if r < n_runs}
    if progress is not None and done:
        progress.update(len(done))
    remaining = [r for r in range(n_runs) if r not in done]
    if remaining:
        run_sh, train_g, eval_g = _placement(devices, train_data, eval_data)
        if callable(params):  # built lazily: a fully resumed phase never builds its initial parameters
            params = params()
        leaves = jax.tree_util.tree_leaves(params)
        if any(np.shape(leaf)[0] != n_runs for leaf in leaves):
            raise ValueError(f"params need a leading run axis of {n_runs}, got {[np.shape(l)[0] for l in leaves][:3]}")
        host_params = jax.tree_util.tree_map(np.asarray, params)
        t_first, n_first = None, 0  # rate measured after the first chunk
        n_new = 0

        if memory_cap is None:
            memory_cap = default_memory_cap(devices)
        chunk_size, compiled = _fit_chunk(
            program,
            host_params,
            chunk_size,
            n_dev,
            run_sh,
            train_g,
            eval_g,
            memory_cap,
            workers=workers,
            n_runs=len(remaining),
        )

        def call(idx):  # any thread: one call of the compiled program (XLA releases the GIL while it runs)
            padded = np.concatenate([idx, np.full(chunk_size - idx.size, idx[0])])
            p = jax.tree_util.tree_map(lambda a: _to_global(a[padded], run_sh), host_params)
            out = compiled(p, _to_global(data_keys[padded], run_sh), _to_global(lrs[padded], run_sh), train_g, eval_g)
            return idx, {k: v[: idx.size] for k, v in _to_host(out).items()}

        def record(idx, out):  # main thread only, in run order: store, results, progress, hook
            nonlocal t_first, n_first, n_new
            if store is not None and jax.process_index() == 0:
                store.save(phase, idx, out)
            for i, r in enumerate(idx):
                done[int(r)] = {k: v[i] for k, v in out.items()}
            n_new += idx.size
            if progress is not None:
                progress.update(int(idx.size))
                if t_first is None:
                    t_first, n_first = time.perf_counter(), n_new
                elif n_new > n_first:
                    rate = (n_new - n_first) * program.steps / max(time.perf_counter() - t_first, 1e-9)
                    progress.set_postfix_str(f"{rate:,.0f} steps/s")
            if on_chunk is not None:
                on_chunk(phase, idx)

        chunks = [np.asarray(remaining[s : s + chunk_size]) for s in range(0, len(remaining), chunk_size)]
        if workers == 1 or len(chunks) == 1:
            for idx in chunks:
                record(*call(idx))
        else:  # the program is already compiled: every worker starts at once
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                pending = collections.deque()
                for idx in chunks:  # a sliding window of `workers` calls in flight, recorded in order
                    pending.append(pool.submit(call, idx))
                    if len(pending) >= workers:
                        record(*pending.popleft().result())
                while pending:
                    record(*pending.popleft().result())
    keys = done[0].keys()
    return {k: np.stack([done[r][k] for r in range(n_runs)]) for k in keys}


# ---------------------------------------------------------------------------------------------------- metrics


def run_metrics(
    arrays: Mapping[str, np.ndarray],
    *,
    target: float,
    target_on: str = "eval_loss",
    higher_is_better: bool | None = None,
) -> dict[str, np.ndarray]:
    """Per-run convergence metrics from the arrays of :func:`run_program` (any leading shape ``(..., n_eval)``).

    * ``steps_to_target``: first evaluated step at which the ``target_on`` curve (``"eval_loss"``,
      ``"train_loss"`` or ``"eval_metric"``) reaches ``target`` (``<=`` for losses, ``>=`` for a metric unless
      ``higher_is_better`` says otherwise); ``+inf`` when never (right-censored);
    * ``auc``: normalized area under the ``target_on`` curve (its mean over the budget; +inf when non-finite);
    * ``final_train_loss``, ``final_eval_loss``, ``final_eval_metric``: values at the last evaluation;
    * ``diverged``: bool, the run's loss became non-finite (``diverged_step >= 0``).
    """
    if target_on not in ("eval_loss", "train_loss", "eval_metric"):
        raise ValueError(f"target_on must be 'eval_loss', 'train_loss' or 'eval_metric', got {target_on!r}")
    if higher_is_better is None:
        higher_is_better = target_on == "eval_metric"
    steps = np.asarray(arrays["step"]).reshape(-1, np.shape(arrays["step"])[-1])[0]
    curve = np.asarray(arrays[target_on], dtype=np.float64)
    return {
        "steps_to_target": _stats.steps_to_target(steps, curve, target, higher_is_better=higher_is_better),
        "auc": _stats.area_under_curve(steps, curve),
        "final_train_loss": np.asarray(arrays["train_loss"], dtype=np.float64)[..., -1],
        "final_eval_loss": np.asarray(arrays["eval_loss"], dtype=np.float64)[..., -1],
        "final_eval_metric": np.asarray(arrays["eval_metric"], dtype=np.float64)[..., -1],
        "diverged": np.asarray(arrays["diverged_step"]) >= 0,
    }


def _ci_fields(prefix, ci):
    return {prefix: ci.value, f"{prefix}_lo": ci.lo, f"{prefix}_hi": ci.hi}


def _nan_to(x, v):
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.isnan(x), v, x)


def summarize(
    names: Sequence[str],
    metrics: Mapping[str, np.ndarray],
    *,
    steps: int,
    eval_every: int,
    higher_is_better: bool = False,
    alpha: float = 0.05,
    n_resamples: int = 2000,
    seed: int = 0,
    learning_rates: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    r"""Per-scheme statistics across seeds and the ranking; one dict per scheme, **best first**.

    ``metrics`` are :func:`run_metrics` arrays of shape ``(K, S)``. For each scheme: the censored summary of
    steps-to-target (``n_reached``, ``frac_reached`` with CI, median over reached with CI, censored median),
    and median + 95% percentile-bootstrap CI of the AUC, final losses and final metric; ``n_diverged``.

    Ranking (:func:`jaxnn.bench.stats.compare_to_best`): by the median of steps-to-target with censored runs set to
    ``steps + eval_every`` (one evaluation beyond the budget: worse than any run that got there, tied among
    themselves), ties broken by the median AUC (lower is better; negated when ``higher_is_better``). Every
    scheme is compared with the best by a two-sided paired Wilcoxon signed-rank test over seeds on the same
    censored steps-to-target, Holm-adjusted over the K-1 comparisons; ``significant`` = adjusted p < ``alpha``.
    """
    k = len(names)
    t = np.asarray(metrics["steps_to_target"], dtype=np.float64)
    if t.ndim != 2 or t.shape[0] != k:
        raise ValueError(f"metrics must have shape (K={k}, S), got steps_to_target {t.shape}")
    censored_at = float(steps + eval_every)
    t_c = np.where(np.isfinite(t), t, censored_at)
    auc = np.asarray(metrics["auc"], dtype=np.float64)
    auc_rank = _nan_to(-auc if higher_is_better else auc, np.inf)
    auc_rank = np.where(np.isinf(auc), np.inf, auc_rank)  # a non-finite curve is always worst
    cmp = _stats.compare_to_best(t_c, tiebreak=auc_rank, alpha=alpha)
    kw = dict(n_resamples=n_resamples, seed=seed)
    rows = []
    for i in range(k):
        cs = _stats.censored_summary(t[i], **kw)
        row = {
            "rank": int(cmp.rank[i]),
            "scheme": names[i],
            "learning_rate": None if learning_rates is None else float(learning_rates[i]),
            "n_seeds": cs.n,
            "n_reached": cs.n_reached,
            **_ci_fields("frac_reached", cs.frac_reached),
            **_ci_fields("steps_to_target_reached", cs.median_reached),
            **_ci_fields("steps_to_target", cs.median),
            **_ci_fields("auc", _stats.median_ci(_nan_to(auc[i], np.inf), **kw)),
            **_ci_fields("final_train_loss", _stats.median_ci(_nan_to(metrics["final_train_loss"][i], np.inf), **kw)),
            **_ci_fields("final_eval_loss", _stats.median_ci(_nan_to(metrics["final_eval_loss"][i], np.inf), **kw)),
            **_ci_fields(
                "final_eval_metric",
                _stats.median_ci(
                    _nan_to(metrics["final_eval_metric"][i], -np.inf if higher_is_better else np.inf), **kw
                )
                if not np.isnan(metrics["final_eval_metric"][i]).all()
                else _stats.CI(math.nan, math.nan, math.nan),
            ),
            "n_diverged": int(np.asarray(metrics["diverged"][i]).sum()),
            "p_value": float(cmp.pvalue[i]),
            "p_holm": float(cmp.pvalue_holm[i]),
            "significant": bool(cmp.significant[i]),
            "best": i == cmp.best,
        }
        rows.append(row)
    return sorted(rows, key=lambda r: r["rank"])


# ---------------------------------------------------------------------------------------------------- sweep


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


def _seed_keys(seed: int, stream: int, n: int) -> np.ndarray:
    """``n`` raw uint32 keys of stream ``stream`` (0: init, 1: data order, 2/3: tuning init/data)."""
    return np.asarray(jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), stream), n))


def _holdout(train_data, fraction, seed):
    x, y = (np.asarray(a) for a in train_data)
    perm = np.random.default_rng(seed).permutation(x.shape[0])
    n_val = max(1, int(round(fraction * x.shape[0])))
    va, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return (x[tr], y[tr]), (x[va], y[va])


def _check_pos_int(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return int(v)


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
    chunk_size: int | None = None,
    devices: Sequence | None = None,
    workers: int | None = None,
    memory_cap: int | None = None,
    store=None,
    phase_prefix: str = "",
    progress: bool | Any = False,
    on_chunk: Callable | None = None,
    alpha: float = 0.05,
    n_resamples: int = 2000,
) -> SweepResult:
    r"""Train every scheme on every seed (at every learning rate) and compare their convergence.

    Args:
      init_fn: ``init_fn(key, *, w_init, b_init) -> params`` (e.g. ``functools.partial(jaxnn.models.mlp_init,
        layer_sizes=(64, 128, 10))``).
      apply_fn: ``apply_fn(params, x) -> predictions``.
      loss_fn: ``loss_fn(predictions, targets) -> scalar``.
      optimizer: an optax ``GradientTransformation`` (then ``learning_rates`` must be None), or a factory
        ``lr -> GradientTransformation`` such as ``functools.partial(optax.sgd, momentum=0.9)``.
      train_data, eval_data: ``(x, y)`` arrays; curves are evaluated on ``eval_data`` (the test split).
      schemes: :class:`Scheme` entries (name, weight init, bias init); names must be unique.
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
        Default: a seeded random 80/20 split of ``train_data``. Never the test data.
      seed: the base seed of every key stream.
      chunk_size, devices, workers, memory_cap: the execution strategy (see the module docstring and
        :func:`run_program`); they do not change results.
      store: a :class:`jaxnn.bench.results.ChunkStore` for resumable runs; ``phase_prefix`` namespaces its chunks.
      progress: True for a tqdm bar (runs done, steps/s, ETA), or a tqdm-like object, or False.
      on_chunk: ``on_chunk(phase, run_index)`` after every saved chunk.
      alpha, n_resamples: significance level (Holm) and bootstrap resamples for the summary.
    """
    schemes = list(schemes)
    if not schemes:
        raise ValueError("schemes must name at least one Scheme")
    names = [s.name for s in schemes]
    if len(set(names)) != len(names):
        raise ValueError(f"scheme names must be unique, got {names}")
    seeds = _check_pos_int(seeds, "seeds")
    steps = _check_pos_int(steps, "steps")
    eval_every = _check_pos_int(eval_every, "eval_every")
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
    program = Program(apply_fn, loss_fn, optimizer, steps, int(batch_size), eval_every, metric, train_loss)
    k, n_lr = len(schemes), lr_grid.size
    tune = n_lr > 1
    s_tune = _check_pos_int(tune_seeds if tune_seeds is not None else seeds, "tune_seeds") if tune else 0
    total = k * seeds + k * n_lr * s_tune

    bar, own_bar = progress, False
    if progress is True:
        from tqdm.auto import tqdm

        bar, own_bar = tqdm(total=total, unit="run", desc="sweep", dynamic_ncols=True), True
    elif progress is False:
        bar = None
    try:
        common = dict(
            chunk_size=chunk_size,
            devices=devices,
            workers=workers,
            memory_cap=memory_cap,
            store=store,
            progress=bar,
            on_chunk=on_chunk,
        )
        tuning = None
        if tune:
            if tuning_data is None:
                tr_data, val_data = _holdout(train_data, 0.2, seed)
            else:
                tr_data, val_data = tuning_data
            init_k = _seed_keys(seed, 2, s_tune)
            data_k = _seed_keys(seed, 3, s_tune)
            # Run axis ordered (K, L, S_tune): repeat each scheme's S_tune parameter sets for every rate.
            order = np.array([i * s_tune + s for i in range(k) for _ in range(n_lr) for s in range(s_tune)])

            def p_runs(init_k=init_k, order=order):
                p0 = initial_params(init_fn, schemes, init_k)  # (K*S_tune, ...)
                return jax.tree_util.tree_map(lambda a: a[order], p0)

            keys_runs = np.tile(data_k, (k * n_lr, 1))
            lrs_runs = np.repeat(np.tile(lr_grid, k), s_tune)
            arr = run_program(
                program, p_runs, keys_runs, lrs_runs, tr_data, val_data, phase=f"{phase_prefix}tune", **common
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
        init_k = _seed_keys(seed, 0, seeds)
        data_k = _seed_keys(seed, 1, seeds)
        p0 = functools.partial(initial_params, init_fn, schemes, init_k)  # (K*S, ...), built lazily
        keys_runs = np.tile(data_k, (k, 1))
        lrs_runs = np.repeat(chosen, seeds).astype(np.float32)
        arr = run_program(
            program, p0, keys_runs, lrs_runs, train_data, eval_data, phase=f"{phase_prefix}main", **common
        )
    finally:
        if own_bar:
            bar.close()
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
