"""Tests for the jaxnn-bench command line: outputs, resume after an interruption, config guard, bad names."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from jaxnn.bench import cli, config, experiment, specs

ROOT = Path(__file__).resolve().parents[1]

# A tiny digits run: MLP 64-16-10, 2 schemes x 2 seeds, 30 steps (4 chunks of one run on CPU).
TINY = [
    "--preset",
    "default",
    "--hidden",
    "16",
    "--schemes",
    "he_normal, zeros",
    "--seeds",
    "2",
    "--steps",
    "30",
    "--eval-every",
    "10",
    "--batch-size",
    "32",
    "--target",
    "1.0",
    "--quiet",
    "--compile-cache",
    "none",
]


def _config(extra=()):
    return cli.config_from_args(cli.build_parser().parse_args([*TINY, *extra]))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    assert cli.main([*TINY, "--out", str(out)]) == 0
    return out


def test_outputs(uninterrupted):
    out = uninterrupted
    for name in (
        "config.json",
        "runs.npz",
        "summary.csv",
        "summary.md",
        "loss_curves.png",
        "steps_to_target.png",
        "grad_norm_step0.png",
    ):
        assert (out / name).is_file(), name
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["schemes"] == ["he_normal", "zeros"] and cfg["config"]["hidden"] == [16]
    assert cfg["environment"]["jax"] and cfg["environment"]["devices"]
    with np.load(out / "runs.npz") as z:
        assert z["run_eval_loss"].shape == (2, 2, 4)
        assert z["run_grad_norm0"].shape == (2, 2, 2)
        assert list(z["names"]) == ["he_normal", "zeros"]
    md = (out / "summary.md").read_text()
    assert "| 1 | `he_normal`" in md and "Wilcoxon" in md
    assert (out / "summary.csv").read_text().splitlines()[0].startswith("rank,scheme,")
    assert (out / "loss_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_interrupted_run_resumes_to_the_same_summary(tmp_path, uninterrupted):
    calls = []

    def boom(phase, idx):
        calls.append(idx.tolist())
        if len(calls) == 1:
            raise RuntimeError("injected failure after chunk 1")

    config = _config()
    with pytest.raises(RuntimeError, match="injected"):
        cli.run(config, tmp_path, quiet=True, plots=False, on_chunk=boom)
    assert len(list((tmp_path / "chunks").glob("*.npz"))) == 1
    assert not (tmp_path / "summary.csv").exists()
    # The same command again: continues with the 3 missing runs only.
    cli.run(config, tmp_path, quiet=True, plots=False, on_chunk=boom)
    assert [len(c) for c in calls[1:]] and sum(len(c) for c in calls[1:]) == 3
    for name in ("summary.csv", "summary.md"):
        assert (tmp_path / name).read_text() == (uninterrupted / name).read_text()
    # A third start finds everything done and recomputes nothing.
    n = len(calls)
    cli.run(config, tmp_path, quiet=True, plots=False, on_chunk=boom)
    assert len(calls) == n


def test_different_config_is_refused_unless_overwrite(uninterrupted, capsys):
    rc = cli.main([*TINY, "--seeds", "3", "--out", str(uninterrupted)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "different configuration" in err and "seeds" in err and "--overwrite" in err


def test_bad_names_list_the_valid_ones(tmp_path, capsys):
    cases = [
        (["--preset", "nope"], "valid presets: default, deep-relu"),
        ([*TINY, "--schemes", "he_normal, kaiming_nonsense"], "valid names"),
        ([*TINY, "--dataset", "mnist"], "valid datasets: breast_cancer, diabetes, digits, synthetic_regression"),
        ([*TINY, "--loss", "cross_entropy_typo"], "valid losses: bce"),
        ([*TINY, "--optimizer", "sgdd"], "valid optimizers: sgd"),
        ([*TINY, "--schemes", "he_normal, fixup"], "fixup supports models: resmlp"),
        ([*TINY, "--model", "resmlp", "--hidden", "16,8"], "model 'resmlp' needs hidden"),
    ]
    for argv, expected in cases:
        assert cli.main([*argv, "--out", str(tmp_path / "x")]) == 2, argv
        assert expected in capsys.readouterr().err, argv
    assert not (tmp_path / "x").exists()  # nothing written for a bad config


def test_presets_resolve():
    for name, cfg in config.PRESETS.items():
        exp = experiment.build(cfg)
        assert len(exp.schemes) == len(cfg.schemes) and len(exp.losses) == len(cfg.losses), name
    default = config.PRESETS["default"]
    assert default.seeds >= 16 and len(default.schemes) == 12 and default.hidden == (128, 128, 128)
    exp = experiment.build(default)
    torch = next(s for s in exp.schemes if s.name == "torch_linear_default")
    assert isinstance(torch.b_init, tuple) and len(torch.b_init) == 4  # per-layer bias bound 1/sqrt(fan_in)
    import jax

    b = torch.b_init[0](jax.random.PRNGKey(0), (10000,))
    assert float(abs(b).max()) <= 1 / 8 + 1e-6 and float(abs(b).max()) > 0.12  # fan_in 64: U(+-1/8)
    # MSE on a multiclass task is applied to one-hot targets.
    exp = experiment.build(config.PRESETS["loss-choice"])
    import jax.numpy as jnp

    mse = exp.losses["mse"]
    assert float(mse(jnp.eye(10)[:2] * 1.0, jnp.array([0, 1]))) == pytest.approx(0.0)
    assert float(mse(jnp.zeros((2, 10)), jnp.array([0, 1]))) == pytest.approx(0.1)  # mean over 2x10 entries


def test_overrides():
    cfg = cli.config_from_args(cli.build_parser().parse_args(["--depth", "5", "--width", "32", "--lr", "0.01,0.1"]))
    assert cfg.hidden == (32,) * 5 and cfg.learning_rates == (0.01, 0.1)
    cfg = cli.config_from_args(
        cli.build_parser().parse_args(
            ["--preset", "default", "--compare", "losses", "--loss", "ce, mse", "--schemes", "he_normal"]
        )
    )
    assert cfg.losses == ("ce", "mse") and cfg.target_on == "eval_metric"
    assert specs.split_specs("a, uniform(-0.05, 0.05), b/normal(0.01)") == [
        "a",
        "uniform(-0.05, 0.05)",
        "b/normal(0.01)",
    ]


def test_wrapper_script_and_list_presets():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "init_convergence.py"), "--list-presets"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "deep-relu" in out.stdout and "loss-robustness" in out.stdout


def test_persistent_compile_cache_is_written_and_reused(tmp_path):
    """Two processes running the same sweep: the first fills --compile-cache, the second loads from it and
    gives the same summary."""
    argv = [sys.executable, "-m", "jaxnn.bench.cli", *TINY[:-2], "--compile-cache", str(tmp_path / "xla")]
    first = subprocess.run([*argv, "--out", str(tmp_path / "a")], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    entries = {p.name for p in (tmp_path / "xla").iterdir()}
    assert entries, "the compile cache stayed empty"
    second = subprocess.run([*argv, "--out", str(tmp_path / "b")], capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert {p.name for p in (tmp_path / "xla").iterdir()} == entries  # nothing new: every program was loaded
    assert (tmp_path / "a" / "summary.csv").read_text() == (tmp_path / "b" / "summary.csv").read_text()
