"""Post-LN vs Pre-LN (and DeepNorm, T-Fixup) at initialization: per-block forward and backward moments and the
step-0 gradient norms of each block's parameters (Xiong et al. 2020 predict large gradients near the output under
Post-LN, and gradients shrinking like 1/sqrt(L) towards the output under Pre-LN).

    python benchmarks/transformer_diagnostics.py              # L=12, d=64, 4 seeds (about a minute on 2 cores)

Writes ``benchmarks/results/transformer_diagnostics/transformer_diagnostics.csv`` (one row per variant, seed and
block) and ``docs/transformer_diagnostics.png``. Per block ``l``: ``forward_rms`` is the RMS of the block's output
(the residual stream after it), ``backward_rms`` the RMS of the loss gradient with respect to that output, and
``grad_norm`` the L2 norm of the loss gradient over all of the block's parameters, on one batch of next-token
pairs of the HMM language (``jaxnn.datasets.hmm_language``, the benchmark's data).
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _transformer as T
from jaxnn import losses, models, reinit
from jaxnn.bench import specs
from jaxnn.bench.experiment import hmm_dataset

ROOT = Path(__file__).resolve().parents[1]
OUT_CSV = ROOT / "benchmarks" / "results" / "transformer_diagnostics" / "transformer_diagnostics.csv"
OUT_PNG = ROOT / "docs" / "transformer_diagnostics.png"
VARIANTS = ("post/xavier_uniform", "pre/xavier_uniform", "deepnorm/deepnorm", "none/t_fixup")


def _forward(params, tokens, deltas, norm, num_heads):
    """transformer_apply with ``deltas[l]`` added to block ``l``'s output (zeros: the gradient with respect to
    them is the gradient with respect to the block outputs); returns logits and the block outputs."""
    L = len(params["blocks"])
    alpha = (2.0 * L) ** 0.25 if norm == "deepnorm" else 1.0
    d = params["embed"]["token"].shape[-1]
    scale = 1.0 / math.sqrt(d // num_heads)
    h = T._embed(params, tokens)
    outs = []
    for b, delta in zip(params["blocks"], deltas):
        _, h = T._sublayer(
            norm, alpha, b.get("ln1"), lambda u, b=b: T.causal_attention(b["attn"], u, num_heads, scale), h
        )
        _, h = T._sublayer(norm, alpha, b.get("ln2"), lambda u, b=b: T.mlp_block(b["mlp"], u), h)
        h = h + delta
        outs.append(h)
    if norm != "none":
        h = T.layer_norm(params["ln_f"], h)
    return h @ params["readout"]["w"] + params["readout"]["b"], outs


def measure(variant: str, seed: int, x, y, *, num_layers: int, d_model: int, num_heads: int) -> list[dict]:
    v = specs.transformer_scheme(variant, num_layers=num_layers, d_model=d_model, base_width=d_model)
    key = jax.random.PRNGKey(seed)
    p = models.transformer_init(
        key, vocab_size=32, seq_len=x.shape[1], d_model=d_model, num_heads=num_heads, num_layers=num_layers, norm=v.norm
    )
    p = reinit(jax.random.fold_in(key, 2), p, v.rules)  # what the benchmark's Scheme(rules=...) does
    deltas = [jnp.zeros(x.shape + (d_model,)) for _ in range(num_layers)]

    def loss(p, deltas):
        logits, outs = _forward(p, x, deltas, v.norm, num_heads)
        return losses.categorical_cross_entropy(logits, y), outs

    (_, outs), (g_p, g_h) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(p, deltas)
    rows = []
    for i in range(num_layers):
        gn = math.sqrt(sum(float(jnp.sum(jnp.square(a))) for a in jax.tree_util.tree_leaves(g_p["blocks"][i])))
        rows.append(
            dict(
                variant=variant,
                seed=seed,
                block=i + 1,
                forward_rms=float(jnp.sqrt(jnp.mean(jnp.square(outs[i])))),
                backward_rms=float(jnp.sqrt(jnp.mean(jnp.square(g_h[i])))),
                grad_norm=gn,
            )
        )
    return rows


def plot(rows, path: Path, num_layers: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for variant in dict.fromkeys(r["variant"] for r in rows):
        for ax, col in zip(axes, ("forward_rms", "backward_rms", "grad_norm")):
            vals = np.array(
                [
                    [r[col] for r in rows if r["variant"] == variant and r["block"] == b]
                    for b in range(1, num_layers + 1)
                ]
            )
            med = np.median(vals, axis=1)
            ax.plot(range(1, num_layers + 1), med, marker="o", ms=3, label=variant)
    titles = (
        "forward: RMS of block output",
        "backward: RMS of dLoss/d(block output)",
        "step-0 gradient norm per block",
    )
    for ax, t in zip(axes, titles):
        ax.set_title(t, fontsize=10)
        ax.set_xlabel("block")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"decoder-only transformer at initialization, L={num_layers}: median over seeds", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--csv", type=Path, default=OUT_CSV)
    ap.add_argument("--png", type=Path, default=OUT_PNG)
    args = ap.parse_args(argv)
    ds = hmm_dataset(0)
    x, y = jnp.asarray(ds.x_train[: args.batch]), jnp.asarray(ds.y_train[: args.batch])
    rows = []
    for variant in VARIANTS:
        for seed in range(args.seeds):
            rows += measure(variant, seed, x, y, num_layers=args.layers, d_model=args.d_model, num_heads=args.heads)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    plot(rows, args.png, args.layers)
    for variant in VARIANTS:
        ratio = [
            next(
                r["grad_norm"] for r in rows if r["variant"] == variant and r["seed"] == s and r["block"] == args.layers
            )
            / next(r["grad_norm"] for r in rows if r["variant"] == variant and r["seed"] == s and r["block"] == 1)
            for s in range(args.seeds)
        ]
        print(
            f"{variant:22s} last/first block gradient norm: median {np.median(ratio):.2f} (seeds {np.round(ratio, 2)})"
        )
    print(f"wrote {args.csv.relative_to(ROOT) if args.csv.is_relative_to(ROOT) else args.csv} and {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
