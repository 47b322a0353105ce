"""Benchmark plots (matplotlib, Agg backend, PNG): curves with CI bands, steps-to-target, gradient norms.

* :func:`loss_curves` -- the target curve (eval loss, or the metric) per scheme: median over seeds with a 95%
  percentile-bootstrap band at every evaluation; symlog step axis (the first steps are where schemes differ),
  log value axis for losses; the target as a dashed line.
* :func:`steps_to_target` -- one row per scheme in rank order: a point per seed (jittered), censored seeds as
  ``x`` in a "not reached" column beyond the budget, the median over reached seeds with its CI as a bar.
* :func:`grad_norms` -- the median gradient norm of each layer's weights at step 0 (log scale), per scheme:
  vanishing / exploding gradients in deep nets show up as slopes across layers.
* :func:`lr_tuning` -- with a learning-rate grid, each scheme's median validation AUC per learning rate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxnn.bench import stats as _stats

__all__ = ["loss_curves", "steps_to_target_strip", "grad_norms", "lr_tuning", "plot_all"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    """Save as PNG atomically (temporary file + rename), close the figure, return the path."""
    import io

    from jaxnn.bench.results import atomic_write_bytes

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    _plt().close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def _colors(n):
    plt = _plt()
    cmap = plt.get_cmap("tab20" if n > 10 else "tab10")
    return [cmap(i % cmap.N) for i in range(n)]


def _order(result):
    names = list(result.names)
    rank = {r["scheme"]: r["rank"] for r in result.summary}
    return sorted(range(len(names)), key=lambda i: rank[names[i]])


def loss_curves(result, path, *, title=None):
    plt = _plt()
    s = result.settings
    on = s["target_on"]
    steps = np.asarray(result.steps)
    order = _order(result)
    colors = _colors(len(order))
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    positive = True
    for c, i in zip(colors, order):
        med, lo, hi = _stats.median_band(result.arrays[on][i])
        positive &= bool(np.all(np.nan_to_num(lo, nan=1.0) > 0))
        ax.plot(steps, med, color=c, lw=1.8, label=result.names[i])
        ax.fill_between(steps, lo, hi, color=c, alpha=0.18, lw=0)
    ax.axhline(s["target"], color="k", ls="--", lw=1, label=f"target {s['target']:g}")
    ax.set_xscale("symlog", linthresh=max(1, s["eval_every"]))
    ax.set_xlim(0, steps[-1])
    if on != "eval_metric" and positive:
        ax.set_yscale("log")
    ax.set_xlabel("step (symlog)")
    ax.set_ylabel(on.replace("_", " "))
    ax.set_title(title or f"{on.replace('_', ' ')}: median over {s['seeds']} seeds, 95% bootstrap band")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, ncol=2 if len(order) > 6 else 1, loc="best")
    return _save(fig, path)


def steps_to_target_strip(result, path, *, title=None):
    """Each seed's steps-to-target per scheme (censored runs at the right edge), best scheme on top."""
    plt = _plt()
    s = result.settings
    budget = s["steps"]
    censored_x = budget + s["eval_every"]
    order = _order(result)
    t = np.asarray(result.metrics["steps_to_target"], dtype=np.float64)
    rows = {r["scheme"]: r for r in result.summary}
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(order) + 1.6), dpi=110)
    rng = np.random.default_rng(0)
    for y, i in enumerate(order):
        ti = t[i]
        jit = rng.uniform(-0.18, 0.18, size=ti.size)
        ok = np.isfinite(ti)
        ax.scatter(ti[ok], y + jit[ok], s=14, color="tab:blue", alpha=0.6, zorder=2)
        ax.scatter(
            np.full((~ok).sum(), censored_x), y + jit[~ok], s=18, marker="x", color="tab:red", alpha=0.7, zorder=2
        )
        r = rows[result.names[i]]
        if r["n_reached"]:
            m, lo, hi = r["steps_to_target_reached"], r["steps_to_target_reached_lo"], r["steps_to_target_reached_hi"]
            ax.errorbar([m], [y], xerr=[[m - lo], [hi - m]], fmt="|", ms=16, mew=2.5, color="k", capsize=4, zorder=3)
    ax.axvline(budget + s["eval_every"] / 2, color="gray", ls=":", lw=1)
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels(
        [f"{result.names[i]}  ({rows[result.names[i]]['n_reached']}/{t.shape[1]})" for i in order], fontsize=8
    )
    ax.invert_yaxis()
    ax.set_xlim(-s["eval_every"], censored_x + s["eval_every"])
    ax.set_xlabel(f"steps to target (x = not reached within {budget} steps)")
    on = s["target_on"].replace("_", " ")
    cmp = "≥" if s.get("higher_is_better") else "≤"
    ax.set_title(title or f"steps until {on} {cmp} {s['target']:g}: seeds, median and 95% CI (reached runs)")
    ax.grid(True, axis="x", alpha=0.25)
    return _save(fig, path)


def grad_norms(result, path, *, title=None):
    plt = _plt()
    g = np.asarray(result.arrays["grad_norm0"], dtype=np.float64)  # (K, S, L)
    order = _order(result)
    colors = _colors(len(order))
    layers = np.arange(1, g.shape[-1] + 1)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for c, i in zip(colors, order):
        med, lo, hi = _stats.median_band(g[i])
        pos = np.where(med > 0, med, np.nan)
        ax.plot(layers, pos, "o-", ms=3, color=c, lw=1.5, label=result.names[i])
        ax.fill_between(layers, np.where(lo > 0, lo, np.nan), np.where(hi > 0, hi, np.nan), color=c, alpha=0.15, lw=0)
    ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer (input -> output)")
    ax.set_ylabel("||dL/dW|| at step 0 (full training set)")
    ax.set_title(title or "gradient norm per layer at initialization: median over seeds (zero norms not drawn)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, ncol=2 if len(order) > 6 else 1)
    return _save(fig, path)


def lr_tuning(result, path, *, title=None):
    plt = _plt()
    tune = result.tuning
    lrs = np.asarray(tune["learning_rates"])
    score = np.asarray(tune["score"], dtype=np.float64)  # (K, L), lower is better
    colors = _colors(len(result.names))
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    sign = -1.0 if result.settings.get("higher_is_better") else 1.0
    for c, (i, name) in zip(colors, enumerate(result.names)):
        ax.plot(lrs, sign * score[i], "o-", color=c, label=name)
        j = int(tune["choice"][i])
        ax.plot([lrs[j]], [sign * score[i, j]], "*", ms=14, color=c)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"median validation AUC of {result.settings['target_on'].replace('_', ' ')}")
    ax.set_title(title or "learning-rate tuning on the validation split (star: chosen)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_all(result, out_dir) -> dict[str, Path]:
    """Every plot that applies to ``result``, as PNGs in ``out_dir``; returns ``{name: path}``."""
    out = Path(out_dir)
    paths = {
        "loss_curves": loss_curves(result, out / "loss_curves.png"),
        "steps_to_target": steps_to_target_strip(result, out / "steps_to_target.png"),
        "grad_norms": grad_norms(result, out / "grad_norm_step0.png"),
    }
    if result.tuning is not None and "choice" in result.tuning:
        paths["lr_tuning"] = lr_tuning(result, out / "lr_tuning.png")
    return paths
