"""benchmarks/throughput.py runs end to end on a tiny configuration and writes its results file.

No timings are asserted (the machine is shared and noisy); the test checks the structure and sanity of what
the script writes: every method timed once per repeat, positive finite times and ratios, the scaling cells and
the cold/warm compilation-cache check present, and the Markdown table rendered.
"""

import json
import math
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "throughput.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("throughput")
    out = tmp / "throughput.json"
    md = tmp / "throughput.md"
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--quick",
        "--out",
        str(out),
        "--markdown",
        str(md),
        "--cache-dir",
        str(tmp / "xla-cache"),
        "--no-torch",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), md.read_text(), proc.stdout


def _pos(v):
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def test_environment_reported(quick_run):
    res, _, _ = quick_run
    env = res["environment"]
    for key in ("platform", "cpu_count", "backend", "device_kind", "versions"):
        assert key in env, key
    assert {"jax", "jaxlib", "optax", "numpy", "jaxnn"} <= set(env["versions"])
    assert env["cpu_count"] >= 1


def test_headline_methods_and_ratios(quick_run):
    res, _, _ = quick_run
    h = res["headline"]
    methods = h["methods"]
    for name in ("ceiling", "ceiling_parallel", "loop_idiom", "scan_sequential", "jaxnn_sweep"):
        assert name in methods, name
    assert "torch_eager" not in methods  # --no-torch
    n_rep = res["args"]["repeats"]
    for name, row in methods.items():
        assert len(row["times_s"]) == n_rep, name
        assert all(_pos(t) for t in row["times_s"]), name
        assert row["median_s"] == pytest.approx(sorted(row["times_s"])[len(row["times_s"]) // 2])
        assert _pos(row["train_steps_per_s"]) and _pos(row["share_of_ceiling"]), name
    assert methods["ceiling"]["share_of_ceiling"] == pytest.approx(1.0)
    wl = h["workload"]
    assert wl["training_steps"] == len(wl["schemes"]) * wl["seeds"] * wl["steps"]
    # the analytic FLOP count: jaxnn's evaluations come on top of the training FLOPs
    assert h["flops"]["jaxnn_total"] > h["flops"]["train"] > 0
    r = h["ratios"]["jaxnn_sweep"]
    assert _pos(r["loop_idiom_over_jaxnn_sweep"]) and _pos(r["ceiling_over_jaxnn_sweep"])
    t = h["targets"]
    assert t["method"].startswith("jaxnn") and isinstance(t["met"], bool)
    assert t["faster_than_torch_eager"] is None


def test_scaling_cells_and_memory(quick_run):
    res, _, _ = quick_run
    cells = res["scaling"]
    assert cells, "no scaling cells"
    for c in cells:
        assert "error" not in c, c.get("error")
        assert _pos(c["warm_s"]) and _pos(c["cold_s"]) and c["compile_s"] >= 0
        assert _pos(c["train_gflops_per_s"]) and _pos(c["share_of_ceiling"]) and _pos(c["steps_per_s"])
        assert c["peak_memory_bytes"] >= c["baseline_rss_bytes"] > 0 or c["memory_kind"] != "host_peak_rss"
        assert c["under_cap"] is True and c["memory_cap_bytes"] == res["memory_cap_bytes"]
        assert c["finite"] and c["runs"] == c["seeds"]
    assert "seeds" in {c["table"] for c in cells}


def test_compile_cache_cold_and_warm(quick_run):
    res, _, _ = quick_run
    cc = res["compile_cache"]
    assert "error" not in cc["cold"] and "error" not in cc["warm"], cc
    assert cc["entries"] > 0  # the cold process wrote the persistent cache
    assert cc["compile_s_cold"] >= 0 and cc["compile_s_warm"] >= 0


def test_markdown_table(quick_run):
    res, md, stdout = quick_run
    assert md == res["markdown"]
    assert "| way to run the same training steps |" in md and "jaxnn sweep" in md
    assert "| table | width | seeds |" in md
    assert "wrote" in stdout


def _throughput_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_throughput_for_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_fixed_and_per_run_cost_are_the_least_squares_line():
    fit = _throughput_module().fit_fixed_per_run
    fixed, per_run = fit([12, 48, 192], [2.5 + 0.08 * r for r in (12, 48, 192)])
    assert math.isclose(fixed, 2.5, abs_tol=1e-9) and math.isclose(per_run, 0.08, abs_tol=1e-12)
    # Noise symmetric about the line leaves it in place: residuals +d, -2d, +d at equally spaced sizes.
    fixed, per_run = fit([10, 20, 30], [1.0 + 0.1, 2.0 - 0.2, 3.0 + 0.1])
    assert math.isclose(fixed, 0.0, abs_tol=1e-9) and math.isclose(per_run, 0.1, abs_tol=1e-12)


def test_peers_run_the_default_presets_job():
    # peers.py stays standalone (it must not pay for importing jaxnn), so its copy of the job is checked here.
    import importlib.util

    from jaxnn.bench.config import PRESETS

    spec = importlib.util.spec_from_file_location("_peers_for_test", ROOT / "benchmarks" / "peers.py")
    peers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peers)
    c = PRESETS["default"]
    assert peers.SCHEMES == c.schemes and peers.SIZES[1:-1] == c.hidden and c.activation == "relu"
    assert (peers.STEPS, peers.BATCH, peers.EVAL_EVERY, (peers.LR,)) == (
        c.steps,
        c.batch_size,
        c.eval_every,
        c.learning_rates,
    )
    assert c.optimizer == f"sgd(momentum={peers.MOMENTUM})" and c.dataset == "digits"


def test_scan_peer_trains_the_default_job():
    peers = ROOT / "benchmarks" / "peers.py"
    out = subprocess.run(
        [sys.executable, str(peers), "--method", "scan", "--seeds", "1"], capture_output=True, text=True, check=True
    )
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["method"] == "scan" and line["runs"] == 12
    assert line["he_normal_final_eval_loss"] < 0.5  # the default preset's He runs reach its 0.3 target
    bad = subprocess.run(
        [sys.executable, str(peers), "--method", "scan", "--seeds", "0"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "--seeds must be >= 1, got 0" in bad.stderr
