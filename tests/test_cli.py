"""Tests for the jaxnn-bench command line: outputs, resume after an interruption, config guard, bad names."""

import json
import os
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


# ------------------------------------------------------------------------- a results directory you can trust


def _one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("jaxnn-bench: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--steps", "5"], "eval_every=10 exceeds steps=5"),
        (["--batch-size", "100000"], "batch_size=100000 exceeds the"),
        (["--schemes", "he_normal, he_normal"], "schemes must be unique"),
        (["--lr", "0.01,0.1", "--tune-seeds", "0"], "tune_seeds"),
        (["--optimizer", "adam(foo=1)"], "optimizer 'adam(foo=1)'"),
        (["--optimizer", "sgd(momentum='a')"], "optimizer \"sgd(momentum='a')\""),
        (["--loss", "huber(foo=1)"], "loss 'huber(foo=1)'"),
        (["--schemes", "he_normal(scale=2.0)"], "scheme 'he_normal(scale=2.0)'"),
        (["--schemes", "normal(1,2,3)"], "scheme 'normal(1,2,3)'"),
        (["--schemes", "normal('a')"], "scheme \"normal('a')\""),
        (["--schemes", "he_normal/normal('a')"], "of scheme \"he_normal/normal('a')\""),
    ],
)
def test_a_refused_config_writes_nothing(tmp_path, capsys, extra, expected):
    """Every check runs before the directory is created, so the corrected command is never blocked."""
    assert cli.main([*TINY, *extra, "--out", str(tmp_path / "x")]) == 2
    assert expected in _one_line_error(capsys)
    assert not (tmp_path / "x").exists()


def test_argument_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([*TINY, "--seeds", "x"])
    assert e.value.code == 2 and "invalid int value" in _one_line_error(capsys)


def test_bad_out_paths_and_configs_are_one_line_errors(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    for out, expected in [(f, "is not a directory"), (f / "sub", "is not a directory"), ("/proc/x", "cannot create")]:
        assert cli.main([*TINY, "--out", str(out)]) == 2
        assert expected in _one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text('{"config": 5}')
    assert cli.main([*TINY, "--out", str(tmp_path / "r")]) == 2
    assert "not a jaxnn results config" in _one_line_error(capsys)


def test_restating_a_preset_value_is_not_an_override():
    def cfg(*argv):
        return cli.config_from_args(cli.build_parser().parse_args(list(argv)))

    assert cfg("--preset", "diabetes", "--steps", "200", "--seeds", "16") == config.PRESETS["diabetes"]
    assert cfg("--preset", "default", "--schemes", ", ".join(config.DEFAULT_SCHEMES)) == config.PRESETS["default"]
    changed = cfg("--preset", "diabetes", "--steps", "100")
    assert changed.steps == 100 and changed.description.endswith("(with overrides)")


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def _runs(out):
    with np.load(out / "runs.npz") as z:
        return {k: z[k] for k in z.files}


def _same_runs(a, b):
    ra, rb = _runs(a), _runs(b)
    assert ra.keys() == rb.keys()
    for k in ra:
        np.testing.assert_array_equal(ra[k], rb[k], err_msg=k)


def test_refused_overwrite_deletes_nothing(tmp_path, uninterrupted, capsys):
    out = _copy(uninterrupted, tmp_path / "r")
    before = sorted(p.name for p in out.rglob("*"))
    assert cli.main([*TINY, "--overwrite", "--steps", "5", "--out", str(out)]) == 2
    assert "eval_every=10 exceeds steps=5" in _one_line_error(capsys)
    assert sorted(p.name for p in out.rglob("*")) == before
    _same_runs(out, uninterrupted)


def test_overwrite_failing_before_its_first_chunk_restores_the_old_results(tmp_path, uninterrupted, monkeypatch):
    from jaxnn.bench import sweep

    out = _copy(uninterrupted, tmp_path / "r")

    def fail(**kw):
        raise RuntimeError("injected before the first chunk")

    monkeypatch.setattr(sweep, "sweep", fail)
    with pytest.raises(RuntimeError, match="injected"):
        cli.run(_config(["--steps", "20"]), out, overwrite=True, quiet=True, plots=False)
    assert json.loads((out / "config.json").read_text())["config"]["steps"] == 30
    assert not (out / ".replaced").exists()
    _same_runs(out, uninterrupted)


def test_overwrite_replaces_the_old_results_once_the_new_run_started(tmp_path, uninterrupted):
    out = _copy(uninterrupted, tmp_path / "r")
    seen = []

    def check(phase, idx):
        seen.append((out / ".replaced").exists())

    cli.run(_config(["--steps", "20"]), out, overwrite=True, quiet=True, plots=False, on_chunk=check)
    assert seen and not any(seen)  # gone once the first chunk landed
    assert _runs(out)["run_eval_loss"].shape == (2, 2, 3)
    assert not list(out.glob("*.png"))  # the old plots went with the old results


def test_damaged_and_edited_chunks_are_named_and_recomputed(tmp_path, uninterrupted, capsys):
    out = _copy(uninterrupted, tmp_path / "r")
    chunks = sorted((out / "chunks").glob("*.npz"))
    chunks[0].write_bytes(chunks[0].read_bytes()[:200])  # truncated
    with np.load(chunks[1]) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["eval_loss"] = arrays["eval_loss"] + 1.0  # hand-edited values
    np.savez(chunks[1], **arrays)
    chunks[2].write_text("junk\n")
    capsys.readouterr()
    assert cli.main([*TINY, "--no-plots", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    for path, why in zip(chunks[:3], ("unreadable", "content hash", "unreadable")):
        assert any(str(path) in line and why in line for line in err.splitlines()), (path, err)
    _same_runs(out, uninterrupted)
    assert sorted(p.name for p in (out / "chunks").glob("*.rejected")) == sorted(
        p.name + ".rejected" for p in chunks[:3]
    )


def test_resume_with_another_chunk_size_recomputes_instead_of_mixing(tmp_path, uninterrupted, capsys):
    """--chunk-size 2 traces with vmap, 1 without: the numbers differ in the last digits, so chunks of one are
    not mixed with chunks of the other; the resumed directory equals an uninterrupted --chunk-size 2 run."""
    out = _copy(uninterrupted, tmp_path / "r")
    (out / "runs.npz").unlink()
    capsys.readouterr()
    assert cli.main([*TINY, "--no-plots", "--chunk-size", "2", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("runs_per_device_call 1 (now 2)") == 4, err
    fresh = tmp_path / "fresh"
    assert cli.main([*TINY, "--no-plots", "--chunk-size", "2", "--out", str(fresh)]) == 0
    _same_runs(out, fresh)
    calls = []
    cli.run(_config(), out, quiet=True, plots=False, on_chunk=lambda *a: calls.append(a))
    assert len(calls) == 4  # back to one run per call: recomputed again, never mixed
    _same_runs(out, uninterrupted)


def _cli(out, *extra):
    return [sys.executable, "-m", "jaxnn.bench.cli", *SMALL, *extra, "--out", str(out)]


# The tiny configuration for real processes (no plots; ~3 s each, most of it importing jax and compiling).
SMALL = [*TINY[:-3], "--no-plots", "--quiet", "--compile-cache", "none"]


def test_a_second_run_is_refused_naming_the_holder(tmp_path):
    from jaxnn.bench import results

    with results.lock_dir(tmp_path, command="the first run"):
        p = subprocess.run(_cli(tmp_path), capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and f"in use by pid {os.getpid()}" in p.stderr and "the first run" in p.stderr
    assert not (tmp_path / "config.json").exists()


def test_racing_runs_leave_a_consistent_directory(tmp_path):
    """Two real processes into one --out with different --steps: one wins, the other is refused (the lock, or
    the config guard if the first had finished), and what is there is one configuration's results."""
    procs = [
        subprocess.Popen(_cli(tmp_path, "--steps", s), stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for s in ("20", "30")
    ]
    outs = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in outs)
    assert codes == [0, 2], outs
    err = next(e for rc, e in outs if rc == 2)
    assert "in use by pid" in err or "different configuration" in err, err
    steps = json.loads((tmp_path / "config.json").read_text())["config"]["steps"]
    assert _runs(tmp_path)["run_eval_loss"].shape == (2, 2, steps // 10 + 1)
    calls = []
    cli.run(_config(["--steps", str(steps)]), tmp_path, quiet=True, plots=False, on_chunk=lambda *a: calls.append(a))
    assert calls == []  # the winner's chunks are all there and valid


def test_sigkill_mid_run_then_rerun_is_bitwise_identical(tmp_path):
    import os as _os
    import signal
    import time

    argv = ["--seeds", "6", "--steps", "400", "--eval-every", "100", "--workers", "1"]
    killed = tmp_path / "killed"
    p = subprocess.Popen(_cli(killed, *argv), stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        deadline = time.monotonic() + 240
        while not list((killed / "chunks").glob("*.npz")) and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        _os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    n_chunks = len(list((killed / "chunks").glob("*.npz")))
    if p.returncode != -signal.SIGKILL or n_chunks >= 12:
        pytest.skip("the run finished before it could be killed")
    assert not (killed / "runs.npz").exists() and n_chunks >= 1
    rerun = subprocess.run(_cli(killed, *argv), capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert rerun.returncode == 0, rerun.stderr  # the dead process's lock was released by the OS
    assert "warning" not in rerun.stderr
    full = subprocess.run(_cli(tmp_path / "full", *argv), capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert full.returncode == 0, full.stderr
    _same_runs(killed, tmp_path / "full")
