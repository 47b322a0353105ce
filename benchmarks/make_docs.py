"""Rewrite the generated blocks of README.md and docs/*.md from the committed results files.

Every number in the docs that comes from a run lives between markers::

    <!-- generated:NAME -->
    ...
    <!-- /generated:NAME -->

and this script renders NAME from the files under ``benchmarks/results/`` (never from a fresh run), so the docs
cannot drift from the results they quote. Text outside the markers is left alone.

    python benchmarks/make_docs.py                      # rewrite README.md and docs/*.md in place
    python benchmarks/make_docs.py --check              # exit 1 if any file would change (CI, tests)
    python benchmarks/make_docs.py --collect results/deep-relu results/default
                                                        # copy a run's small files into benchmarks/results/presets/

``--collect DIR`` copies ``config.json``, ``summary.csv`` and ``summary.md`` of a ``jaxnn-bench`` results
directory into ``benchmarks/results/presets/<preset>/``; run the script again afterwards to refresh the docs.
It reads only JSON and CSV; numbers are formatted by :mod:`jaxnn.bench.results`, as in the runs' own summaries.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import shutil
import sys
from pathlib import Path

from jaxnn.bench.results import format_ci, format_number, summary_table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PRESETS_DIR = RESULTS / "presets"
RUNS_DIR = RESULTS / "runs"  # runs of a preset with overrides: `run:NAME` blocks, not in the presets overview
DOC_FILES = ("README.md", "docs/benchmarks.md", "docs/performance.md", "docs/diagnostics.md")

# the order in which docs/benchmarks.md presents the presets
PRESET_ORDER = (
    "default",
    "deep-relu",
    "deep-tanh",
    "deep-residual",
    "loss-robustness",
    "loss-choice",
    "breast-cancer",
    "diabetes",
    "transformer-depth",
    "transformer-mup",
)
# the metric jaxnn.metrics.for_task picks for each bundled data set
METRIC_NAMES = {
    "digits": "accuracy",
    "breast_cancer": "binary_accuracy",
    "diabetes": "r2",
    "synthetic_regression": "r2",
    "synthetic_classification": "binary_accuracy",
    "hmm": "token accuracy",
}
COLLECTED = ("config.json", "summary.csv", "summary.md")
_BLOCK = re.compile(r"<!-- generated:(?P<name>[\w.:-]+) -->\n(?P<body>.*?)<!-- /generated:(?P=name) -->", re.S)


# ------------------------------------------------------------------------------------------------- formatting
# numbers and summary tables are formatted by jaxnn.bench.results, the code that writes the run's own summary.md


def _parse(value: str):
    if value == "":
        return None
    if value in ("True", "False"):
        return value == "True"
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def _seconds(s: float) -> str:
    return f"{s:.2f} s"


def _table(head, rows) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"] + [
        "| " + " | ".join(str(c) for c in row) + " |" for row in rows
    ]


# ------------------------------------------------------------------------------------------------- presets


class Preset:
    """The committed record of one ``jaxnn-bench --preset NAME`` run: its configuration and summary rows."""

    def __init__(self, name: str, root: Path = PRESETS_DIR):
        d = root / name
        doc = json.loads((d / "config.json").read_text())
        self.name = name
        self.config = doc["config"]
        self.environment = doc.get("environment", {})
        with open(d / "summary.csv", newline="") as fh:
            self.rows = [{k: _parse(v) for k, v in r.items()} for r in csv.DictReader(fh)]

    @property
    def compared(self) -> str:
        return "loss" if self.config["compare"] == "losses" else "scheme"

    @property
    def metric_name(self) -> str:
        return METRIC_NAMES.get(self.config["dataset"], "metric")

    @property
    def higher_is_better(self) -> bool:
        return self.config["target_on"] == "eval_metric"

    def target_text(self) -> str:
        c = self.config
        cmp = "≥" if self.higher_is_better else "≤"
        name = self.metric_name if self.higher_is_better else c["target_on"].replace("_", " ")
        return f"{name} {cmp} {c['target']:g}"

    def table(self) -> list[str]:
        return summary_table(
            self.rows, target_on=self.config["target_on"], metric_name=self.metric_name, compared=self.compared
        )

    def settings_line(self) -> str:
        c, env = self.config, self.environment
        lrs = ", ".join(format_number(v) for v in c["learning_rates"])
        machine = (
            f"{env.get('jax_backend', '?')}, {env.get('cpu_count', '?')} cores, jax {env.get('jax', '?')}"
            if env
            else "not recorded"
        )
        return (
            f"Target: {self.target_text()} within {c['steps']} steps (evaluated every {c['eval_every']}); "
            f"{c['seeds']} seeds per {self.compared}; optimizer `{c['optimizer']}`, lr {lrs}, batch "
            f"{c['batch_size']}. Recorded on: {machine}."
        )

    def verdict(self) -> str:
        rows = self.rows
        best = rows[0]
        what = self.compared
        if best["n_reached"] == 0:
            return (
                f"**Verdict:** no {what} reached the target ({self.target_text()}); the ranking falls back to the "
                f"AUC, led by `{best['scheme']}`."
            )
        parts = [
            f"**Verdict:** fastest `{best['scheme']}`, median {format_number(best['steps_to_target_reached'])} steps "
            f"({best['n_reached']}/{best['n_seeds']} seeds reached the target)."
        ]
        tied = [f"`{r['scheme']}`" for r in rows[1:] if not r["significant"]]
        parts.append(
            f"Not significantly slower (Holm p ≥ 0.05): {', '.join(tied)}."
            if tied
            else f"Every other {what} is significantly slower (Holm p < 0.05)."
        )
        never = [f"`{r['scheme']}`" for r in rows if r["n_reached"] == 0]
        if never:
            parts.append(f"Never reached it: {', '.join(never)}.")
        diverged = [f"`{r['scheme']}` ({r['n_diverged']}/{r['n_seeds']})" for r in rows if r["n_diverged"]]
        if diverged:
            parts.append(f"Diverged (non-finite loss): {', '.join(diverged)}.")
        return " ".join(parts)


def available_presets(root: Path = PRESETS_DIR) -> list[str]:
    have = {p.name for p in root.iterdir() if (p / "summary.csv").exists()} if root.exists() else set()
    return [p for p in PRESET_ORDER if p in have] + sorted(have - set(PRESET_ORDER))


def block_preset(name: str, root: Path = PRESETS_DIR) -> str:
    p = Preset(name, root)
    return "\n".join([*p.table(), "", p.settings_line(), "", p.verdict()])


def block_presets_overview() -> str:
    rows = []
    for name in available_presets():
        c = Preset(name).config
        compared = c["losses"] if c["compare"] == "losses" else c["schemes"]
        rows.append(
            [
                f"[`{name}`](#{name})",
                c["description"],
                f"{len(compared)} {'losses' if c['compare'] == 'losses' else 'schemes'} × {c['seeds']} seeds",
                Preset(name).target_text() + f" in {c['steps']} steps",
            ]
        )
    return "\n".join(_table(["preset", "what it runs", "compared", "target"], rows))


def block_headline() -> str:
    """The README's one table: the `default` preset, condensed."""
    p = Preset("default")
    rows = []
    for r in p.rows:
        sig = "best" if r["best"] else f"{format_number(r['p_holm'], 2)}{' *' if r['significant'] else ''}"
        rows.append(
            [
                r["rank"],
                f"`{r['scheme']}`",
                f"{r['n_reached']}/{r['n_seeds']}",
                format_ci(r, "steps_to_target_reached"),
                format_number(r["final_eval_metric"]),
                sig,
            ]
        )
    head = ["rank", "scheme", "reached", "steps to target [95% CI]", f"final {p.metric_name}", "p vs best (Holm)"]
    c = p.config
    lines = _table(head, rows)
    lines += [
        "",
        f"`make bench`: {c['description']}; target {p.target_text()} within {c['steps']} steps. "
        "`*`: significantly slower than the best (paired Wilcoxon, Holm-adjusted, 0.05). "
        "Every preset's full table: [docs/benchmarks.md](docs/benchmarks.md).",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- performance


def _throughput_machine(env: dict, repeats) -> str:
    v = env["versions"]
    return (
        f"Machine: {env['processor']} ({env['cpu_count']} cores, {env['memory_bytes'] / 2**30:.0f} GiB), "
        f"backend `{env['backend']}` ({env['device_kind']}, {env['device_count']} device(s)); "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + f"; medians of {repeats} repeats."
    )


def _throughput_labels() -> dict[str, str]:
    """The method labels of ``benchmarks/throughput.py`` (one table of names, kept there)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_throughput", Path(__file__).with_name("throughput.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module._LABELS


def block_throughput_headline() -> str:
    d = json.loads((RESULTS / "throughput_headline.json").read_text())
    h = d["headline"]
    wl = h["workload"]
    lines = [
        f"`{_command(d)}`",
        "",
        _throughput_machine(d["environment"], d["args"]["repeats"]),
        "",
        f"Workload: {len(wl['schemes'])} schemes × {wl['seeds']} seeds × {wl['steps']} steps = "
        f"{wl['training_steps']:,} training steps, MLP 64-{'-'.join(map(str, wl['hidden']))}-10 on {wl['dataset']}, "
        f"batch {wl['batch_size']}, compilation included.",
        "",
    ]
    rows, labels = [], _throughput_labels()
    for k, r in sorted(h["methods"].items(), key=lambda kv: kv[1]["median_s"]):
        share = "" if r["share_of_ceiling"] is None else f"{100 * r['share_of_ceiling']:.0f}%"
        rows.append([labels.get(k, k), _seconds(r["median_s"]), f"{r['train_steps_per_s']:,.0f}", share])
    lines += _table(["way to run the same training steps", "wall time (median)", "steps/s", "share of ceiling"], rows)
    t = h.get("targets") or {}
    if t:
        lines += [
            "",
            f"jaxnn sweep against the others, same process: {t['faster_than_loop_idiom']:.2f}x the speed of the "
            f"per-step loop, {t['faster_than_torch_eager']:.2f}x the speed of torch eager, "
            f"{t['time_over_ceiling']:.2f}x the time of the one-core matmul-only ceiling.",
        ]
    return "\n".join(lines)


def _command(d: dict) -> str:
    a = d["args"]
    flags = []
    if a.get("quick"):
        flags.append("--quick")
    flags.append(f"--repeats {a['repeats']}")
    for key in ("skip_slow_baselines", "no_torch", "no_headline", "no_scaling", "no_cache_check"):
        if a.get(key):
            flags.append("--" + key.replace("_", "-"))
    return "python benchmarks/throughput.py " + " ".join(flags)


def block_throughput_scaling() -> str:
    d = json.loads((RESULTS / "throughput.json").read_text())
    lines = [
        f"`{_command(d)}`",
        "",
        _throughput_machine(d["environment"], d["args"]["repeats"]),
        "",
    ]
    rows = []
    for r in d["scaling"]:
        if "error" in r:
            rows.append([r["table"], r["width"], r["seeds"], r["steps"], "", "error", "", "", "", "", "", ""])
            continue
        chunk = "" if not r.get("chunk_size_used") else f"; chunks of {r['chunk_size_used']} runs"
        if r.get("program_bytes_in_flight"):
            chunk += f", programs {r['program_bytes_in_flight'] / 2**30:.2f} GiB"
        cap = (
            ""
            if not r.get("memory_cap_bytes")
            else f"{r['memory_cap_bytes'] / 2**30:.1f} GiB ({'under' if r['under_cap'] else 'OVER'}{chunk})"
        )
        rows.append(
            [
                r["table"],
                r["width"],
                r["seeds"],
                r["steps"],
                r["runs"],
                _seconds(r["warm_s"]),
                _seconds(r["compile_s"]),
                f"{r['steps_per_s']:,.0f}",
                f"{r['train_gflops_per_s']:.1f}",
                f"{100 * r['share_of_ceiling']:.0f}%",
                f"{r['peak_memory_bytes'] / 2**20:,.0f} MiB",
                cap,
            ]
        )
    head = ["table", "width", "seeds", "steps", "runs", "warm time", "compile", "steps/s", "GFLOP/s (train)"]
    lines += _table(head + ["share of ceiling", "peak memory", "memory cap"], rows)
    cc = d.get("compile_cache") or {}
    if "compile_s_cold" in cc:
        lines += [
            "",
            f"Persistent compilation cache, the same cell in two fresh processes: first call "
            f"{_seconds(cc['first_call_s_cold'])} cold, {_seconds(cc['first_call_s_warm'])} warm (compile "
            f"{_seconds(cc['compile_s_cold'])} → {_seconds(cc['compile_s_warm'])}).",
        ]
    return "\n".join(lines)


def block_initializer_speed() -> str:
    d = json.loads((RESULTS / "initializers.json").read_text())
    m, v = d["machine"], d["versions"]
    o, t = d["orthogonal"], d["he_normal_tree"]
    oj, on = o["results"]["jax"], o["results"]["jaxnn"]
    tj, tn = t["results"]["jax"], t["results"]["jaxnn"]
    shape = "×".join(map(str, o["shape"]))
    layer = "×".join(map(str, t["layer_shape"]))
    rows = [
        [
            f"`orthogonal` {shape} float32, median of {len(oj['times_s'])}",
            _seconds(oj["median_s"]),
            _seconds(on["median_s"]),
            f"{o['speedup_jaxnn_vs_jax_median']:.1f}× faster",
        ],
        [
            f"`orthogonal` {shape}, first call (compilation included)",
            _seconds(oj["first_call_s"]),
            _seconds(on["first_call_s"]),
            f"{o['speedup_jaxnn_vs_jax_first_call']:.1f}× faster",
        ],
        [
            f"`he_normal` over a {t['n_params'] / 1e6:.1f}M-parameter pytree ({t['n_layers']} × {layer}), "
            f"median of {len(tj['times_s'])}",
            _seconds(tj["median_s"]),
            _seconds(tn["median_s"]),
            f"time ratio {t['ratio_jaxnn_over_jax_median']:.2f}",
        ],
    ]
    lines = [
        f"`python benchmarks/{d['command']}`",
        "",
        f"Machine: {m['cpu']} ({m['cpu_count']} cores), backend `{m['jax_backend']}`; "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + ".",
        "",
        *_table(["benchmark", "jax", "jaxnn", "jaxnn vs jax"], rows),
        "",
        f"Orthogonality, max|WᵀW − I|: jaxnn {on['max_abs_WtW_minus_I']:.1e}, jax {oj['max_abs_WtW_minus_I']:.1e}.",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- diagnostics


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return [{k: _parse(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def block_depth_sweep() -> str:
    rows = _csv_rows(RESULTS / "signal_propagation" / "depth_sweep.csv")
    depth = max(r["depth"] for r in rows)
    width = max(r["width"] for r in rows)
    sel = [r for r in rows if r["depth"] == depth and r["width"] == width]
    out = []
    for r in sel:
        out.append(
            [
                r["activation"],
                f"`{r['scheme']}`",
                _signed(r["forward_log10"]),
                _signed(r["backward_log10"]),
                format_number(r["jac_sigma_median"], 2),
                format_number(r["jac_spread_log10"], 2),
                str(r["verdict"]).split(" (")[0],
            ]
        )
    head = ["activation", "scheme", "forward log10", "backward log10", "Jacobian σ median", "q90/q10 (decades)"]
    head.append("verdict")
    return "\n".join([f"Depth {depth}, width {width}:", "", *_table(head, out)])


def block_verdicts(activation: str = "relu") -> str:
    rows = [r for r in _csv_rows(RESULTS / "signal_propagation" / "depth_sweep.csv") if r["activation"] == activation]
    depth = max(r["depth"] for r in rows)
    width = max(r["width"] for r in rows)
    sel = [r for r in rows if r["width"] == width and r["depth"] == depth]
    pad = max(len(r["scheme"]) for r in sel) + 1
    lines = [f"A {depth}-layer {activation} MLP of width {width} at initialization, `diagnostics.verdict` per scheme:"]
    lines += ["", "```", *(f"{r['scheme'] + ':':{pad}} {r['verdict']}" for r in sel), "```"]
    return "\n".join(lines)


def _signed(v) -> str:
    if v is None:
        return ""
    v = float(v)
    if math.isinf(v) or math.isnan(v):
        return format_number(v)
    return f"{v:+.2f}"


def block_mup_transfer() -> str:
    rows = _csv_rows(RESULTS / "mup_transfer" / "mup_transfer.csv")
    return "\n".join(_mup_table(rows))


def _mup_table(rows) -> list[str]:
    out = []
    widths = sorted({r["width"] for r in rows})
    for param in dict.fromkeys(r["param"] for r in rows):
        best = {}
        for w in widths:
            cand = [r for r in rows if r["param"] == param and r["width"] == w]
            best[w] = min(cand, key=lambda r: r["loss"])
        lo, hi = widths[0], widths[-1]
        shift = round(math.log2(best[hi]["lr"] / best[lo]["lr"]))
        out.append(
            [
                param,
                f"{best[lo]['lr']:.2e}",
                f"{best[hi]['lr']:.2e}",
                f"{shift:+d} grid steps" if shift else "0",
                f"{best[hi]['loss']:.3f}",
            ]
        )
    head = ["parameterization", f"best lr, width {lo}", f"best lr, width {hi}", "shift", f"train loss at best, {hi}"]
    return _table(head, out)


def block_hmm_reference() -> str:
    """The HMM language's reference levels on the test split, recomputed from the code and the committed
    ``dataset_seed`` of the transformer presets (the Bayes floor by the forward algorithm)."""
    from jaxnn.bench.experiment import hmm_dataset

    seeds = {Preset(n).config["dataset_seed"] for n in available_presets() if n.startswith("transformer")}
    if len(seeds) != 1:
        raise ValueError(
            f"the transformer presets use different HMM seeds {sorted(seeds)}; one sentence cannot cover them"
        )
    ds = hmm_dataset(seeds.pop())
    return (
        f"On the test split the Bayes floor (forward algorithm) is **{ds.optimal_loss:.2f} nats/token** and the "
        f"unigram entropy **{ds.unigram_entropy:.2f}**: a model stuck at {ds.unigram_entropy:.2f} has learned "
        "nothing beyond token frequencies."
    )


_MUP_ENTRY = re.compile(r"^(?P<norm>\w+)/(?P<init>\w+) d=(?P<width>\d+) lr=(?P<lr>[\d.e+-]+)$")


def block_transformer_mup_grid() -> str:
    """Median final test loss per (parametrization, width) and learning rate of the ``transformer-mup`` preset,
    the best rate of each row in bold: the learning-rate transfer view (Yang et al. 2022, Fig. 1)."""
    preset = Preset("transformer-mup")
    cells = {}
    for r in preset.rows:
        m = _MUP_ENTRY.match(r["scheme"])
        if m is None:
            raise ValueError(f"transformer-mup entry {r['scheme']!r} is not 'NORM/INIT d=WIDTH lr=RATE'")
        param = "muP" if m["init"].startswith("mup") else f"SP ({m['init']})"
        cells[(param, int(m["width"]), float(m["lr"]))] = r["final_eval_loss"]
    lrs = sorted({k[2] for k in cells})
    rows = []
    for param, width in sorted({k[:2] for k in cells}, key=lambda k: (k[0].startswith("muP"), k[1])):
        losses = [cells.get((param, width, lr), math.nan) for lr in lrs]
        best = min(range(len(lrs)), key=lambda i: losses[i] if math.isfinite(losses[i]) else math.inf)
        shown = [f"**{v:.3f}**" if i == best else f"{v:.3f}" for i, v in enumerate(losses)]
        rows.append([param, str(width), *shown, format_number(lrs[best])])
    return "\n".join(_table(["parametrization", "width", *(f"lr {format_number(v)}" for v in lrs), "best lr"], rows))


def block_whole_process() -> str:
    """The whole-process table of ``benchmarks/throughput.py --whole-process``."""
    d = json.loads((RESULTS / "whole_process.json").read_text())
    runs = d["runs"]
    head = ["whole process", *(f"{r} runs" for r in runs), "fixed cost", "per run", *(f"÷ jaxnn, {r}" for r in runs)]
    rows = []
    for name in ("jaxnn", "jaxnn_warm_cache", "loop_idiom", "scan_sequential", "torch_eager"):
        m = d["methods"].get(name)
        if m is None:
            continue
        med = {int(k): v for k, v in m["median_s"].items()}
        ratio = {int(k): v for k, v in m["speedup_of_jaxnn"].items()}
        rows.append(
            [
                m["label"],
                *(f"{med[r]:.1f} s" for r in runs),
                f"{m['fixed_s']:.1f} s",
                f"{1e3 * m['per_run_s']:.0f} ms",
                *("–" if name == "jaxnn" else f"{ratio[r]:.2f}x" for r in runs),
            ]
        )
    lines = _table(head, rows)
    lines += [
        "",
        "Each cell a fresh process, imports and compilation included, methods interleaved; fixed cost and per-run "
        "cost: the least-squares line through the medians; *÷ jaxnn*: the method's time over `jaxnn-bench`'s "
        f"(cache off) at that size. {_throughput_machine(d['environment'], d['repeats'])}",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- driver


def blocks() -> dict[str, callable]:
    """Every block name the docs may use, and how to render it."""
    out = {
        "headline": block_headline,
        "presets": block_presets_overview,
        "throughput-headline": block_throughput_headline,
        "throughput-scaling": block_throughput_scaling,
        "initializer-speed": block_initializer_speed,
        "depth-sweep": block_depth_sweep,
        "verdicts": block_verdicts,
        "mup-transfer": block_mup_transfer,
        "hmm-reference": block_hmm_reference,
        "transformer-mup-grid": block_transformer_mup_grid,
        "whole-process": block_whole_process,
    }
    for name in available_presets():
        out[f"preset:{name}"] = lambda name=name: block_preset(name)
    for name in available_presets(RUNS_DIR):  # committed runs of a preset with overrides (e.g. deeper)
        out[f"run:{name}"] = lambda name=name: block_preset(name, RUNS_DIR)
    return out


def render(text: str, known: dict | None = None) -> str:
    """``text`` with every generated block re-rendered; an unknown block name is an error."""
    known = blocks() if known is None else known

    def sub(m: re.Match) -> str:
        name = m["name"]
        if name not in known:
            raise KeyError(f"unknown generated block {name!r}; known: {', '.join(sorted(known))}")
        body = known[name]().rstrip("\n")
        return f"<!-- generated:{name} -->\n{body}\n<!-- /generated:{name} -->"

    return _BLOCK.sub(sub, text)


def render_all(root: Path = ROOT) -> dict[Path, tuple[str, str]]:
    """``{path: (current text, rendered text)}`` for every doc file that exists."""
    known = blocks()
    out = {}
    for rel in DOC_FILES:
        path = root / rel
        if path.exists():
            text = path.read_text()
            out[path] = (text, render(text, known))
    return out


def collect(run_dirs) -> list[Path]:
    """Copy the small files of ``jaxnn-bench`` results directories into ``benchmarks/results/presets/<preset>``."""
    written = []
    for d in map(Path, run_dirs):
        preset = json.loads((d / "config.json").read_text())["config"]["preset"]
        dest = PRESETS_DIR / preset
        dest.mkdir(parents=True, exist_ok=True)
        for name in COLLECTED:
            shutil.copyfile(d / name, dest / name)
            written.append(dest / name)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is out of date")
    ap.add_argument("--collect", nargs="+", metavar="RUN_DIR", help="copy runs' small files first")
    args = ap.parse_args(argv)
    if args.collect:
        for p in collect(args.collect):
            print(f"collected {p.relative_to(ROOT)}")
    stale = []
    for path, (old, new) in render_all().items():
        if old != new:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    verb = "out of date" if args.check else "rewritten"
    for path in stale:
        print(f"{verb}: {path.relative_to(ROOT)}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
