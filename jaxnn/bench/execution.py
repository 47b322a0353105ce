"""How a sweep's runs are executed: chunks of runs per compiled-program call, sharded over devices, called from
worker threads, bounded by a memory cap.

**What can change the numbers**: a run's result depends only on its inputs and on the compiled program that
trains it, and that program depends on the *runs per device per call* (one run is traced without ``vmap``, wider
calls with ``vmap``, so XLA orders float operations differently: ~1e-7 relative per step, amplified by training,
~1e-4 on eval losses after 300 steps and more for unstable schemes), the platform and device kind, the number of
devices of the mesh and the jax/jaxlib versions. ``chunk_size`` and ``devices`` decide the runs per device per
call; ``workers`` and ``memory_cap`` only when the memory cap halves the chunk. These effective settings are
:func:`numerics` and are recorded with every stored chunk: a resumed phase recomputes chunks computed with
other ones (with a warning), so a results directory never mixes them. Everything else (threads, the order of
calls, which chunk a run is in, padding) changes nothing.

**Execution strategy** (``chunk_size``): how many runs one call of the program trains side by side. On the
2-core CPUs we measured, wide ``vmap`` was *slower* than running runs one after another through the compiled
program, while on a GPU a wide ``vmap`` is much faster (``docs/performance.md``). The default is therefore per
backend: on CPU one run per device (``chunk_size = n_devices``) with ``workers`` = one thread per free core
calling the program concurrently, on GPU/TPU ``n_devices * min(256, next_pow2(runs per device))`` and one call
at a time. ``memory_cap`` (default: half of a device's memory) halves the chunk until XLA's memory analysis of
the compiled program, times the calls in flight, fits.

**Sharding**: each chunk's run axis is sharded over the devices with :mod:`jax.sharding`
(``Mesh(devices, ("runs",))``; training data replicated). Runs are independent, so sharding changes where a run
is computed, not its result. With several hosts call ``jax.distributed.initialize()`` first: ``jax.devices()``
then spans every host, inputs are assembled with ``jax.make_array_from_callback`` and outputs gathered with
``process_allgather``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import io
import math
import os
import time
from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxnn._util import positive_int
from jaxnn.bench.program import Program, _compile, program_bytes

__all__ = [
    "Execution",
    "default_chunk_size",
    "default_workers",
    "default_memory_cap",
    "compile_program",
    "numerics",
    "run_program",
]


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
    small-matmul program on about one core and releases the GIL, so threads on separate cores run calls side by
    side (measured in ``docs/performance.md``); on GPU/TPU, and with several hosts (every process must issue the same
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


def _to_global(x, sharding):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def _to_host(tree):
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        tree = multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))


def _share_done(done: dict) -> dict:
    """Process 0's finished runs (``{run: {name: array}}``), on every process. Only process 0 reads and writes
    the results directory; the others learn from it which runs to skip and their arrays, so every process
    issues the same program calls and returns the same results."""
    from jax.experimental import multihost_utils

    payload = b""
    if jax.process_index() == 0 and done:
        runs = np.array(sorted(done))
        arrays = {k: np.stack([done[int(r)][k] for r in runs]) for k in done[int(runs[0])]}
        buf = io.BytesIO()
        np.savez(buf, __runs__=runs, **arrays)
        payload = buf.getvalue()
    size = int(multihost_utils.broadcast_one_to_all(np.int32(len(payload))))
    if size == 0:
        return {}
    data = np.frombuffer(payload, np.uint8) if jax.process_index() == 0 else np.zeros(size, np.uint8)
    data = np.asarray(multihost_utils.broadcast_one_to_all(data))
    with np.load(io.BytesIO(data.tobytes())) as z:
        arrays = {k: z[k] for k in z.files}
    runs = arrays.pop("__runs__")
    return {int(r): {k: v[i] for k, v in arrays.items()} for i, r in enumerate(runs)}


def _placement(devices, train_data, eval_data):
    """The run-axis sharding over ``devices`` and the data replicated on them."""
    mesh = Mesh(np.array(devices), ("runs",))
    rep_sh = NamedSharding(mesh, P())
    train_g = tuple(_to_global(a, rep_sh) for a in train_data)
    eval_g = tuple(_to_global(a, rep_sh) for a in eval_data) if eval_data is not None else None
    return NamedSharding(mesh, P("runs")), train_g, eval_g


def compile_program(
    program: Program, params, chunk_size: int, train_data, eval_data, *, devices: Sequence | None = None
):
    """The compiled program :func:`run_program` calls for chunks of ``chunk_size`` runs (``params``: any pytree
    with a leading run axis; only shapes and dtypes are used). ``program_bytes(compile_program(...))`` is what
    ``memory_cap`` is checked against, per call."""
    devices = list(devices) if devices is not None else jax.devices()
    run_sh, train_g, eval_g = _placement(devices, train_data, eval_data)
    return _compile(program, params, chunk_size, run_sh, train_g, eval_g)


def _check_run_axis(params, n_runs: int, name: str) -> None:
    leaves = jax.tree_util.tree_leaves(params)
    if any(np.shape(leaf)[0] != n_runs for leaf in leaves):
        raise ValueError(f"{name} need a leading run axis of {n_runs}, got {[np.shape(l)[0] for l in leaves][:3]}")


def _fit_chunk(program, params, *, chunk_size, n_dev, run_sh, train_g, eval_g, memory_cap, workers=1, n_runs=1):
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


def numerics(devices: Sequence, chunk_size: int) -> dict:
    """The execution settings that can change a run's numbers: platform, device kind, number of devices, runs
    per device per program call, jax and jaxlib versions (see the module docstring)."""
    import jaxlib

    devices = list(devices)
    return {
        "platform": devices[0].platform,
        "device_kind": getattr(devices[0], "device_kind", ""),
        "devices": len(devices),
        "runs_per_device_call": int(chunk_size) // len(devices),
        "jax": jax.__version__,
        "jaxlib": getattr(jaxlib, "__version__", "?"),
    }


@dataclasses.dataclass(frozen=True)
class Execution:
    """How a sweep's runs are executed; never what they compute (see the module docstring).

    Attributes (each ``None`` = the backend's default, resolved by :meth:`resolve`):
      chunk_size: runs per compiled-program call (:func:`default_chunk_size`), rounded up to a multiple of the
        device count.
      devices: the devices whose mesh the run axis is sharded over (default ``jax.devices()``).
      workers: concurrent program calls from a thread pool (:func:`default_workers`).
      memory_cap: bytes one device's share of the calls in flight may use (:func:`default_memory_cap`).
    """

    chunk_size: int | None = None
    devices: Sequence | None = None
    workers: int | None = None
    memory_cap: int | None = None

    def __post_init__(self):
        if self.chunk_size is not None:
            positive_int(self.chunk_size, "chunk_size")
        if self.workers is not None:
            positive_int(self.workers, "workers")
        if self.devices is not None:
            object.__setattr__(self, "devices", tuple(self.devices))
            if not self.devices:
                raise ValueError("devices must name at least one device, got an empty sequence")
        cap = self.memory_cap
        if cap is not None and (
            isinstance(cap, bool)
            or not isinstance(cap, (int, float, np.integer, np.floating))
            or not math.isfinite(cap)
            or cap < 1
        ):
            raise ValueError(f"memory_cap must be a positive number of bytes per device or None, got {cap!r}")

    def resolve(self, n_runs: int) -> tuple[list, int, int, int]:
        """``(devices, chunk_size, workers, memory_cap)`` with every default filled in for ``n_runs`` runs."""
        devices = list(self.devices) if self.devices is not None else jax.devices()
        n_dev = len(devices)
        chunk = self.chunk_size if self.chunk_size is not None else default_chunk_size(n_runs, devices)
        chunk = n_dev * math.ceil(int(chunk) / n_dev)
        workers = int(self.workers) if self.workers is not None else default_workers(devices)
        cap = int(self.memory_cap) if self.memory_cap is not None else default_memory_cap(devices)
        return devices, chunk, workers, cap


def run_program(
    program: Program,
    params,
    data_keys,
    lrs,
    train_data,
    eval_data,
    *,
    execution: Execution | None = None,
    store=None,
    phase: str = "main",
    progress=None,
    on_chunk: Callable | None = None,
    param_shapes=None,
) -> dict[str, np.ndarray]:
    """Train ``R`` runs (leading axis of ``params``, ``data_keys`` ``(R, 2)`` uint32 and ``lrs`` ``(R,)``).

    ``params`` may also be a zero-argument callable returning them, called only when some run is missing; with
    ``param_shapes`` (their ``jax.ShapeDtypeStruct`` pytree) the program compiles on a second thread while
    ``params()`` runs (XLA compiles without holding the GIL).

    ``execution`` (an :class:`Execution`; default: every setting the backend's default) decides how. The runs
    are processed in chunks of ``chunk_size`` (rounded up to a multiple of the device count; the last
    chunk padded with copies of its first run, whose results are dropped). Each chunk is one call of the
    compiled program with its run axis sharded over ``devices`` (default: all devices). ``workers`` calls run
    concurrently from a thread pool (default :func:`default_workers`: on CPU one per core not already driven by a
    device, else 1); results are recorded, saved and reported in run order on the calling thread, so
    ``workers`` changes no result; the runs per device per call (``chunk_size / len(devices)``) can (see the
    module docstring), and are recorded with each stored chunk (:func:`numerics`).

    ``memory_cap`` (bytes per device; default :func:`default_memory_cap`, half of the device's memory) bounds
    the chunk: the program is compiled ahead of time for the chunk size and, while XLA's memory analysis of one
    call (:func:`program_bytes`) times the calls in flight (``workers``) exceeds the cap, the runs per device
    are halved (the compilation is the one the first call would do anyway). One run per device over the cap is
    a ``ValueError``. The cap bounds the compiled programs' buffers; host-side copies of the parameters and
    results, and the runtime itself, come on top (on CPU both live in the same RAM).

    ``store`` (a :class:`jaxnn.bench.results.ChunkStore`) makes it resumable: finished runs of ``phase`` are loaded
    instead of recomputed (chunks computed with other :func:`numerics` are rejected and recomputed), and each
    finished chunk is saved atomically before the next starts. ``progress`` is a tqdm-like object
    (``update(n)``, ``set_postfix_str``) advanced by runs; ``on_chunk(phase, run_index)`` is called after each
    chunk is saved (a hook for tests and logging).

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
    execution = Execution() if execution is None else execution
    if not isinstance(execution, Execution):
        raise TypeError(f"execution must be a jaxnn.bench.execution.Execution or None, got {execution!r}")
    devices, chunk_size, workers, memory_cap = execution.resolve(n_runs)
    n_dev = len(devices)

    # What decides the numbers (numerics) is known for sure only after the memory-cap fit, which needs the
    # parameters' shapes; chunks saved under the same request (which fixes the fit) are accepted without it.
    request = {**numerics(devices, chunk_size), "chunk_size": chunk_size, "workers": workers, "memory_cap": memory_cap}
    chunks = store.chunks(phase) if store is not None else []
    chunks = [c for c in chunks if c[1].max() < n_runs and c[1].min() >= 0]

    def merge(accept):
        out = {}
        for _, idx, arrays, ex in chunks:
            if accept(ex):
                for i, r in enumerate(idx):
                    out[int(r)] = {k: v[i] for k, v in arrays.items()}
        return out

    done = merge(lambda ex: ex.get("request") == request)
    if len(done) < n_runs:
        run_sh, train_g, eval_g = _placement(devices, train_data, eval_data)
        fit = functools.partial(
            _fit_chunk,
            program,
            chunk_size=chunk_size,
            n_dev=n_dev,
            run_sh=run_sh,
            train_g=train_g,
            eval_g=eval_g,
            memory_cap=memory_cap,
            workers=workers,
            n_runs=n_runs,  # all the phase's runs, not the missing ones: a resume fits the same chunk
        )
        overlap = callable(params) and param_shapes is not None  # compile while the parameters are drawn
        if overlap:
            _check_run_axis(param_shapes, n_runs, "param_shapes")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            fitting = pool.submit(fit, param_shapes) if overlap else None
            if callable(params):  # built lazily: a fully resumed phase never builds its initial parameters
                params = params()
            _check_run_axis(params, n_runs, "params")
            host_params = jax.tree_util.tree_map(np.asarray, params)
            if fitting is None:
                chunk_size, compiled = fit(host_params)
            else:
                chunk_size, compiled = fitting.result()
                want = jax.tree_util.tree_map(lambda a: (a.shape, np.dtype(a.dtype)), param_shapes)
                if want != jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), host_params):
                    raise ValueError("param_shapes differ from the shapes and dtypes of the parameters params() built")
        current = numerics(devices, chunk_size)
        for path, _, _, ex in chunks:
            if ex.get("numerics") != current and jax.process_index() == 0:
                was = ex.get("numerics") or {}
                diff = ", ".join(f"{k} {was.get(k)!r} (now {v!r})" for k, v in current.items() if was.get(k) != v)
                store.reject(path, f"was computed with other execution settings that can change numbers: {diff}")
        done = merge(lambda ex: ex.get("numerics") == current)
    if jax.process_count() > 1:  # every process must issue the same program calls: agree on what is done
        done = _share_done(done)
    tag = {"numerics": numerics(devices, chunk_size), "request": request}
    if progress is not None and done:
        progress.update(len(done))
    remaining = [r for r in range(n_runs) if r not in done]
    if remaining:
        t_first, n_first = None, 0  # rate measured after the first chunk
        n_new = 0

        def call(idx):  # any thread: one call of the compiled program (XLA releases the GIL while it runs)
            padded = np.concatenate([idx, np.full(chunk_size - idx.size, idx[0])])
            p = jax.tree_util.tree_map(lambda a: _to_global(a[padded], run_sh), host_params)
            out = compiled(p, _to_global(data_keys[padded], run_sh), _to_global(lrs[padded], run_sh), train_g, eval_g)
            return idx, {k: v[: idx.size] for k, v in _to_host(out).items()}

        def record(idx, out):  # main thread only, in run order: store, results, progress, hook
            nonlocal t_first, n_first, n_new
            if store is not None and jax.process_index() == 0:
                store.save(phase, idx, out, execution=tag)
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
