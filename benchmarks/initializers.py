"""Speed of jaxnn.initializers against jax.nn.initializers, side by side in one run.

1. ``orthogonal`` on an N x N matrix (default N = 4096): jaxnn's random
   reflectors accumulated in GEMMs (Stewart 1980) vs jax's Householder QR of a
   Gaussian (LAPACK geqrf + orgqr); also checks max|W^T W - I|.
   Target: jaxnn >= 4x faster on CPU, orthogonal to < 1e-4.
2. ``he_normal`` over a ~100M-parameter pytree (24 dense (2048, 2048) weights).
   Target: jaxnn within 1.1x of jax.

Each call is the eager call a user makes (``init(key, shape)``); the first call
(compile included) is reported separately, then ``--repeats`` timed calls with
fresh keys, alternating jax and jaxnn, and their medians. Prints the machine,
the versions, medians and ratios, and writes them as JSON.

    python benchmarks/initializers.py               # full run, repeats=5
    python benchmarks/initializers.py --quick       # N = 1024, ~10M parameters
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import jaxnn
from jaxnn import initializers as jnn_init


def _machine() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _versions() -> dict:
    import jaxlib

    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": np.__version__,
        "jaxnn": jaxnn.__version__,
    }


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return time.perf_counter() - t0, out


def _side_by_side(cases: dict, repeats: int, make_call) -> dict:
    """cases: name -> initializer. make_call(init, key) -> thunk. Alternates cases."""
    res = {name: {"first_call_s": None, "times_s": []} for name in cases}
    key = jax.random.key(0)
    for name, init in cases.items():  # first calls: compile + run
        res[name]["first_call_s"], _ = _timed(make_call(init, key))
        print(f"  {name:>6} first call {res[name]['first_call_s']:.2f} s", flush=True)
    for r in range(repeats):
        key_r = jax.random.fold_in(key, r + 1)
        for name, init in cases.items():
            t, _ = _timed(make_call(init, key_r))
            res[name]["times_s"].append(t)
            print(f"  {name:>6} repeat {r + 1}: {t:.2f} s", flush=True)
    for name in cases:
        res[name]["median_s"] = statistics.median(res[name]["times_s"])
    return res


def bench_orthogonal(n: int, repeats: int) -> dict:
    print(f"orthogonal {n}x{n} float32", flush=True)
    cases = {"jax": jax.nn.initializers.orthogonal(), "jaxnn": jnn_init.orthogonal()}
    res = _side_by_side(cases, repeats, lambda init, key: lambda: init(key, (n, n), jnp.float32))
    eye = jnp.eye(n)
    for name, init in cases.items():
        w = init(jax.random.key(0), (n, n), jnp.float32)
        gram = jnp.matmul(w.T, w, precision=jax.lax.Precision.HIGHEST)
        res[name]["max_abs_WtW_minus_I"] = float(jnp.max(jnp.abs(gram - eye)))
    return {
        "shape": [n, n],
        "results": res,
        "speedup_jaxnn_vs_jax_median": res["jax"]["median_s"] / res["jaxnn"]["median_s"],
        "speedup_jaxnn_vs_jax_first_call": res["jax"]["first_call_s"] / res["jaxnn"]["first_call_s"],
    }


def bench_he_normal_tree(n_layers: int, width: int, repeats: int) -> dict:
    n_params = n_layers * width * width
    print(f"he_normal pytree: {n_layers} x ({width}, {width}) = {n_params / 1e6:.1f}M parameters", flush=True)
    shapes = [(width, width)] * n_layers

    def make_call(init, key):
        keys = jax.random.split(key, n_layers)
        return lambda: [init(k, s, jnp.float32) for k, s in zip(keys, shapes)]

    cases = {"jax": jax.nn.initializers.he_normal(), "jaxnn": jnn_init.he_normal()}
    res = _side_by_side(cases, repeats, make_call)
    return {
        "n_params": n_params,
        "layer_shape": [width, width],
        "n_layers": n_layers,
        "results": res,
        "ratio_jaxnn_over_jax_median": res["jaxnn"]["median_s"] / res["jax"]["median_s"],
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=1024 and ~10M parameters")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n", type=int, default=None, help="orthogonal size (default 4096)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "initializers.json")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    n = args.n or (1024 if args.quick else 4096)
    n_layers, width = (10, 1000) if args.quick else (24, 2048)

    report = {
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "quick": args.quick,
        "repeats": args.repeats,
        "machine": _machine(),
        "versions": _versions(),
    }
    print("machine:", json.dumps(report["machine"]))
    print("versions:", json.dumps(report["versions"]))
    report["orthogonal"] = bench_orthogonal(n, args.repeats)
    report["he_normal_tree"] = bench_he_normal_tree(n_layers, width, args.repeats)

    report["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    o, h = report["orthogonal"], report["he_normal_tree"]
    print("\nsummary")
    print(
        f"  orthogonal {n}x{n}: jax median {o['results']['jax']['median_s']:.2f} s, "
        f"jaxnn median {o['results']['jaxnn']['median_s']:.2f} s -> "
        f"{o['speedup_jaxnn_vs_jax_median']:.1f}x faster "
        f"(first call {o['speedup_jaxnn_vs_jax_first_call']:.1f}x); "
        f"max|W^T W - I| jaxnn {o['results']['jaxnn']['max_abs_WtW_minus_I']:.2e}, "
        f"jax {o['results']['jax']['max_abs_WtW_minus_I']:.2e}"
    )
    print(
        f"  he_normal {h['n_params'] / 1e6:.0f}M params: jax median "
        f"{h['results']['jax']['median_s']:.2f} s, jaxnn median "
        f"{h['results']['jaxnn']['median_s']:.2f} s -> ratio jaxnn/jax "
        f"{h['ratio_jaxnn_over_jax_median']:.2f}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
