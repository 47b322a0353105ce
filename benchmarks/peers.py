#!/usr/bin/env python
"""What users would write instead of ``jaxnn-bench --preset default``: the same comparison as a standalone script.

The ``default`` preset's job -- the 12 initialization schemes x ``--seeds`` seeds, digits (1347 train / 450
test rows, standardized), MLP 64-128-128-128-10 with ReLU, softmax cross-entropy, SGD with momentum 0.9 at
learning rate 0.01, batch 128, 300 steps, the test loss and accuracy every 10 steps -- written the three ways
people write it, each importing only what it needs (``benchmarks/throughput.py --whole-process`` times each as a
fresh process, imports and compilation included)::

    python benchmarks/peers.py --method loop --seeds 4    # plain JAX: a jitted train_step, a Python loop
    python benchmarks/peers.py --method scan --seeds 4    # plain JAX: one jit-compiled lax.scan per run
    python benchmarks/peers.py --method torch --seeds 4 --threads 1   # PyTorch eager (torch is no dependency)

Initial parameters come from ``jax.nn.initializers`` / ``torch.nn.init`` (what a user has at hand). Each prints
one JSON line: method, runs, and the median final test loss of the He-normal runs (a check that they train).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

DIGITS = Path(__file__).resolve().parents[1] / "jaxnn" / "data" / "digits.npz"
SIZES = (64, 128, 128, 128, 10)
STEPS, BATCH, EVAL_EVERY, LR, MOMENTUM = 300, 128, 10, 0.01, 0.9
SCHEMES = (
    "zeros",
    "ones",
    "normal(0.01)",
    "normal(1.0)",
    "uniform(-0.05, 0.05)",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "orthogonal",
    "torch_linear_default",
)


def data(seed: int = 0):
    """Digits split 75/25 at random and standardized with the training rows' statistics (float32, int labels)."""
    with np.load(DIGITS) as f:
        x, y = f["x"].astype(np.float32), f["y"].astype(np.int32)
    perm = np.random.default_rng(seed).permutation(len(x))
    n_test = round(0.25 * len(x))
    te, tr = perm[:n_test], perm[n_test:]
    mean, std = x[tr].mean(0), x[tr].std(0)
    std = np.where(std > 0, std, 1)
    return (x[tr] - mean) / std, y[tr], (x[te] - mean) / std, y[te]


# ---------------------------------------------------------------------------------------------------- JAX


def jax_setup(x_tr, y_tr, x_te, y_te):
    import jax
    import jax.numpy as jnp
    import optax

    init = jax.nn.initializers
    w_inits = {
        "zeros": init.zeros,
        "ones": init.ones,
        "normal(0.01)": init.normal(0.01),
        "normal(1.0)": init.normal(1.0),
        "uniform(-0.05, 0.05)": lambda k, s, d=jnp.float32: jax.random.uniform(k, s, d, -0.05, 0.05),
        "glorot_normal": init.glorot_normal(),
        "glorot_uniform": init.glorot_uniform(),
        "he_normal": init.he_normal(),
        "he_uniform": init.he_uniform(),
        "lecun_normal": init.lecun_normal(),
        "orthogonal": init.orthogonal(),
        "torch_linear_default": init.variance_scaling(1 / 3, "fan_in", "uniform"),
    }

    def init_params(scheme, key):
        params = []
        for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
            kw, kb = jax.random.split(jax.random.fold_in(key, i))
            if scheme == "torch_linear_default":
                bias = jax.random.uniform(kb, (b,), minval=-1 / math.sqrt(a), maxval=1 / math.sqrt(a))
            else:
                bias = jnp.zeros((b,))
            params.append({"w": w_inits[scheme](kw, (a, b), jnp.float32), "b": bias})
        return params

    def apply(params, x):
        for layer in params[:-1]:
            x = jax.nn.relu(x @ layer["w"] + layer["b"])
        return x @ params[-1]["w"] + params[-1]["b"]

    def loss_fn(params, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(apply(params, x), y).mean()

    opt = optax.sgd(LR, momentum=MOMENTUM)
    data = tuple(jnp.asarray(a) for a in (x_tr, y_tr, x_te, y_te))

    def train_step(params, opt_state, idx, x_tr, y_tr):
        loss, grads = jax.value_and_grad(loss_fn)(params, x_tr[idx], y_tr[idx])
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def evaluate(params, x, y):
        logits = apply(params, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), jnp.mean(logits.argmax(-1) == y)

    return jax, jnp, init_params, opt, data, train_step, evaluate


def run_loop(seeds: int) -> list[tuple[str, float]]:
    """The optax-tutorial idiom: a jitted step, minibatch indices from numpy, a Python loop over everything."""
    x_tr, y_tr, x_te, y_te = data()
    jax, jnp, init_params, opt, (xt, yt, xe, ye), train_step, evaluate = jax_setup(x_tr, y_tr, x_te, y_te)
    train_step, evaluate = jax.jit(train_step), jax.jit(evaluate)
    finals = []
    for scheme in SCHEMES:
        for seed in range(seeds):
            params = init_params(scheme, jax.random.key(seed))
            opt_state = opt.init(params)
            rng = np.random.default_rng(seed)
            curve = []
            for step in range(STEPS):
                idx = rng.integers(0, len(x_tr), BATCH)
                params, opt_state, _ = train_step(params, opt_state, idx, xt, yt)
                if (step + 1) % EVAL_EVERY == 0:
                    loss, acc = evaluate(params, xe, ye)
                    curve.append((float(loss), float(acc)))
            finals.append((scheme, curve[-1][0]))
    return finals


def run_scan(seeds: int) -> list[tuple[str, float]]:
    """One jit-compiled ``lax.scan`` over the whole run (compiled once, reused), runs one after another."""
    x_tr, y_tr, x_te, y_te = data()
    jax, jnp, init_params, opt, (xt, yt, xe, ye), train_step, evaluate = jax_setup(x_tr, y_tr, x_te, y_te)

    @jax.jit
    def run(params, key, xt, yt, xe, ye):
        def interval(carry, k):
            def step(c, kk):
                p, s = c
                idx = jax.random.randint(kk, (BATCH,), 0, xt.shape[0])
                p, s, _ = train_step(p, s, idx, xt, yt)
                return (p, s), None

            carry, _ = jax.lax.scan(step, carry, jax.random.split(k, EVAL_EVERY))
            return carry, evaluate(carry[0], xe, ye)

        keys = jax.random.split(key, STEPS // EVAL_EVERY)
        _, curve = jax.lax.scan(interval, (params, opt.init(params)), keys)
        return curve

    finals = []
    for scheme in SCHEMES:
        for seed in range(seeds):
            params = init_params(scheme, jax.random.key(seed))
            loss, _ = run(params, jax.random.key(1000 + seed), xt, yt, xe, ye)
            finals.append((scheme, float(np.asarray(loss)[-1])))
    return finals


# ---------------------------------------------------------------------------------------------------- PyTorch


def run_torch(seeds: int, threads: int | None) -> list[tuple[str, float]]:
    """The same in PyTorch eager mode (``nn.Linear`` layers, ``torch.nn.init``, ``torch.optim.SGD``)."""
    import torch
    from torch import nn

    if threads:
        torch.set_num_threads(threads)
    x_tr, y_tr, x_te, y_te = (torch.from_numpy(a) for a in data())
    y_tr, y_te = y_tr.long(), y_te.long()
    w_inits = {
        "zeros": nn.init.zeros_,
        "ones": nn.init.ones_,
        "normal(0.01)": lambda w: nn.init.normal_(w, std=0.01),
        "normal(1.0)": lambda w: nn.init.normal_(w, std=1.0),
        "uniform(-0.05, 0.05)": lambda w: nn.init.uniform_(w, -0.05, 0.05),
        "glorot_normal": nn.init.xavier_normal_,
        "glorot_uniform": nn.init.xavier_uniform_,
        "he_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
        "he_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
        "lecun_normal": lambda w: nn.init.normal_(w, std=1 / math.sqrt(w.shape[1])),
        "orthogonal": nn.init.orthogonal_,
        "torch_linear_default": None,  # nn.Linear's own reset_parameters
    }
    finals = []
    for scheme in SCHEMES:
        for seed in range(seeds):
            torch.manual_seed(seed)
            layers = [nn.Linear(a, b) for a, b in zip(SIZES[:-1], SIZES[1:])]
            if w_inits[scheme] is not None:
                for layer in layers:
                    w_inits[scheme](layer.weight)
                    nn.init.zeros_(layer.bias)
            model = nn.Sequential(*[m for layer in layers[:-1] for m in (layer, nn.ReLU())], layers[-1])
            opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
            loss_fn = nn.CrossEntropyLoss()
            for step in range(STEPS):
                idx = torch.randint(0, len(x_tr), (BATCH,))
                opt.zero_grad(set_to_none=True)
                loss_fn(model(x_tr[idx]), y_tr[idx]).backward()
                opt.step()
                if (step + 1) % EVAL_EVERY == 0:
                    with torch.no_grad():
                        logits = model(x_te)
                        loss = loss_fn(logits, y_te).item()
                        (logits.argmax(-1) == y_te).float().mean().item()
            finals.append((scheme, loss))
    return finals


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=("loop", "scan", "torch"), required=True)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    t0 = time.perf_counter()
    if args.method == "loop":
        finals = run_loop(args.seeds)
    elif args.method == "scan":
        finals = run_scan(args.seeds)
    else:
        finals = run_torch(args.seeds, args.threads)
    he = [v for s, v in finals if s == "he_normal"]
    print(
        json.dumps(
            {
                "method": args.method,
                "runs": len(finals),
                "he_normal_final_eval_loss": float(np.median(he)),
                "seconds_after_start": time.perf_counter() - t0,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
