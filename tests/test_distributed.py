"""A sweep across two real processes (jax.distributed on localhost, CPU, Gloo collectives) gives the single-process
results bitwise, and only process 0 writes the results directory."""

import os
import socket
import subprocess
import sys

import numpy as np

TINY = ["--preset", "default", "--hidden", "16", "--schemes", "he_normal, zeros", "--seeds", "2", "--steps", "20",
        "--eval-every", "10", "--no-plots", "--quiet", "--compile-cache", "none"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(devices: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_PLATFORMS")}
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    return env


def test_two_processes_reproduce_the_single_process_runs(tmp_path):
    port = _free_port()
    out = tmp_path / "dist"
    cmd = [sys.executable, "-m", "jaxnn.bench.cli", *TINY, "--out", str(out), "--distributed"]
    cluster = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    procs = [
        subprocess.Popen(
            [*cmd, *cluster, "--process-id", str(i)],
            env=_env(1),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (o, e) in zip(procs, outputs):
        assert p.returncode == 0, e[-2000:]
    assert "runs:" in outputs[0][0] and "runs:" not in outputs[1][0]  # only process 0 writes and reports paths
    # The same global program on one process with two devices: one run per device per call, as above.
    single = tmp_path / "single"
    subprocess.run(
        [sys.executable, "-m", "jaxnn.bench.cli", *TINY, "--out", str(single)], env=_env(2), check=True, timeout=240
    )
    a, b = np.load(out / "runs.npz"), np.load(single / "runs.npz")
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), k


def test_cluster_flags_need_distributed(capsys):
    from jaxnn.bench import cli

    assert cli.main([*TINY, "--num-processes", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "need --distributed" in err
