"""``jaxnn-bench``: which initialization converges fastest, with statistics, plots and resumable results.

Usage::

    jaxnn-bench --preset default --out results/default          # what `make bench` runs
    jaxnn-bench --list-presets
    jaxnn-bench --preset deep-relu --seeds 16 --lr 0.01,0.05     # overrides; several rates = per-scheme tuning
    jaxnn-bench --dataset digits --depth 3 --width 128 --activation tanh \\
                --schemes "he_normal, glorot_uniform, normal(0.01)" --steps 300 --target 0.3 --out results/mine
    python -m jaxnn.bench.cli ...  /  python benchmarks/init_convergence.py ...   (the same program)

Start the same command again after an interruption and it resumes from the finished chunks; a different
configuration in an existing results directory is refused unless ``--overwrite``. One run at a time holds a
results directory (a second is refused naming the first); everything is validated before anything is written;
every failure is one line on stderr and exit status 2. See
:mod:`jaxnn.bench.results` for the directory layout and :mod:`jaxnn.bench.sweep` / :mod:`jaxnn.bench.stats` for the
methods.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["build_parser", "config_from_args", "run", "main"]


def _floats(text):
    from jaxnn.bench.specs import split_specs

    try:
        return tuple(float(v) for v in split_specs(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from e


def _ints(text):
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from e


def _specs(text):
    from jaxnn.bench.specs import split_specs

    return tuple(split_specs(text))


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (usage is in --help)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(str(message).split())} (see --help)\n")


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if isinstance(e, ValueError) else f"{type(e).__name__}: {text}"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="jaxnn-bench",
        description="Initialization convergence benchmark: K schemes x S seeds trained by one compiled JAX program; "
        "medians with bootstrap CIs, censored steps-to-target, paired Wilcoxon tests, plots.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Spec lists are comma-separated; parentheses protect commas: "
        '--schemes "he_normal, uniform(-0.05, 0.05), glorot_uniform/normal(0.01)" (WEIGHT/BIAS).\n\n'
        "What can change the numbers besides the configuration: the runs per device per program call "
        "(--chunk-size / --devices; one run per call is traced without vmap, wider calls with vmap: ~1e-4 on "
        "eval losses after 300 steps, more for unstable schemes), the platform, device kind and jax version; "
        "--workers and --memory-cap only when the cap halves the chunk. These are recorded with every stored "
        "chunk, and a resume with other ones recomputes those chunks (with a warning).",
    )
    p.add_argument("--preset", default="default", help="starting configuration (see --list-presets)")
    p.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    g = p.add_argument_group("what to train (override the preset)")
    g.add_argument("--dataset", help="digits, breast_cancer, diabetes, synthetic_regression or hmm (model transformer)")
    g.add_argument("--dataset-seed", type=int, help="seed of the train/test split")
    g.add_argument(
        "--model",
        choices=("mlp", "conv", "resmlp", "transformer"),
        help="resmlp: residual MLP, --depth blocks h + f(h) of --width units (2-layer branches); "
        "transformer: decoder-only, on --dataset hmm (--d-model, --heads, --layers)",
    )
    g.add_argument("--d-model", dest="d_model", type=_ints, help="transformer width(s), e.g. 32,64,128")
    g.add_argument("--heads", dest="num_heads", type=int, help="transformer attention heads")
    g.add_argument("--layers", dest="num_layers", type=int, help="transformer blocks")
    g.add_argument(
        "--warmup",
        type=_floats,
        help="linear learning-rate warmup over this fraction of the steps (0: none); several, e.g. 0,0.1: "
        "every scheme at each",
    )
    g.add_argument(
        "--lr-mode",
        dest="lr_mode",
        choices=("tune", "each"),
        help="with several --lr: tune (each scheme at its rate tuned on a validation split) or each "
        "(every rate its own compared entry: loss against learning rate)",
    )
    g.add_argument("--depth", type=int, help="number of hidden layers (resmlp: residual blocks) (with --width)")
    g.add_argument("--width", type=int, help="hidden width (with --depth; default: the preset's first width)")
    g.add_argument("--hidden", type=_ints, help="hidden widths, e.g. 128,128,128 (mlp) or dense widths after convs")
    g.add_argument("--channels", type=_ints, help="conv channels, e.g. 16,32")
    g.add_argument("--activation", help="relu, tanh, gelu, ... (jaxnn.activations)")
    g.add_argument(
        "--loss", type=_specs, help="loss spec(s); several with --compare losses, e.g. 'mse, huber(delta=1.0)'"
    )
    g.add_argument("--compare", choices=("schemes", "losses"), help="the compared axis")
    g.add_argument(
        "--schemes",
        type=_specs,
        help="initialization schemes: WEIGHT or WEIGHT/BIAS initializer specs, "
        "or named schemes lsuv, fixup (resmlp), zero (ZerO); transformer: NORM/INIT, e.g. post/xavier_uniform, "
        "pre/gpt2, deepnorm/deepnorm, none/t_fixup, pre/mup",
    )
    g.add_argument("--optimizer", help="optax optimizer spec without the learning rate, e.g. 'sgd(momentum=0.9)', adam")
    g.add_argument(
        "--lr",
        "--learning-rates",
        dest="learning_rates",
        type=_floats,
        help="learning rate, or a grid (e.g. 0.003,0.01,0.03): each scheme reported at its best rate, "
        "chosen on a validation split with separate tuning seeds",
    )
    g.add_argument("--seeds", type=int, help="seeds per scheme (paired across schemes)")
    g.add_argument("--tune-seeds", type=int, help="seeds per (scheme, rate) for learning-rate tuning")
    g.add_argument("--steps", type=int, help="training steps per run")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--eval-every", type=int, help="evaluation interval in steps")
    g.add_argument("--target", type=float, help="convergence target (loss at or below / metric at or above)")
    g.add_argument("--target-on", choices=("eval_loss", "train_loss", "eval_metric"))
    g.add_argument(
        "--train-loss",
        choices=("batch", "full"),
        help="train_loss curve: running mean of the minibatch losses (default, free) or the exact loss "
        "on the whole training set (one extra forward pass over it per evaluation)",
    )
    g.add_argument("--seed", type=int, help="base seed of the init and data-order key streams")
    o = p.add_argument_group("where and how")
    o.add_argument("--out", type=Path, help="results directory (default: results/<preset>)")
    o.add_argument(
        "--overwrite",
        action="store_true",
        help="replace results of a different config in --out (the old ones are deleted only once the new run "
        "has saved its first chunk)",
    )
    o.add_argument(
        "--chunk-size",
        type=int,
        help="runs per compiled-program call (default: per backend; 1 per device on CPU, wide on GPU); "
        "the runs per device per call can change results in the last digits (see below)",
    )
    o.add_argument(
        "--workers",
        type=int,
        help="concurrent compiled-program calls (default: one per free core on "
        "CPU, 1 on GPU/TPU); changes results only through --memory-cap halving the chunk",
    )
    o.add_argument(
        "--memory-cap",
        type=float,
        metavar="GIB",
        help="GiB one device's share of a program call may use; bigger chunks are halved until XLA's "
        "memory analysis fits (default: half the device's memory); changes results only when it halves the chunk",
    )
    o.add_argument(
        "--devices", type=int, help="use the first N devices (default: all); changes the runs per device per call"
    )
    o.add_argument(
        "--compile-cache",
        default=os.environ.get("JAXNN_COMPILE_CACHE", str(DEFAULT_COMPILE_CACHE)),
        help="JAX persistent compilation cache directory, so a repeated run loads the compiled programs "
        "instead of compiling them ($JAXNN_COMPILE_CACHE; default %(default)s; 'none' disables)",
    )
    o.add_argument(
        "--distributed",
        action="store_true",
        help="run as one process of a multi-process JAX job (jax.distributed.initialize): the runs are sharded over "
        "every process's devices and only process 0 writes --out. Without --coordinator/--num-processes/--process-id, "
        "the cluster is detected from the environment (SLURM, Open MPI, Cloud TPU, ...)",
    )
    o.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0's coordinator (with --distributed)")
    o.add_argument("--num-processes", type=int, help="number of processes in the job (with --distributed)")
    o.add_argument("--process-id", type=int, help="this process's index, 0 .. N-1 (with --distributed)")
    o.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    o.add_argument("--quiet", action="store_true", help="no progress bar and no table; print only the paths")
    return p


def config_from_args(args: argparse.Namespace):
    """The preset named by ``args.preset`` with every given override applied."""
    from jaxnn.bench.config import get_preset

    cfg = get_preset(args.preset)
    kw = {}
    for name in (
        "dataset",
        "dataset_seed",
        "model",
        "activation",
        "compare",
        "schemes",
        "optimizer",
        "learning_rates",
        "seeds",
        "tune_seeds",
        "steps",
        "batch_size",
        "eval_every",
        "target",
        "target_on",
        "train_loss",
        "seed",
        "channels",
        "d_model",
        "num_heads",
        "num_layers",
        "warmup",
        "lr_mode",
    ):
        v = getattr(args, name, None)
        if v is not None:
            kw[name] = v
    if args.loss is not None:
        kw["losses"] = args.loss
    if args.hidden is not None:
        if args.depth is not None or args.width is not None:
            raise ValueError("give either --hidden or --depth/--width, not both")
        kw["hidden"] = args.hidden
    elif args.depth is not None or args.width is not None:
        depth = args.depth if args.depth is not None else len(cfg.hidden)
        width = args.width if args.width is not None else (cfg.hidden[0] if cfg.hidden else 64)
        if depth < 0 or width < 1:
            raise ValueError(f"--depth must be >= 0 and --width >= 1, got {depth} and {width}")
        kw["hidden"] = (width,) * depth
    if kw.get("compare") == "losses" and "target_on" not in kw:
        kw["target_on"] = "eval_metric"
    kw = {k: v for k, v in kw.items() if getattr(cfg, k) != v}  # re-stating the preset's own value is no change
    if kw:
        kw["description"] = cfg.description + " (with overrides)"
    return cfg.replace(**kw)


def run(
    config,
    out,
    *,
    overwrite: bool = False,
    execution=None,
    quiet: bool = False,
    plots: bool = True,
    on_chunk=None,
    command: str | None = None,
):
    """Run (or resume) the benchmark ``config`` into the results directory ``out``.

    Returns ``(result, paths)``: the :class:`jaxnn.bench.sweep.SweepResult` and ``{name: Path}`` of what was written.
    """
    import jax

    from jaxnn.bench import experiment, results, sweep
    from jaxnn.bench.execution import Execution

    execution = Execution() if execution is None else execution
    exp = experiment.build(config)  # validates every name and spec before touching the directory
    out = results.check_out_path(out)  # creates nothing
    main_process = jax.process_index() == 0
    with contextlib.ExitStack() as stack:
        if main_process:
            stack.enter_context(results.lock_dir(out, command))
            results.prepare_dir(
                out,
                config.to_json(),
                overwrite=overwrite,
                extra={
                    "command": command,
                    "execution": {
                        "chunk_size": execution.chunk_size,
                        "workers": execution.workers,
                        "memory_cap": execution.memory_cap,
                        "devices": None if execution.devices is None else [str(d) for d in execution.devices],
                    },
                },
            )
        replaced = main_process and (out / results._REPLACED).is_dir()

        def landed(phase, idx):
            nonlocal replaced
            if replaced:  # the new run has started cleanly: the results it replaces can go
                results.discard_replaced(out)
                replaced = False
            if on_chunk is not None:
                on_chunk(phase, idx)

        # Only process 0 touches the directory; the others get the finished runs from it (execution._share_done).
        store = results.ChunkStore(out, results.config_fingerprint(config.to_json())) if main_process else None
        bar = None
        if not quiet:
            from tqdm.auto import tqdm

            bar = tqdm(total=exp.n_runs, unit="run", desc=config.preset, dynamic_ncols=True, file=sys.stderr)
        t0 = time.perf_counter()
        try:
            parts, names = [], []
            for prefix, entry_names, kwargs in exp.sweep_calls():
                parts.append(
                    sweep.sweep(
                        **kwargs,
                        execution=execution,
                        store=store,
                        progress=bar,
                        on_chunk=landed,
                        phase_prefix=prefix,
                    )
                )
                names += entry_names
        except BaseException:
            if replaced:  # failed before its first chunk: put the old results back
                results.restore_replaced(out)
            raise
        finally:
            if bar is not None:
                bar.close()
        if replaced:
            results.discard_replaced(out)
        result = _finish(config, exp, parts, names, out, t0, plots, main_process)
    return result


def _finish(config, exp, parts, names, out, t0, plots, main_process):
    from jaxnn.bench import plot as _plot
    from jaxnn.bench import results, sweep

    result = parts[0] if len(parts) == 1 else sweep.merge(parts, names=names)
    elapsed = time.perf_counter() - t0
    paths = {}
    if main_process:
        compared = "loss" if config.compare == "losses" else "scheme"
        paths.update(
            results.write_outputs(
                out,
                result,
                metric_name=exp.metric_name,
                compared=compared,
                title=f"{config.preset}: {config.description}",
            )
        )
        if plots:
            paths.update(_plot.plot_all(result, out))
    result.settings["wall_seconds"] = elapsed
    return result, paths


DEFAULT_COMPILE_CACHE = Path.home() / ".cache" / "jaxnn" / "xla"


def enable_compile_cache(directory: str | os.PathLike | None) -> None:
    """Turn on JAX's persistent compilation cache in ``directory`` (``None`` or ``"none"``: leave it off).

    Every compiled program is stored (no minimum compile time); a second run of the same sweep then loads its
    training program and initializers from disk (``benchmarks/throughput.py`` measures cold vs warm).
    """
    if directory is None or str(directory).lower() == "none":
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from jaxnn.bench.config import PRESETS
    from jaxnn.bench.execution import Execution

    enable_compile_cache(args.compile_cache)

    if args.list_presets:
        for name, cfg in PRESETS.items():
            print(f"{name:16s} {cfg.description}")
        return 0
    cluster = {"coordinator_address": args.coordinator, "num_processes": args.num_processes}
    cluster["process_id"] = args.process_id
    if not args.distributed and any(v is not None for v in cluster.values()):
        print("jaxnn-bench: error: --coordinator/--num-processes/--process-id need --distributed", file=sys.stderr)
        return 2
    if args.distributed:
        import jax

        try:
            jax.distributed.initialize(**{k: v for k, v in cluster.items() if v is not None})
        except (RuntimeError, ValueError, TypeError) as e:
            print(f"jaxnn-bench: error: jax.distributed.initialize failed: {str(e).splitlines()[0]}", file=sys.stderr)
            return 2
    try:
        config = config_from_args(args)
        devices = None
        if args.devices is not None:
            import jax

            if not 1 <= args.devices <= len(jax.devices()):
                raise ValueError(f"--devices must be between 1 and {len(jax.devices())}, got {args.devices}")
            devices = jax.devices()[: args.devices]
        out = args.out if args.out is not None else Path("results") / config.preset
        command = " ".join(["jaxnn-bench", *(argv if argv is not None else sys.argv[1:])])
        if args.memory_cap is not None and not args.memory_cap > 0:
            raise ValueError(f"--memory-cap must be a positive number of GiB, got {args.memory_cap}")
        memory_cap = None if args.memory_cap is None else int(args.memory_cap * 2**30)
        execution = Execution(chunk_size=args.chunk_size, devices=devices, workers=args.workers, memory_cap=memory_cap)
        result, paths = run(
            config,
            out,
            overwrite=args.overwrite,
            execution=execution,
            quiet=args.quiet,
            plots=not args.no_plots,
            command=command,
        )
    except (ValueError, TypeError, OSError) as e:  # bad config, specs, paths, directory: one line, no traceback
        print(f"jaxnn-bench: error: {_one_line(e)}", file=sys.stderr)
        return 2
    if not args.quiet:
        print()
        print(Path(paths["md"]).read_text())
        print(f"finished in {result.settings['wall_seconds']:.1f} s")
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
