"""muP learning-rate transfer: tune Adam's learning rate on a width-128 MLP, reuse it at width 1024.

For each parameterization (SP: He init -- untruncated normal -- and one global Adam learning rate;
muP: :func:`jaxnn.schemes.mup_init`
+ :func:`jaxnn.schemes.mup_optimizer` with base width 128, Yang et al. 2022) and each width, train a ReLU MLP
``64-w-w-10`` on the sklearn digits for ``--steps`` Adam steps at every learning rate of a log2 grid
(``--seeds`` seeds, same data order), and record the mean training loss over the last evaluations. At the
base width the two parameterizations are identical by construction. The claim under test: under muP the best
learning rate at width 1024 is the one found at width 128 (within one grid step), under SP it moves.

    python benchmarks/mup_transfer.py --out results/mup_transfer [--plot docs/mup_transfer.png]

Writes ``mup_transfer.csv`` (one row per parameterization x width x learning rate), ``mup_transfer.md`` (the
best learning rates and the shift in grid steps) and, with ``--plot``, the loss-vs-learning-rate curves.
Runs in about 1-3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import csv
import functools
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import datasets, losses, models, schemes, train


def _run(widths, lrs, *, base_width, steps, seeds, batch_size, eval_every):
    ds = datasets.load("digits", seed=0)
    data = (ds.x_train, ds.y_train)
    apply_fn = functools.partial(models.mlp_apply, activation="relu")
    rows = []
    for width in widths:
        sizes = [64, width, width, 10]
        for param in ("SP", "muP"):

            def one(init_key, lr, param=param, sizes=sizes):
                if param == "SP":  # He (untruncated normal) everywhere and one global Adam learning rate
                    p = schemes.mup_init(init_key, sizes, base_width=sizes[1])
                    opt = optax.adam(lr)
                else:
                    p = schemes.mup_init(init_key, sizes, base_width=base_width)
                    opt = schemes.mup_optimizer(lr, base_width=base_width)
                h = train.fit(
                    p,
                    data,
                    key=jax.random.PRNGKey(1234),
                    apply_fn=apply_fn,
                    loss_fn=losses.categorical_cross_entropy,
                    optimizer=opt,
                    steps=steps,
                    batch_size=batch_size,
                    eval_every=eval_every,
                ).history
                return jnp.mean(h["train_loss"][-3:])

            f = jax.jit(one)
            for lr in lrs:
                t0 = time.perf_counter()
                vals = [float(f(jax.random.PRNGKey(s), jnp.float32(lr))) for s in range(seeds)]
                vals = [v if np.isfinite(v) else np.inf for v in vals]
                rows.append(
                    {
                        "param": param,
                        "width": width,
                        "lr": lr,
                        "loss": float(np.mean(vals)),
                        "loss_seeds": " ".join(f"{v:.4g}" for v in vals),
                        "seconds": round(time.perf_counter() - t0, 2),
                    }
                )
                print(f"{param:4s} width {width:5d} lr {lr:.2e}: train loss {rows[-1]['loss']:.4f}", flush=True)
    return rows


def best_lrs(rows):
    """``{(param, width): (best_lr, loss)}`` -- the grid point with the lowest mean final training loss."""
    out = {}
    for r in rows:
        k = (r["param"], r["width"])
        if k not in out or r["loss"] < out[k][1]:
            out[k] = (r["lr"], r["loss"])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/mup_transfer")
    ap.add_argument("--plot", default=None, help="also write the figure here (e.g. docs/mup_transfer.png)")
    ap.add_argument("--widths", default="128,1024")
    ap.add_argument("--base-width", type=int, default=128)
    ap.add_argument("--lr-min-log2", type=int, default=-13)
    ap.add_argument("--lr-max-log2", type=int, default=-3)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]
    lrs = [2.0**k for k in range(args.lr_min_log2, args.lr_max_log2 + 1)]
    t0 = time.perf_counter()
    rows = _run(
        widths,
        lrs,
        base_width=args.base_width,
        steps=args.steps,
        seeds=args.seeds,
        batch_size=args.batch_size,
        eval_every=max(1, args.steps // 10),
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "mup_transfer.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    best = best_lrs(rows)
    lines = [
        f"# muP learning-rate transfer (digits, MLP 64-w-w-10 ReLU, Adam, {args.steps} steps, "
        f"{args.seeds} seeds, base width {args.base_width})",
        "",
        f"| parameterization | width | best lr | train loss at best | shift vs width {widths[0]} (log2 grid steps) |",
        "|---|---|---|---|---|",
    ]
    for param in ("SP", "muP"):
        lr0 = best[(param, widths[0])][0]
        for width in widths:
            lr, loss = best[(param, width)]
            lines.append(f"| {param} | {width} | {lr:.2e} | {loss:.4f} | {np.log2(lr / lr0):+.0f} |")
    lines += ["", f"total time {time.perf_counter() - t0:.0f} s"]
    (out / "mup_transfer.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
        for ax, param in zip(axes, ("SP", "muP")):
            for width in widths:
                rs = [r for r in rows if r["param"] == param and r["width"] == width]
                ax.plot([r["lr"] for r in rs], [r["loss"] for r in rs], marker="o", label=f"width {width}")
                lr, loss = best[(param, width)]
                ax.plot([lr], [loss], marker="*", markersize=14, color=ax.lines[-1].get_color())
            ax.set(xscale="log", yscale="log", xlabel="Adam learning rate", title=param)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
        axes[0].set_ylabel(f"training loss after {args.steps} steps")
        fig.tight_layout()
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=110)
    return rows


if __name__ == "__main__":
    main()
