"""Signal propagation at initialization: a depth sweep, and does the step-0 diagnostic predict convergence?

Part 1 -- depth sweep. For every scheme x activation (relu, tanh, gelu, selu) x width x depth (2 ... 64
weight layers), build the MLP ``64 - width x (depth-1) - 10`` on the sklearn digits, run
:func:`jaxnn.diagnostics.signal_propagation` on a batch of 256 training images, and record the forward and
backward log10 scale ratios, the Jacobian spectrum, dead / saturated units and the one-line verdict.
Writes ``depth_sweep.csv``, ``depth_sweep.md`` (the deepest nets), ``depth_sweep.png`` (forward and backward
scale vs depth, one panel per activation) and ``layers_<activation>.png`` (per-layer scales and Jacobian
histogram of every scheme at the deepest setting).

Part 2 -- prediction (``--convergence DIR ...`` and/or ``--run-convergence PRESET ...``). For each
convergence-benchmark results directory (``config.json`` + ``summary.csv`` written by ``jaxnn.bench.cli``), rebuild
the preset's model and schemes (:func:`jaxnn.bench.experiment.build`), compute the diagnostic of every scheme at step 0
(median over 3 init seeds) and compare it with the measured median steps-to-target (censored runs count as
``steps + eval_every``, as in the benchmark's own ranking): Spearman rank correlation across schemes between

    distortion = |forward_log10| + |backward_log10|   (decades lost or gained through the network;
                 +inf when a hidden layer's units are all identical or the forward signal is exactly zero)

and steps-to-target (and the AUC as a tie-breaking secondary). A positive correlation means "the more the
signal is distorted at step 0, the slower the scheme converges". ``--run-convergence`` runs the named presets
first (with ``--convergence-seeds`` seeds) into ``OUT/convergence/<preset>``.

    python benchmarks/signal_propagation.py --out results/signal_propagation [--quick]
        [--convergence results/default results/deep-relu] [--run-convergence default deep-relu]
        [--docs-figure docs/signal_propagation_deep_relu.png]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path

import jax
import numpy as np

from jaxnn import activations, datasets, diagnostics, initializers, models, schemes

ACTIVATIONS = ("relu", "tanh", "gelu", "selu")
SCHEMES = ("he_normal", "glorot_normal", "lecun_normal", "orthogonal", "normal(0.01)", "numerical_gain", "lsuv", "zero")


def make_params(name, key, sizes, activation, batch, apply_fn):
    """The MLP parameters of scheme ``name`` for ``sizes``."""
    if name == "lsuv":
        p = models.mlp_init(key, sizes, activation=activation)
        return _lsuv(key, p, apply_fn, batch)
    if name == "zero":
        return models.mlp_init(key, sizes, w_init=schemes.zero_initializer(), activation=activation)
    if name == "numerical_gain":  # variance preserving for this activation: std = g / sqrt(fan_in)
        g = activations.numerical_gain(activations.get(activation))
        return models.mlp_init(key, sizes, w_init=initializers.he_normal(gain=g), activation=activation)
    if name == "normal(0.01)":
        return models.mlp_init(key, sizes, w_init=initializers.normal(0.01), activation=activation)
    return models.mlp_init(key, sizes, w_init=initializers.get(name)(), activation=activation)


_lsuv = jax.jit(schemes.lsuv, static_argnames=("apply_fn",))


def depth_sweep(out: Path, *, depths, widths, acts, scheme_names, batch, key):
    rows, deepest = [], {}
    apply_fns = {a: diagnostics_apply(a) for a in acts}
    for act in acts:
        for width in widths:
            for depth in depths:
                sizes = [batch.shape[1]] + [width] * (depth - 1) + [10]
                for name in scheme_names:
                    t0 = time.perf_counter()
                    params = make_params(name, key, sizes, act, batch, apply_fns[act])
                    r = diagnostics.signal_propagation(params, apply_fns[act], batch, key, activation=act)
                    s = diagnostics.summary(r)
                    row = {
                        "activation": act,
                        "width": width,
                        "depth": depth,
                        "scheme": name,
                        **{
                            k: s[k]
                            for k in (
                                "forward_log10",
                                "backward_log10",
                                "jac_sigma_median",
                                "jac_sigma_max",
                                "jac_spread_log10",
                                "max_dead_fraction",
                                "max_saturated_fraction",
                                "first_identical_layer",
                            )
                        },
                        "verdict": diagnostics.verdict(r),
                        "seconds": round(time.perf_counter() - t0, 2),
                    }
                    rows.append(row)
                    if depth == max(depths) and width == max(widths):
                        deepest.setdefault(act, {})[name] = r
                    print(
                        f"{act:5s} w{width:<4d} L{depth:<3d} {name:15s} F {row['forward_log10']:+8.2f} "
                        f"B {row['backward_log10']:+8.2f}  {row['verdict'][:90]}",
                        flush=True,
                    )
    _write_csv(out / "depth_sweep.csv", rows)
    _depth_markdown(out / "depth_sweep.md", rows, max(depths), max(widths))
    _depth_plot(out / "depth_sweep.png", rows, acts, max(widths))
    for act, reports in deepest.items():
        diagnostics.plot(
            reports,
            str(out / f"layers_{act}.png"),
            title=f"{act}, depth {max(depths)}, width {max(widths)} (digits batch)",
        )
    return rows


def diagnostics_apply(activation):
    """``mlp_apply`` with the activation bound; value-equal across calls, so compiled programs are reused."""
    from jaxnn.bench.specs import Bound

    return Bound(models.mlp_apply, (("activation", activation),))


def _write_csv(path, rows):
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()})


def _fmt(v):
    if isinstance(v, float):
        return f"{v:+}" if math.isinf(v) else ("nan" if math.isnan(v) else f"{v:+.2f}")
    return str(v)


def _depth_markdown(path, rows, depth, width):
    lines = [
        f"# Signal propagation at depth {depth}, width {width} (digits, batch 256)",
        "",
        "F / B: log10 of the forward / backward second-moment ratio between the first and last hidden "
        "layers; Jacobian: singular values of the per-example input-output Jacobian.",
        "",
        "| activation | scheme | F | B | Jacobian sigma median | q90/q10 (decades) | max dead | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["depth"] == depth and r["width"] == width:
            lines.append(
                f"| {r['activation']} | {r['scheme']} | {_fmt(r['forward_log10'])} | "
                f"{_fmt(r['backward_log10'])} | {r['jac_sigma_median']:.3g} | "
                f"{_fmt(r['jac_spread_log10'])} | {r['max_dead_fraction']:.2f} | "
                f"{r['verdict'].split(' (')[0]} |"
            )
    Path(path).write_text("\n".join(lines) + "\n")


def _depth_plot(path, rows, acts, width):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(acts), figsize=(4.2 * len(acts), 7), squeeze=False)
    for j, act in enumerate(acts):
        for name in dict.fromkeys(r["scheme"] for r in rows):
            rs = [r for r in rows if r["activation"] == act and r["width"] == width and r["scheme"] == name]
            d = [r["depth"] for r in rs]
            for i, key in enumerate(("forward_log10", "backward_log10")):
                v = np.clip([r[key] for r in rs], -40, 40)
                axes[i, j].plot(d, v, marker=".", label=name)
        axes[0, j].set(title=f"{act}, width {width}", xscale="log", ylabel="forward log10 ratio")
        axes[1, j].set(xscale="log", xlabel="depth (weight layers)", ylabel="backward log10 ratio")
        for i in range(2):
            axes[i, j].axhline(0, color="k", lw=0.5)
            axes[i, j].grid(True, alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


# ------------------------------------------------------------------------------------------- part 2


def distortion(report) -> float:
    s = diagnostics.summary(report)
    L = s["num_layers"]
    if 0 <= s["first_identical_layer"] < L - 1 or np.any(report.pre_moment[:-1] == 0):
        return math.inf
    v = abs(s["forward_log10"]) + abs(s["backward_log10"])
    return v if math.isfinite(v) else math.inf


def _load_config(run_dir: Path):
    from jaxnn.bench import config as presets

    doc = json.loads((run_dir / "config.json").read_text())
    cfg = doc.get("config", doc)
    fields = {f for f in presets.Config.__dataclass_fields__}
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items() if k in fields}
    return presets.Config(**kw)


def _read_summary(run_dir: Path):
    with open(run_dir / "summary.csv") as fh:
        return list(csv.DictReader(fh))


def compare_with_convergence(run_dir: Path, *, seeds=3, batch_size=256):
    """Diagnostic distortion vs measured steps-to-target for every scheme of one results directory."""
    from scipy.stats import spearmanr

    from jaxnn.bench import experiment

    config = _load_config(run_dir)
    exp = experiment.build(config)
    x = exp.dataset.x_train[:batch_size]
    censored_at = config.steps + config.eval_every
    measured = {r["scheme"]: r for r in _read_summary(run_dir)}
    rows = []
    for s in exp.schemes:
        if s.name not in measured:
            continue
        dists, verdicts = [], []
        for seed in range(seeds):
            k = jax.random.PRNGKey(seed)
            params = exp.init_fn(k, w_init=s.w_init, b_init=s.b_init)
            if s.transform is not None:  # named whole-network schemes (lsuv, fixup, zero), as in sweep.initial_params
                params = s.transform(jax.random.fold_in(k, 1), params)
            r = diagnostics.signal_propagation(params, exp.apply_fn, x, k, jacobian="none")
            dists.append(distortion(r))
            verdicts.append(diagnostics.verdict(r))
        m = measured[s.name]
        t = float(m["steps_to_target"]) if m["steps_to_target"] not in ("", "nan") else math.nan
        rows.append(
            {
                "scheme": s.name,
                "distortion": float(np.median(dists)),
                "rank": int(m["rank"]),
                "steps_to_target": t if math.isfinite(t) else float(censored_at),
                "frac_reached": float(m.get("frac_reached") or math.nan),
                "auc": float(m.get("auc") or math.nan),
                "verdict": verdicts[0].split(" (")[0],
            }
        )
    d = np.array([r["distortion"] for r in rows])
    d_rank = np.where(np.isinf(d), np.nanmax(np.where(np.isinf(d), np.nan, d), initial=0) + 1e6, d)

    def rho(other):  # undefined (NaN) when either side is constant, e.g. every scheme censored
        other = np.asarray(other, float)
        if np.ptp(d_rank) == 0 or np.ptp(other) == 0 or not np.all(np.isfinite(other)):
            return math.nan
        return spearmanr(d_rank, other).statistic

    rho_t = rho([r["steps_to_target"] for r in rows])
    rho_auc = rho([r["auc"] for r in rows])
    rho_rank = rho([r["rank"] for r in rows])
    return {
        "preset": config.preset,
        "dir": str(run_dir),
        "n_schemes": len(rows),
        "spearman_steps": float(rho_t),
        "spearman_auc": float(rho_auc),
        "spearman_rank": float(rho_rank),
        "rows": rows,
    }


def run_convergence(preset, out_dir: Path, seeds: int):
    """Run the convergence benchmark preset (``python -m jaxnn.bench.cli``, in a subprocess) into ``out_dir``."""
    import subprocess
    import sys

    cmd = [
        sys.executable,
        "-m",
        "jaxnn.bench.cli",
        "--preset",
        preset,
        "--seeds",
        str(seeds),
        "--out",
        str(out_dir),
        "--quiet",
        "--no-plots",
        "--overwrite",
    ]
    subprocess.run(cmd, check=True)
    return out_dir


def _prediction_markdown(path, comparisons):
    lines = [
        "# Does the step-0 diagnostic predict convergence?",
        "",
        "distortion = |forward log10 ratio| + |backward log10 ratio| at initialization (median over 3 "
        "init seeds; inf = symmetric units or zero signal). Spearman rank correlation across schemes with "
        "the measured median steps-to-target (censored = budget + one eval) and with the AUC.",
        "",
        "| preset | schemes | Spearman(distortion, steps-to-target) | Spearman(distortion, benchmark rank) "
        "| Spearman(distortion, AUC) |",
        "|---|---|---|---|---|",
    ]
    for c in comparisons:
        r = [
            ("n/a (constant)" if math.isnan(c[k]) else f"{c[k]:+.2f}")
            for k in ("spearman_steps", "spearman_rank", "spearman_auc")
        ]
        lines.append(f"| {c['preset']} | {c['n_schemes']} | {r[0]} | {r[1]} | {r[2]} |")
    for c in comparisons:
        lines += [
            "",
            f"## {c['preset']} ({c['dir']})",
            "",
            "| scheme | distortion (decades) | benchmark rank | steps to target | reached | AUC | verdict at step 0 |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in sorted(c["rows"], key=lambda r: r["distortion"]):
            lines.append(
                f"| {r['scheme']} | {r['distortion']:.2f} | {r['rank']} | {r['steps_to_target']:.0f} | "
                f"{r['frac_reached']:.2f} | {r['auc']:.3g} | {r['verdict']} |"
            )
    Path(path).write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/signal_propagation")
    ap.add_argument("--quick", action="store_true", help="depths 2,8,32 and width 64 only")
    ap.add_argument("--depths", default="2,4,8,16,32,64")
    ap.add_argument("--widths", default="64,256")
    ap.add_argument("--activations", default=",".join(ACTIVATIONS))
    ap.add_argument("--schemes", default=",".join(SCHEMES))
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--convergence", nargs="*", default=[], help="results dirs of the convergence benchmark")
    ap.add_argument("--run-convergence", nargs="*", default=[], help="presets to run first (jaxnn.bench.cli)")
    ap.add_argument("--convergence-seeds", type=int, default=4)
    ap.add_argument(
        "--docs-figure", default=None, help="also write the deep-ReLU example figure (30 layers, width 64) to this path"
    )
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = datasets.load("digits", seed=0)
    batch = ds.x_train[:256]
    key = jax.random.PRNGKey(0)
    t0 = time.perf_counter()
    if args.docs_figure:
        docs_figure(args.docs_figure, batch, key)
    if not args.skip_sweep:
        depths = (2, 8, 32) if args.quick else tuple(int(d) for d in args.depths.split(","))
        widths = (64,) if args.quick else tuple(int(w) for w in args.widths.split(","))
        depth_sweep(
            out,
            depths=depths,
            widths=widths,
            acts=tuple(args.activations.split(",")),
            scheme_names=tuple(args.schemes.split(",")),
            batch=batch,
            key=key,
        )
    dirs = [Path(d) for d in args.convergence]
    for preset in args.run_convergence:
        print(f"running convergence preset {preset} ({args.convergence_seeds} seeds) ...", flush=True)
        dirs.append(run_convergence(preset, out / "convergence" / preset, args.convergence_seeds))
    comparisons = []
    for d in dirs:
        if not (d / "summary.csv").exists():
            print(f"skipping {d}: no summary.csv")
            continue
        c = compare_with_convergence(d)
        comparisons.append(c)
        print(
            f"{c['preset']}: Spearman(distortion, steps-to-target) = {c['spearman_steps']:+.2f} over "
            f"{c['n_schemes']} schemes; vs rank {c['spearman_rank']:+.2f}; vs AUC {c['spearman_auc']:+.2f}",
            flush=True,
        )
    if comparisons:
        _prediction_markdown(out / "prediction.md", comparisons)
        (out / "prediction.json").write_text(json.dumps(comparisons, indent=2, default=float) + "\n")
    print(f"done in {time.perf_counter() - t0:.0f} s; results in {out}")


def docs_figure(path, batch, key):
    """The README example: a 30-layer ReLU MLP of width 64 on digits under five schemes."""
    sizes = [64] + [64] * 29 + [10]
    apply_fn = diagnostics_apply("relu")
    reports = {}
    for name in ("he_normal", "glorot_normal", "normal(0.01)", "orthogonal", "lsuv"):
        params = make_params(name, key, sizes, "relu", batch, apply_fn)
        reports[name] = diagnostics.signal_propagation(params, apply_fn, batch, key)
        print(diagnostics.verdict(reports[name], name), flush=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    diagnostics.plot(reports, str(path), title="30-layer ReLU MLP, width 64, digits: step 0")
    return reports


if __name__ == "__main__":
    main()
