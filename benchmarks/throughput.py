#!/usr/bin/env python
r"""Throughput of jaxnn's sweep, measured side by side against what users would write instead.

One command, run unchanged on a CPU or a GPU::

    python benchmarks/throughput.py                   # full run: headline, scaling table, compile cache
    python benchmarks/throughput.py --quick           # tiny configuration (seconds; what the test runs)
    python benchmarks/throughput.py --repeats 5 --out benchmarks/results/throughput.json

What it measures (everything in one process unless noted, methods interleaved repeat by repeat so machine
noise hits them alike; medians over ``--repeats`` >= 3):

1. **Headline** -- the default preset's shape (digits, MLP 64-128-128-128-10, ReLU, cross-entropy, batch 128,
   SGD+momentum, ``--schemes`` x ``--seeds`` x ``--steps`` = 6 x 8 x 300 = 14,400 training steps),
   *compilation included* (``jax.clear_caches()`` before every timed method, persistent cache off):

   * ``ceiling``: only the forward and backward matmuls of those steps (``jax.grad`` of the same MLP without
     biases, activations or softmax, plain SGD so that steps chain), one compiled ``lax.scan`` per run, runs
     one after another -- the arithmetic ceiling at these shapes as the issue defines it;
   * ``ceiling_parallel``: the same program on ``--workers`` threads at once (what the cores allow);
   * ``loop_idiom``: the optax-tutorial idiom, one jitted ``train_step`` and a Python loop over steps, seeds
     and schemes;
   * ``scan_sequential``: one compiled ``lax.scan`` training program reused for every run, one after another;
   * ``vmap_all``: one compiled program, every run stacked and ``vmap``-ped;
   * ``jit_vmap_per_scheme``: a ``jit(vmap(...))`` closure per scheme (recompiles for every scheme);
   * ``torch_eager``: a PyTorch eager loop of the same model (only when ``import torch`` works; torch is an
     optional peer, never a dependency);
   * ``torch_eager_1thread``: the same with one intra-op thread (on a busy machine torch's spinning OpenMP
     threads can be many times slower; the torch target uses the faster torch entry);
   * ``jaxnn_sweep``: :func:`jaxnn.bench.execution.run_program` with the library's default execution strategy for this
     backend, from the runs' initial parameters (made once, outside the timings, as for every baseline). It
     does *more* work than the baselines: it also evaluates the loss and accuracy on the test set every
     ``eval_every`` steps, one minibatch loss at step 0 and a full-batch gradient at step 0 (all counted in
     ``model_flops``; its training-loss curve is the running minibatch mean, ``train_loss="batch"``).
   * ``jaxnn_sweep_with_init``: ``jaxnn_sweep`` plus :func:`jaxnn.bench.scheme.initial_params` (end to end).

2. **Scaling table** (one subprocess per cell, so the peak resident memory is the cell's own): width 64..1024
   at a fixed number of seeds, seeds 1..64 at width 128, steps at fixed width and seeds, and the memory cell
   64 seeds x width 1024 (plus, with ``--memory-demo-cap BYTES``, the same cell requested as one wide
   ``vmap`` chunk under that cap: ``run_program`` halves the chunk until XLA's memory analysis of the program
   fits, and the cell reports the chunk it used). Each cell: cold call (compile + run),
   warm median, compile time (cold - warm), steps/s, achieved FLOP/s, share of the matmul-only ceiling at that
   width, peak memory (the process's ``VmHWM`` on CPU, ``peak_bytes_in_use`` on GPU) against the cap.

3. **Persistent compilation cache**: the same cell run twice in fresh processes with one
   ``jax_compilation_cache_dir`` (emptied first): cold vs warm compile time.

4. **Whole process** (``--whole-process``, its own results file ``benchmarks/results/whole_process.json``): what
   a user waits for, from the shell prompt to the results, imports and compilation included, each a fresh
   process. ``jaxnn-bench --preset default --seeds S --no-plots`` (persistent compilation cache off, and warm)
   against the same job written the ways users write it (``benchmarks/peers.py``: a jitted step in a Python loop,
   one jit-compiled ``lax.scan`` per run, PyTorch eager with 1 and 2 threads, the faster one counting) at 12, 48
   and 192 runs (``S`` = 1, 4, 16 seeds of the 12 schemes), methods interleaved repeat by repeat. The fixed cost
   and the per-run cost are the intercept and the slope of a least-squares line through the medians.

Execution strategy under test (``--strategy``): ``auto`` (the library's per-backend default), or explicit
``--chunk-size`` / ``--workers`` / ``--cpu-devices``. By default the XLA:CPU client keeps JAX's one device and
the library runs one compiled-program call per core from worker threads (``jaxnn.bench.execution.default_workers``);
``--cpu-devices auto`` instead gives the client one device per core *before JAX starts*, so the run-axis
sharding spreads runs over the cores (on a GPU machine it changes nothing).
Results: ``--out`` (JSON) and a Markdown table (``--markdown``).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import functools
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "throughput.json"
HEADLINE_SCHEMES = ("glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal", "orthogonal")


def _n_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _peak_rss_bytes() -> int:
    """This process's peak resident memory: ``VmHWM`` from /proc (per address space, so it does not inherit the
    parent's peak the way ``ru_maxrss`` does across fork+exec on Linux), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _total_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _configure_jax(cpu_devices: str | int | None, cache_dir: str | None):
    """Process-wide JAX settings; must run before the first JAX computation."""
    import jax

    if cpu_devices not in (None, 0, "0", "default"):
        n = _n_cores() if cpu_devices == "auto" else int(cpu_devices)
        if n > 1:
            jax.config.update("jax_num_cpu_devices", n)
    if cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(cache_dir))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        for opt in ("jax_persistent_cache_enable_xla_caches",):
            try:
                jax.config.update(opt, "all")
            except (AttributeError, ValueError, KeyError):
                pass
    else:
        try:
            jax.config.update("jax_enable_compilation_cache", False)
        except (AttributeError, KeyError):
            pass
    return jax


# ------------------------------------------------------------------------------------------------ workload


@dataclasses.dataclass(frozen=True)
class Workload:
    schemes: tuple[str, ...] = HEADLINE_SCHEMES
    seeds: int = 8
    steps: int = 300
    hidden: tuple[int, ...] = (128, 128, 128)
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    eval_every: int = 10
    dataset: str = "digits"

    @property
    def runs(self) -> int:
        return len(self.schemes) * self.seeds


def layer_sizes(w: Workload, in_dim=64, out_dim=10):
    return (in_dim, *w.hidden, out_dim)


def flops(w: Workload, n_train: int, n_test: int, in_dim=64, out_dim=10) -> dict[str, float]:
    """Analytic multiply-add FLOPs (2 per MAC) of the dense layers; elementwise work is not counted.

    A training step: forward ``2 B sum(in*out)``, weight gradients ``2 B sum(in*out)``, input gradients of every
    layer but the first ``2 B sum_{l>1}(in*out)``. jaxnn's evaluation: a forward pass over the test set at each of
    ``steps // eval_every + 1`` evaluations, one minibatch forward for the step-0 train loss (the sweep's
    ``train_loss="batch"``: the later ones are the running mean of the training steps' losses), and one
    full-batch gradient at step 0 (the per-layer gradient norms).
    """
    sizes = layer_sizes(w, in_dim, out_dim)
    macs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    step = 2 * w.batch_size * (2 * sum(macs) + sum(macs[1:]))
    n_eval = w.steps // w.eval_every + 1
    fwd_test = 2 * n_test * sum(macs)
    grad0 = 2 * n_train * (2 * sum(macs) + sum(macs[1:]))
    train = step * w.steps * w.runs
    evals = (fwd_test * n_eval + 2 * w.batch_size * sum(macs) + grad0) * w.runs
    return {
        "per_step": float(step),
        "train": float(train),
        "jaxnn_eval": float(evals),
        "jaxnn_total": float(train + evals),
    }


class Context:
    """Data, models and per-run data orders shared by every method (built once, outside the timings)."""

    def __init__(self, w: Workload):
        import jax
        import numpy as np

        from jaxnn.bench import config as presets
        from jaxnn.bench import experiment

        self.w = w
        cfg = presets.get_preset("default").replace(
            dataset=w.dataset,
            hidden=tuple(w.hidden),
            schemes=tuple(w.schemes),
            seeds=w.seeds,
            steps=w.steps,
            batch_size=w.batch_size,
            eval_every=w.eval_every,
            learning_rates=(w.lr,),
            optimizer=f"sgd(momentum={w.momentum})",
        )
        self.cfg = cfg
        self.exp = experiment.build(cfg)
        ds = self.exp.dataset
        self.x = np.asarray(ds.x_train, np.float32)
        self.y = np.asarray(ds.y_train, np.int32)
        self.x_test = np.asarray(ds.x_test, np.float32)
        self.y_test = np.asarray(ds.y_test, np.int32)
        self.n, self.in_dim = self.x.shape
        self.out_dim = int(ds.info.output_dim)
        self.sizes = (self.in_dim, *w.hidden, self.out_dim)
        if w.batch_size > self.n:
            raise ValueError(f"batch_size={w.batch_size} exceeds the {self.n} training examples")
        # per-seed data order (shuffled epochs, remainder dropped), shared by every scheme: (S, steps, B)
        per = self.n // w.batch_size
        n_ep = -(-w.steps // per)
        self.idx = np.stack(
            [
                np.concatenate(
                    [np.random.default_rng([s, e]).permutation(self.n)[: per * w.batch_size] for e in range(n_ep)]
                ).reshape(-1, w.batch_size)[: w.steps]
                for s in range(w.seeds)
            ]
        ).astype(np.int32)
        self.backend = jax.default_backend()
        self.flops = flops(w, self.n, self.x_test.shape[0], self.in_dim, self.out_dim)
        # Initial parameters of the baselines, made once outside every timing (as host arrays): the baselines
        # time training (+ compilation) only; jaxnn's timing includes its own initialization.
        keys = jax.random.split(jax.random.PRNGKey(0), w.seeds)
        self.init_params = {
            (sc, s): jax.tree_util.tree_map(np.asarray, _plain_init(self, sc, keys[s]))
            for sc in w.schemes
            for s in range(w.seeds)
        }

    def initializer(self, name):
        import jax

        return {
            "glorot_normal": jax.nn.initializers.glorot_normal(),
            "glorot_uniform": jax.nn.initializers.glorot_uniform(),
            "he_normal": jax.nn.initializers.he_normal(),
            "he_uniform": jax.nn.initializers.he_uniform(),
            "lecun_normal": jax.nn.initializers.lecun_normal(),
            "lecun_uniform": jax.nn.initializers.lecun_uniform(),
            "orthogonal": jax.nn.initializers.orthogonal(),
        }.get(name, jax.nn.initializers.he_normal())


# ------------------------------------------------------------------------------------------------ baselines
# Written the way a user would, from jax / optax / torch alone.


def _plain_init(ctx, scheme, key):
    import jax
    import jax.numpy as jnp

    init = ctx.initializer(scheme)
    keys = jax.random.split(key, len(ctx.sizes) - 1)
    return [
        {"w": init(k, (a, b), jnp.float32), "b": jnp.zeros((b,), jnp.float32)}
        for k, a, b in zip(keys, ctx.sizes[:-1], ctx.sizes[1:])
    ]


def _plain_apply(params, x):
    import jax

    for p in params[:-1]:
        x = jax.nn.relu(x @ p["w"] + p["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def _plain_loss(params, x, y):
    import optax

    return optax.softmax_cross_entropy_with_integer_labels(_plain_apply(params, x), y).mean()


def _optimizer(ctx):
    import optax

    return optax.sgd(ctx.w.lr, momentum=ctx.w.momentum)


def _train_run_fn(ctx):
    """One run as a function of (params, x, y, idx (steps, B)): one lax.scan, minibatch gathered per step."""
    import jax
    import optax

    opt = _optimizer(ctx)

    def run(params, x, y, idx):
        def step(carry, i):
            p, s = carry
            loss, g = jax.value_and_grad(_plain_loss)(p, x[i], y[i])
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), loss

        (p, _), losses = jax.lax.scan(step, (params, opt.init(params)), idx)
        return p, losses

    return run


def _keys(ctx):
    import jax

    return jax.random.split(jax.random.PRNGKey(0), ctx.w.seeds)


def _ceiling_objective(ws, xb):
    import jax.numpy as jnp

    h = xb
    for w_ in ws:
        h = h @ w_
    return 0.5 * jnp.sum(h * h) / xb.shape[0]


@functools.cache
def _ceiling_program():
    """Forward + backward matmuls only: grad of 0.5|x W1 ... WL|^2 / B, plain SGD so that the steps chain.
    Module-level, so warm calls reuse it; ``jax.clear_caches()`` makes the headline compile it again."""
    import jax

    @jax.jit
    def program(ws, xs):
        def step(ws, xb):
            g = jax.grad(_ceiling_objective)(ws, xb)
            return [a - 1e-4 * b for a, b in zip(ws, g)], None

        return jax.lax.scan(step, ws, xs)[0]

    return program


def m_ceiling(ctx, workers=1):
    import jax

    program = _ceiling_program()
    jobs = [(scheme, s) for scheme in ctx.w.schemes for s in range(ctx.w.seeds)]

    def one(job):
        scheme, s = job
        ws = [p["w"] for p in ctx.init_params[job]]
        return jax.block_until_ready(program(ws, ctx.x[ctx.idx[s]]))

    one(jobs[0])  # compile once, then the rest (possibly on several threads)
    _map(one, jobs[1:], workers)


def _map(fn, items, workers):
    if workers <= 1:
        return [fn(i) for i in items]
    with cf.ThreadPoolExecutor(workers) as ex:
        return list(ex.map(fn, items))


def m_loop_idiom(ctx):
    import jax
    import optax

    opt = _optimizer(ctx)

    @jax.jit
    def train_step(params, opt_state, xb, yb):
        loss, grads = jax.value_and_grad(_plain_loss)(params, xb, yb)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    for scheme in ctx.w.schemes:
        for s in range(ctx.w.seeds):
            params = ctx.init_params[scheme, s]
            opt_state = opt.init(params)
            for t in range(ctx.w.steps):
                b = ctx.idx[s, t]
                params, opt_state, loss = train_step(params, opt_state, ctx.x[b], ctx.y[b])
            jax.block_until_ready(params)


def m_scan_sequential(ctx):
    import jax

    run = jax.jit(_train_run_fn(ctx))
    x, y = jax.device_put(ctx.x), jax.device_put(ctx.y)
    for scheme in ctx.w.schemes:
        for s in range(ctx.w.seeds):
            jax.block_until_ready(run(ctx.init_params[scheme, s], x, y, ctx.idx[s]))


def m_vmap_all(ctx):
    import jax
    import numpy as np

    run = jax.jit(jax.vmap(_train_run_fn(ctx), in_axes=(0, None, None, 0)))
    params = [ctx.init_params[scheme, s] for scheme in ctx.w.schemes for s in range(ctx.w.seeds)]
    stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *params)
    idx = np.tile(ctx.idx, (len(ctx.w.schemes), 1, 1))
    jax.block_until_ready(run(stacked, ctx.x, ctx.y, idx))


def m_jit_vmap_per_scheme(ctx):
    import jax

    keys = _keys(ctx)
    train = _train_run_fn(ctx)
    x, y = jax.device_put(ctx.x), jax.device_put(ctx.y)
    for scheme in ctx.w.schemes:
        # the closure captures the scheme, so every scheme is a new function: a new trace and compile
        run = jax.jit(jax.vmap(lambda k, i, scheme=scheme: train(_plain_init(ctx, scheme, k), x, y, i)))
        jax.block_until_ready(run(keys, ctx.idx))


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except Exception:
        return False
    return True


def _torch_warmup():
    """torch's one-off start-up (its lazy imports on the first optimizer step), outside the timings -- as JAX's
    import and backend start are."""
    import torch

    lin = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
    lin(torch.randn(3, 4)).sum().backward()
    opt.step()


def m_torch_eager(ctx, threads=None):
    import torch

    dev = "cuda" if (ctx.backend == "gpu" and torch.cuda.is_available()) else "cpu"
    if dev == "cpu":
        torch.set_num_threads(threads or _n_cores())
    x = torch.as_tensor(ctx.x, device=dev)
    y = torch.as_tensor(ctx.y, dtype=torch.long, device=dev)
    idx = torch.as_tensor(ctx.idx, dtype=torch.long, device=dev)
    inits = {
        "glorot_normal": torch.nn.init.xavier_normal_,
        "glorot_uniform": torch.nn.init.xavier_uniform_,
        "he_normal": torch.nn.init.kaiming_normal_,
        "he_uniform": torch.nn.init.kaiming_uniform_,
        "orthogonal": torch.nn.init.orthogonal_,
    }
    for scheme in ctx.w.schemes:
        for s in range(ctx.w.seeds):
            torch.manual_seed(s)
            layers = []
            for i, (a, b) in enumerate(zip(ctx.sizes[:-1], ctx.sizes[1:])):
                lin = torch.nn.Linear(a, b)
                inits.get(scheme, torch.nn.init.kaiming_normal_)(lin.weight)
                torch.nn.init.zeros_(lin.bias)
                layers += [lin] + ([torch.nn.ReLU()] if i < len(ctx.sizes) - 2 else [])
            model = torch.nn.Sequential(*layers).to(dev)
            opt = torch.optim.SGD(model.parameters(), lr=ctx.w.lr, momentum=ctx.w.momentum)
            loss_fn = torch.nn.CrossEntropyLoss()
            for t in range(ctx.w.steps):
                b = idx[s, t]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x[b]), y[b])
                loss.backward()
                opt.step()
            if dev == "cuda":
                torch.cuda.synchronize()


# ------------------------------------------------------------------------------------------------ jaxnn


def jaxnn_setup(ctx):
    """Program, initial parameters, keys and learning rates exactly as :func:`jaxnn.bench.sweep.sweep` builds them."""
    import numpy as np

    from jaxnn.bench.program import Program
    from jaxnn.bench.scheme import seed_keys

    exp, w = ctx.exp, ctx.w
    loss_fn = next(iter(exp.losses.values()))
    program = Program(exp.apply_fn, loss_fn, exp.optimizer, w.steps, w.batch_size, w.eval_every, exp.metric)
    init_keys = seed_keys(0, "init", w.seeds)
    data_keys = np.tile(seed_keys(0, "data", w.seeds), (len(exp.schemes), 1))
    lrs = np.full(w.runs, w.lr, np.float32)
    ds = exp.dataset
    return program, init_keys, data_keys, lrs, (ds.x_train, ds.y_train), (ds.x_test, ds.y_test)


def jaxnn_initial_params(ctx):
    """jaxnn's stacked initial parameters (``K * S`` runs), made once per context (outside the timings)."""
    from jaxnn.bench.scheme import initial_params

    if getattr(ctx, "_jaxnn_params", None) is None:
        ctx._jaxnn_params = initial_params(ctx.exp.init_fn, ctx.exp.schemes, jaxnn_setup(ctx)[1])
    return ctx._jaxnn_params


def m_jaxnn(ctx, *, chunk_size=None, workers=None, memory_cap=None, with_init=False, chunk_log=None):
    """jaxnn's way: ``run_program`` (one compiled program for every run) on the runs' initial parameters;
    ``with_init`` also times :func:`jaxnn.bench.scheme.initial_params` (one small compiled init per scheme)."""
    from jaxnn.bench.execution import Execution, run_program
    from jaxnn.bench.scheme import initial_params

    program, init_keys, data_keys, lrs, tr, ev = jaxnn_setup(ctx)
    if with_init:
        params = initial_params(ctx.exp.init_fn, ctx.exp.schemes, init_keys)
    else:
        params = jaxnn_initial_params(ctx)
    execution = Execution(chunk_size=chunk_size, workers=workers, memory_cap=memory_cap)
    on_chunk = None if chunk_log is None else (lambda phase, idx: chunk_log.append(len(idx)))
    return run_program(program, params, data_keys, lrs, tr, ev, execution=execution, on_chunk=on_chunk)


# ------------------------------------------------------------------------------------------------ environment


def environment():
    import jax
    import jaxlib
    import numpy as np
    import optax

    import jaxnn

    dev = jax.devices()[0]
    env = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpu_count": _n_cores(),
        "memory_bytes": _total_memory_bytes(),
        "python": platform.python_version(),
        "backend": jax.default_backend(),
        "device_kind": dev.device_kind,
        "device_count": jax.device_count(),
        "versions": {
            "jax": jax.__version__,
            "jaxlib": jaxlib.__version__,
            "optax": optax.__version__,
            "numpy": np.__version__,
            "jaxnn": jaxnn.__version__,
        },
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    if torch_available():
        import torch

        env["versions"]["torch"] = torch.__version__
        env["torch_threads"] = _n_cores()
    return env


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# ------------------------------------------------------------------------------------------------ headline


def headline(args, w: Workload) -> dict:
    import jax

    ctx = Context(w)
    strategy_kw = dict(chunk_size=args.chunk_size, workers=args.workers)
    methods = {
        "ceiling": m_ceiling,
        "ceiling_parallel": functools.partial(m_ceiling, workers=args.workers or _n_cores()),
        "loop_idiom": m_loop_idiom,
        "scan_sequential": m_scan_sequential,
    }
    if not args.skip_slow_baselines:
        methods["vmap_all"] = m_vmap_all
        methods["jit_vmap_per_scheme"] = m_jit_vmap_per_scheme
    if torch_available() and not args.no_torch:
        methods["torch_eager"] = m_torch_eager  # intra-op threads = cores, as the issue measured it
        if _n_cores() > 1 and ctx.backend == "cpu":
            # on a busy machine torch's spinning OpenMP threads can be many times slower than one thread;
            # the targets use the faster torch entry, so the peer is never handicapped
            methods["torch_eager_1thread"] = functools.partial(m_torch_eager, threads=1)
        _torch_warmup()
    methods["jaxnn_sweep"] = functools.partial(m_jaxnn, **strategy_kw)
    methods["jaxnn_sweep_with_init"] = functools.partial(m_jaxnn, with_init=True, **strategy_kw)
    jaxnn_initial_params(ctx)
    if args.methods:
        methods = {k: v for k, v in methods.items() if k in args.methods}
    times = {k: [] for k in methods}
    for rep in range(args.repeats):
        for name, fn in methods.items():
            jax.clear_caches()
            t = time.perf_counter()
            fn(ctx)
            times[name].append(time.perf_counter() - t)
            _log(args, f"  headline rep {rep + 1}/{args.repeats} {name:22s} {times[name][-1]:8.2f} s")
    med = {k: statistics.median(v) for k, v in times.items()}
    f = ctx.flops
    rows = {}
    for k, t in med.items():
        done = f["jaxnn_total"] if k.startswith("jaxnn") else f["train"]
        rows[k] = {
            "median_s": t,
            "times_s": times[k],
            "train_steps_per_s": w.runs * w.steps / t,
            "train_gflops_per_s": f["train"] / t / 1e9,
            "model_gflops_per_s": done / t / 1e9,
            "share_of_ceiling": med["ceiling"] / t if "ceiling" in med else None,
        }
    jx = "jaxnn_sweep"
    best = min((k for k in med if k.startswith("jaxnn") and not k.endswith("with_init")), key=med.get, default=None)
    ratios = {}
    for name in (jx, "jaxnn_sweep_with_init"):
        if name not in med:
            continue
        r = {}
        for base in med:
            if not base.startswith("jaxnn"):
                r[f"{base}_over_{name}"] = med[base] / med[name]
        ratios[name] = r
    targets = {}
    if best is not None:
        targets = {
            "method": best,
            "faster_than_loop_idiom": _ratio(med, "loop_idiom", best),
            "need_loop": 1.5,
            "faster_than_torch_eager": _ratio(
                med, min((k for k in med if k.startswith("torch")), key=med.get, default="torch_eager"), best
            ),
            "need_torch": 3.0,
            "time_over_ceiling": _ratio(med, best, "ceiling"),
            "need_ceiling_at_most": 1.4,
            "time_over_ceiling_parallel": _ratio(med, best, "ceiling_parallel"),
        }
        targets["met"] = bool(
            (targets["faster_than_loop_idiom"] is None or targets["faster_than_loop_idiom"] >= 1.5)
            and (targets["faster_than_torch_eager"] is None or targets["faster_than_torch_eager"] >= 3.0)
            and (targets["time_over_ceiling"] is None or targets["time_over_ceiling"] <= 1.4)
        )
    return {
        "workload": dataclasses.asdict(w) | {"runs": w.runs, "training_steps": w.runs * w.steps},
        "flops": f,
        "strategy": _strategy_note(args, ctx.backend),
        "methods": rows,
        "ratios": ratios,
        "targets": targets,
        "repeats": args.repeats,
    }


def _ratio(med, a, b):
    return med[a] / med[b] if a in med and b in med else None


def _strategy_note(args, backend):
    import jax

    from jaxnn.bench.execution import default_chunk_size

    n_dev = jax.device_count()
    chunk = args.chunk_size or default_chunk_size(1024, jax.devices())
    return {
        "backend": backend,
        "devices": n_dev,
        "cpu_devices_flag": args.cpu_devices,
        "chunk_size": chunk if args.chunk_size else f"library default ({chunk} for 1024 runs)",
        "workers": args.workers or "library default",
    }


# ------------------------------------------------------------------------------------------------ scaling cells


def cell_main(spec: dict) -> dict:
    """One scaling cell, in its own process: cold call, warm repeats, matmul ceiling at this width, memory."""
    jax = _configure_jax(spec.get("cpu_devices"), spec.get("cache_dir"))
    import numpy as np

    w = Workload(
        schemes=("he_normal",),
        seeds=spec["seeds"],
        steps=spec["steps"],
        hidden=(spec["width"],) * spec.get("depth", 3),
        batch_size=spec.get("batch_size", 128),
    )
    ctx = Context(w)
    rss_base = _peak_rss_bytes()
    kw = dict(chunk_size=spec.get("chunk_size"), workers=spec.get("workers"), memory_cap=spec.get("memory_cap"))
    jaxnn_initial_params(ctx)  # outside the timings, as in the headline
    chunk_log = []
    t = time.perf_counter()
    out = m_jaxnn(ctx, chunk_log=chunk_log, **kw)
    cold = time.perf_counter() - t
    warm = []
    for _ in range(spec["repeats"]):
        t = time.perf_counter()
        out = m_jaxnn(ctx, **kw)
        warm.append(time.perf_counter() - t)
    finite = bool(np.isfinite(np.asarray(out["train_loss"])).all())
    # matmul-only ceiling at this width: a few runs, warm (the program compiled by the first call)
    cw = dataclasses.replace(w, seeds=min(w.seeds, 2))
    cctx = Context(cw)
    m_ceiling(cctx)
    ceil = []
    for _ in range(max(1, spec["repeats"])):
        t = time.perf_counter()
        m_ceiling(cctx)
        ceil.append(time.perf_counter() - t)
    ceil_rate = cctx.flops["train"] / statistics.median(ceil)
    dev = jax.devices()[0]
    stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    peak = (stats or {}).get("peak_bytes_in_use") if dev.platform != "cpu" else None
    if peak is None:
        peak = _peak_rss_bytes()
        kind = "host_peak_rss"
    else:
        kind = "device_peak_bytes_in_use"
    wm = statistics.median(warm)
    f = ctx.flops
    program_mem = _program_bytes_in_flight(ctx, max(chunk_log, default=1), spec.get("workers"))
    return {
        **spec,
        "runs": w.runs,
        "cold_s": cold,
        "warm_s": wm,
        "warm_times_s": warm,
        "compile_s": max(cold - wm, 0.0),
        "steps_per_s": w.runs * w.steps / wm,
        "train_gflops_per_s": f["train"] / wm / 1e9,
        "model_gflops_per_s": f["jaxnn_total"] / wm / 1e9,
        "ceiling_gflops_per_s": ceil_rate / 1e9,
        "share_of_ceiling": f["train"] / wm / ceil_rate,
        "peak_memory_bytes": int(peak),
        "memory_kind": kind,
        "baseline_rss_bytes": int(rss_base),
        "memory_cap_bytes": spec.get("memory_cap"),
        "chunk_size_used": max(chunk_log, default=None),
        # what the cap bounds: XLA's memory analysis of the compiled program times the calls in flight
        "program_bytes_in_flight": program_mem,
        "under_cap": None if not spec.get("memory_cap") else bool(program_mem <= spec["memory_cap"]),
        "process_growth_bytes": int(peak - rss_base) if kind == "host_peak_rss" else None,
        "finite": finite,
        "backend": jax.default_backend(),
        "device_kind": dev.device_kind,
    }


def _program_bytes_in_flight(ctx, chunk: int, workers) -> int:
    """XLA's memory analysis of jaxnn's program for ``chunk`` runs, times the calls ``run_program`` keeps in
    flight (what its ``memory_cap`` bounds; the compilation is a cache hit)."""
    from jaxnn.bench.execution import compile_program, default_workers
    from jaxnn.bench.program import program_bytes

    program, _, _, _, tr, ev = jaxnn_setup(ctx)
    per_call = program_bytes(compile_program(program, jaxnn_initial_params(ctx), chunk, tr, ev))
    in_flight = min(workers or default_workers(), -(-ctx.w.runs // chunk))
    return int(per_call * in_flight)


def run_cell(spec: dict, timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--cell", json.dumps(spec)]
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("CELL ")]
    if p.returncode != 0 or not lines:
        return {**spec, "error": (p.stderr or p.stdout)[-2000:]}
    res = json.loads(lines[-1][5:])
    res["process_wall_s"] = time.perf_counter() - t
    return res


_SPEC_KEYS = (
    "table",
    "width",
    "seeds",
    "steps",
    "repeats",
    "cpu_devices",
    "chunk_size",
    "workers",
    "memory_cap",
    "cache_dir",
    "depth",
    "batch_size",
)


def scaling(args, memory_cap: int, cache_dir=None) -> list[dict]:
    base = dict(
        steps=args.scaling_steps,
        repeats=args.repeats,
        cpu_devices=args.cpu_devices,
        chunk_size=args.chunk_size,
        workers=args.workers,
        memory_cap=memory_cap,
        cache_dir=cache_dir or args.cache_dir,
    )
    cells = []
    for width in args.widths:
        cells.append({**base, "table": "width", "width": width, "seeds": args.width_seeds})
    for seeds in args.seed_counts:
        cells.append({**base, "table": "seeds", "width": args.seeds_width, "seeds": seeds})
    for steps in args.step_counts:
        cells.append({**base, "table": "steps", "width": args.seeds_width, "seeds": args.width_seeds, "steps": steps})
    if args.memory_cell:
        s, wd = args.memory_cell
        cells.append({**base, "table": "memory", "width": wd, "seeds": s, "steps": args.memory_steps, "repeats": 1})
        if args.memory_demo_cap:
            cells.append(
                {
                    **base,
                    "table": "memory_vmap_chunked",
                    "width": wd,
                    "seeds": s,
                    "steps": args.memory_steps,
                    "repeats": 1,
                    "chunk_size": s,
                    "memory_cap": args.memory_demo_cap,
                }
            )
    out = []
    for c in cells:
        r = run_cell(c, args.cell_timeout)
        out.append(r)
        if "error" in r:
            _log(
                args,
                f"  cell {c['table']:6s} width {c['width']:5d} seeds {c['seeds']:3d} steps {c['steps']:4d}: "
                f"ERROR {r['error'].strip().splitlines()[-1] if r['error'].strip() else ''}",
            )
        else:
            _log(
                args,
                f"  cell {c['table']:6s} width {c['width']:5d} seeds {c['seeds']:3d} steps {c['steps']:4d}: "
                f"warm {r['warm_s']:7.2f} s compile {r['compile_s']:6.2f} s "
                f"{r['train_gflops_per_s']:7.1f} GFLOP/s ({100 * r['share_of_ceiling']:5.1f}% of ceiling) "
                f"peak {r['peak_memory_bytes'] / 2**20:7.0f} MiB",
            )
    return out


def check_cache_dir(args) -> Path:
    root = Path(args.cache_dir) if args.cache_dir else Path(tempfile.gettempdir()) / "jaxnn-xla"
    return root / "throughput-cold-warm-check"


def compile_cache(args, cold=None) -> dict:
    """Cold vs warm persistent compilation cache: the same cell twice, fresh processes, one cache directory
    (emptied before the cold one). ``cold``: a cell result that already ran cold against that directory."""
    cache = check_cache_dir(args)
    if cold is None:
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True, exist_ok=True)
        spec = dict(
            table="cache",
            width=args.seeds_width,
            seeds=args.cache_seeds,
            steps=args.scaling_steps,
            repeats=1,
            cpu_devices=args.cpu_devices,
            chunk_size=args.chunk_size,
            workers=args.workers,
            memory_cap=None,
            cache_dir=str(cache),
        )
        cold = run_cell(spec, args.cell_timeout)
    else:
        spec = {k: v for k, v in cold.items() if k in _SPEC_KEYS}
    warm = run_cell(spec, args.cell_timeout)
    n_files = sum(1 for _ in cache.rglob("*") if _.is_file())
    res = {"cache_dir": str(cache), "entries": n_files, "cold": cold, "warm": warm}
    if "error" not in cold and "error" not in warm:
        res["compile_s_cold"] = cold["compile_s"]
        res["compile_s_warm"] = warm["compile_s"]
        res["first_call_s_cold"] = cold["cold_s"]
        res["first_call_s_warm"] = warm["cold_s"]
        _log(
            args,
            f"  compile cache: first call {cold['cold_s']:.2f} s cold -> {warm['cold_s']:.2f} s warm "
            f"(compile {cold['compile_s']:.2f} s -> {warm['compile_s']:.2f} s, {n_files} cache files)",
        )
    return res


# ------------------------------------------------------------------------------------------------ report


def markdown(result: dict) -> str:
    env = result["environment"]
    v = env["versions"]
    lines = [
        f"Machine: {env['processor']} ({env['cpu_count']} cores, {env['memory_bytes'] / 2**30:.0f} GiB), "
        f"backend `{env['backend']}` ({env['device_kind']}, {env['device_count']} device(s)); "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + f"; medians of {result['args']['repeats']} repeats.",
        "",
    ]
    h = result.get("headline")
    if h:
        wl = h["workload"]
        lines += [
            f"Headline: {len(wl['schemes'])} schemes x {wl['seeds']} seeds x {wl['steps']} steps "
            f"= {wl['training_steps']:,} training steps, MLP 64-{'-'.join(map(str, wl['hidden']))}-10, "
            f"batch {wl['batch_size']}, compilation included.",
            "",
            "| way to run the same training steps | wall time (median) | steps/s | share of the matmul-only ceiling |",
            "|---|---|---|---|",
        ]
        for k, r in sorted(h["methods"].items(), key=lambda kv: kv[1]["median_s"]):
            share = "" if r["share_of_ceiling"] is None else f"{100 * r['share_of_ceiling']:.0f}%"
            lines.append(f"| {_LABELS.get(k, k)} | {r['median_s']:.2f} s | {r['train_steps_per_s']:,.0f} | {share} |")
        t = h.get("targets") or {}
        if t:
            lines += [
                "",
                f"Targets ({_LABELS.get(t['method'], t['method'])}): "
                f"{_fmt(t['faster_than_loop_idiom'])}x faster than the per-step loop (need >= 1.5), "
                f"{_fmt(t['faster_than_torch_eager'])}x faster than torch eager (need >= 3), "
                f"{_fmt(t['time_over_ceiling'])}x the matmul-only ceiling's time (need <= 1.4; "
                f"{_fmt(t['time_over_ceiling_parallel'])}x the ceiling run on every core). "
                f"Met: {'yes' if t['met'] else 'no'}.",
            ]
    sc = result.get("scaling")
    if sc:
        lines += [
            "",
            "| table | width | seeds | steps | runs | warm time | compile | steps/s | GFLOP/s (train) "
            "| share of ceiling | peak memory | cap |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sc:
            if "error" in r:
                lines.append(f"| {r['table']} | {r['width']} | {r['seeds']} | {r['steps']} | | error | | | | | | |")
                continue
            chunk = "" if not r.get("chunk_size_used") else f"; chunks of {r['chunk_size_used']} runs"
            if r.get("program_bytes_in_flight"):
                chunk += f", programs {r['program_bytes_in_flight'] / 2**30:.2f} GiB"
            cap = (
                ""
                if not r.get("memory_cap_bytes")
                else (f"{r['memory_cap_bytes'] / 2**30:.1f} GiB ({'under' if r['under_cap'] else 'OVER'}{chunk})")
            )
            lines.append(
                f"| {r['table']} | {r['width']} | {r['seeds']} | {r['steps']} | {r['runs']} | "
                f"{r['warm_s']:.2f} s | {r['compile_s']:.2f} s | {r['steps_per_s']:,.0f} | "
                f"{r['train_gflops_per_s']:.1f} | {100 * r['share_of_ceiling']:.0f}% | "
                f"{r['peak_memory_bytes'] / 2**20:,.0f} MiB | {cap} |"
            )
    cc = result.get("compile_cache")
    if cc and "compile_s_cold" in cc:
        lines += [
            "",
            f"Persistent compilation cache (same command twice): first call {cc['first_call_s_cold']:.2f} s "
            f"cold -> {cc['first_call_s_warm']:.2f} s warm; compile {cc['compile_s_cold']:.2f} s -> "
            f"{cc['compile_s_warm']:.2f} s.",
        ]
    return "\n".join(lines) + "\n"


_LABELS = {
    "ceiling": "only the forward+backward matmuls, one compiled scan (ceiling)",
    "ceiling_parallel": "the same matmul-only program on every core",
    "loop_idiom": "optax-tutorial idiom: jitted train_step, Python loop",
    "scan_sequential": "one compiled lax.scan program, runs one after another",
    "vmap_all": "one compiled program, all runs stacked and vmapped",
    "jit_vmap_per_scheme": "a jit(vmap(...)) closure per scheme",
    "torch_eager": "PyTorch eager loop (intra-op threads = cores)",
    "torch_eager_1thread": "PyTorch eager loop (1 thread)",
    "jaxnn_sweep": "**jaxnn sweep** (library default strategy, with its evaluations)",
    "jaxnn_sweep_with_init": "jaxnn sweep, library default, plus its per-scheme compiled initialization",
}


def _fmt(v):
    return "n/a" if v is None else f"{v:.2f}"


def _log(args, msg):
    if not args.quiet:
        print(msg, flush=True)


# ------------------------------------------------------------------------------------------------ main


def _ints(text):
    return tuple(int(v) for v in text.split(",") if v.strip())


WHOLE_OUT = ROOT / "benchmarks" / "results" / "whole_process.json"
WHOLE_SEEDS = (1, 4, 16)  # x 12 schemes = 12, 48, 192 runs
WHOLE_SCHEMES = 12
WHOLE_LABELS = {
    "jaxnn": "`jaxnn-bench` (compilation cache off)",
    "jaxnn_warm_cache": "`jaxnn-bench`, second run (warm persistent cache)",
    "loop_idiom": "plain JAX: jitted step, Python loop",
    "scan_sequential": "plain JAX: one jit-compiled `lax.scan` per run",
    "torch_eager": "PyTorch eager (faster of 1 and 2 threads)",
    "torch_eager_1thread": "PyTorch eager, 1 thread",
    "torch_eager_2thread": "PyTorch eager, 2 threads",
}


def fit_fixed_per_run(runs, seconds) -> tuple[float, float]:
    """``(fixed, per_run)`` seconds: the least-squares line ``seconds = fixed + per_run * runs``."""
    import numpy as np

    per_run, fixed = np.polyfit(np.asarray(runs, float), np.asarray(seconds, float), 1)
    return float(fixed), float(per_run)


def _whole_commands(args, seeds: int, out_dir: Path, warm_cache: Path) -> dict[str, list[str]]:
    peers = str(ROOT / "benchmarks" / "peers.py")
    bench = [sys.executable, "-m", "jaxnn.bench.cli", "--preset", "default", "--seeds", str(seeds), "--no-plots"]
    bench += ["--quiet", "--out"]
    cmds = {
        "jaxnn": bench + [str(out_dir / f"cold{seeds}"), "--compile-cache", "none"],
        "jaxnn_warm_cache": bench + [str(out_dir / f"warm{seeds}"), "--compile-cache", str(warm_cache)],
        "loop_idiom": [sys.executable, peers, "--method", "loop", "--seeds", str(seeds)],
        "scan_sequential": [sys.executable, peers, "--method", "scan", "--seeds", str(seeds)],
    }
    if args.torch_python:
        for t in (1, 2):
            cmds[f"torch_eager_{t}thread"] = [args.torch_python, peers, "--method", "torch", "--seeds", str(seeds)]
            cmds[f"torch_eager_{t}thread"] += ["--threads", str(t)]
    return cmds


def _timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def whole_process(args) -> dict:
    """The whole-process table (see the module docstring, section 4)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    seeds_list = tuple(args.whole_seeds)
    times: dict[str, dict[int, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="jaxnn-whole-") as tmp:
        tmp = Path(tmp)
        warm_cache = tmp / "xla-cache"
        for seeds in seeds_list:  # fill the warm cache (untimed): a user's second run of the same command
            _timed(_whole_commands(args, seeds, tmp / "fill", warm_cache)["jaxnn_warm_cache"], env)
        for rep in range(args.repeats):
            for i, seeds in enumerate(seeds_list):
                cmds = _whole_commands(args, seeds, tmp / f"rep{rep}", warm_cache)
                names = list(cmds)
                names = names[(rep + i) % len(names) :] + names[: (rep + i) % len(names)]  # rotate the order
                for name in names:
                    t = _timed(cmds[name], env)
                    times.setdefault(name, {}).setdefault(seeds, []).append(t)
                    _log(args, f"  whole process: {name:22s} {seeds * WHOLE_SCHEMES:4d} runs  {t:6.2f} s")
    rows = {}
    for name, by_seeds in times.items():
        med = {s * WHOLE_SCHEMES: statistics.median(v) for s, v in by_seeds.items()}
        fixed, per_run = fit_fixed_per_run(list(med), list(med.values())) if len(med) > 1 else (math.nan, math.nan)
        rows[name] = {"median_s": med, "all_s": by_seeds, "fixed_s": fixed, "per_run_s": per_run}
    torch = [n for n in rows if n.startswith("torch_eager")]
    if torch:  # the torch peer counts at its faster thread setting, size by size
        rows["torch_eager"] = {
            "median_s": {r: min(rows[n]["median_s"][r] for n in torch) for r in rows[torch[0]]["median_s"]},
            "of": torch,
        }
        med = rows["torch_eager"]["median_s"]
        if len(med) > 1:
            rows["torch_eager"]["fixed_s"], rows["torch_eager"]["per_run_s"] = fit_fixed_per_run(
                list(med), list(med.values())
            )
    base = rows["jaxnn"]["median_s"]
    for name, row in rows.items():
        row["label"] = WHOLE_LABELS[name]
        row["speedup_of_jaxnn"] = {r: row["median_s"][r] / base[r] for r in base}
    env = environment()
    if args.torch_python:
        version = [args.torch_python, "-c", "import torch; print(torch.__version__)"]
        env["versions"]["torch"] = subprocess.run(version, capture_output=True, text=True).stdout.strip()
    return {
        "environment": env,
        "repeats": args.repeats,
        "runs": [s * WHOLE_SCHEMES for s in seeds_list],
        "torch_python": args.torch_python,
        "methods": rows,
    }


def build_parser():
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="tiny configuration (for tests): seconds, not minutes")
    p.add_argument("--repeats", type=int, help="timed repeats per method / cell (median; default 3, --quick 1)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="results JSON (default benchmarks/results/throughput.json)")
    p.add_argument("--markdown", help="also write the Markdown tables to this file")
    p.add_argument("--schemes", type=int, default=6, help="headline schemes (default 6)")
    p.add_argument("--seeds", type=int, default=8, help="headline seeds (default 8)")
    p.add_argument("--steps", type=int, default=300, help="headline steps per run (default 300)")
    p.add_argument("--methods", type=lambda s: tuple(s.split(",")), help="only these headline methods")
    p.add_argument("--skip-slow-baselines", action="store_true", help="drop vmap_all and jit_vmap_per_scheme")
    p.add_argument("--no-torch", action="store_true", help="skip the torch peer even if torch imports")
    p.add_argument("--no-headline", action="store_true")
    p.add_argument("--no-scaling", action="store_true")
    p.add_argument("--no-cache-check", action="store_true")
    g = p.add_argument_group("execution strategy (default: the library's choice for the backend)")
    g.add_argument(
        "--cpu-devices",
        default="default",
        help="XLA:CPU devices, set before JAX starts: 'default' = JAX's own (1; the library then runs "
        "one worker thread per core), 'auto' = one per core, or a number. No effect on GPU/TPU",
    )
    g.add_argument("--chunk-size", type=int, help="runs per compiled-program call (Execution.chunk_size)")
    g.add_argument("--workers", type=int, help="concurrent program calls (Execution.workers)")
    g.add_argument(
        "--memory-cap-fraction",
        type=float,
        default=0.5,
        help="peak-memory cap as a fraction of the machine's (CPU) or device's memory (default 0.5)",
    )
    s = p.add_argument_group("scaling table")
    s.add_argument("--widths", type=_ints, default=(64, 128, 256, 512, 1024))
    s.add_argument("--width-seeds", type=int, default=8, help="seeds in the width and steps tables (default 8)")
    s.add_argument("--seed-counts", type=_ints, default=(1, 4, 16, 64))
    s.add_argument("--seeds-width", type=int, default=128, help="width in the seeds and steps tables")
    s.add_argument("--step-counts", type=_ints, default=(50, 100, 200))
    s.add_argument("--scaling-steps", type=int, default=100, help="steps per run in the width/seeds tables")
    s.add_argument("--memory-cell", type=_ints, default=(64, 1024), help="SEEDS,WIDTH of the memory cell")
    s.add_argument("--memory-steps", type=int, default=20, help="steps per run in the memory cell")
    s.add_argument(
        "--memory-demo-cap",
        type=float,
        default=0,
        help="also run the memory cell as one wide vmap chunk request under this cap in bytes "
        "(the sweep must cut it into smaller chunks); 0 = skip",
    )
    s.add_argument("--cache-seeds", type=int, default=4)
    s.add_argument(
        "--cache-dir",
        default=os.environ.get("JAXNN_XLA_CACHE", str(Path.home() / ".cache" / "jaxnn" / "xla")),
        help="JAX persistent compilation cache for the scaling cells (so a second run of the same command "
        "compiles nothing; 'none' disables; the cold/warm check uses a fresh subdirectory of it). "
        "Default $JAXNN_XLA_CACHE or ~/.cache/jaxnn/xla",
    )
    s.add_argument("--cell-timeout", type=float, default=1800)
    w = p.add_argument_group("whole process (section 4)")
    w.add_argument("--whole-process", action="store_true", help="run only the whole-process comparison")
    w.add_argument("--whole-seeds", type=_ints, default=WHOLE_SEEDS, help="seeds of the 12 schemes (default 1,4,16)")
    w.add_argument("--whole-out", default=str(WHOLE_OUT), help="its results JSON")
    w.add_argument(
        "--torch-python",
        default=sys.executable if torch_available() else None,
        help="the interpreter that runs the PyTorch peer (default: this one, if it imports torch; else skipped)",
    )
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--cell", help=argparse.SUPPRESS)
    return p


def apply_quick(args):
    args.schemes, args.seeds, args.steps = 2, 2, 20
    args.repeats = args.repeats or 1
    args.skip_slow_baselines = True
    args.methods = args.methods or ("ceiling", "ceiling_parallel", "loop_idiom", "scan_sequential", "jaxnn_sweep")
    args.widths, args.width_seeds, args.seed_counts, args.step_counts = (), 2, (2,), ()
    args.seeds_width, args.scaling_steps, args.memory_cell, args.memory_steps = 16, 10, (), 10
    args.cache_seeds, args.cell_timeout = 1, 300


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.cell:
        spec = json.loads(args.cell)
        print("CELL " + json.dumps(cell_main(spec)), flush=True)
        return 0
    if args.quick:
        apply_quick(args)
    args.repeats = 3 if args.repeats is None else args.repeats
    if args.repeats < 1:
        raise SystemExit("--repeats must be >= 1")
    if not 0 < args.memory_cap_fraction <= 1:
        raise SystemExit("--memory-cap-fraction must be in (0, 1]")
    if args.schemes > len(HEADLINE_SCHEMES):
        raise SystemExit(f"--schemes at most {len(HEADLINE_SCHEMES)}")
    if args.whole_process:
        result = whole_process(args)
        out = Path(args.whole_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=_json_default))
        _log(args, f"wrote {out}")
        return 0
    jax = _configure_jax(args.cpu_devices, None)
    dev = jax.devices()[0]
    dev_mem = (
        (dev.memory_stats() or {}).get("bytes_limit")
        if dev.platform != "cpu" and hasattr(dev, "memory_stats")
        else None
    )
    memory_cap = int(args.memory_cap_fraction * (dev_mem or _total_memory_bytes()))
    result = {
        "environment": environment(),
        "args": {k: v for k, v in vars(args).items() if k != "cell"},
        "memory_cap_bytes": memory_cap,
    }
    _log(
        args,
        f"{result['environment']['processor']} | {result['environment']['cpu_count']} cores | "
        f"backend {jax.default_backend()} ({dev.device_kind}) x{jax.device_count()} | "
        + " ".join(f"{k} {v}" for k, v in result["environment"]["versions"].items()),
    )
    if not args.no_headline:
        w = Workload(
            schemes=HEADLINE_SCHEMES[: args.schemes],
            seeds=args.seeds,
            steps=args.steps,
            hidden=(16, 16) if args.quick else (128, 128, 128),
        )
        _log(args, f"headline: {w.runs} runs x {w.steps} steps, {args.repeats} repeats")
        result["headline"] = headline(args, w)
    if args.cache_dir and args.cache_dir.lower() == "none":
        args.cache_dir = None
    cold = None
    if not args.no_scaling:
        _log(args, "scaling table (one process per cell)")
        cells_dir = None
        if args.quick and not args.no_cache_check:  # save a process: the first cell is the cache check's cold run
            cells_dir = check_cache_dir(args)
            shutil.rmtree(cells_dir, ignore_errors=True)
            cells_dir.mkdir(parents=True, exist_ok=True)
        result["scaling"] = scaling(args, memory_cap, None if cells_dir is None else str(cells_dir))
        if cells_dir is not None and "error" not in result["scaling"][0]:
            cold = result["scaling"][0]
    if not args.no_cache_check:
        _log(args, "persistent compilation cache: cold vs warm")
        result["compile_cache"] = compile_cache(args, cold)
    result["markdown"] = markdown(result)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=_json_default))
    if args.markdown:
        Path(args.markdown).write_text(result["markdown"])
    _log(args, "\n" + result["markdown"])
    _log(args, f"wrote {out}")
    return 0


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
