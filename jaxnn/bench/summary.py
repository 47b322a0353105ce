"""Per-run convergence metrics and the per-scheme summary: censored steps-to-target, medians with bootstrap
confidence intervals, and the ranking with paired significance tests (:mod:`jaxnn.bench.stats`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxnn.bench import stats as _stats

__all__ = ["run_metrics", "summarize"]


def run_metrics(
    arrays: Mapping[str, np.ndarray],
    *,
    target: float,
    target_on: str = "eval_loss",
    higher_is_better: bool | None = None,
) -> dict[str, np.ndarray]:
    """Per-run convergence metrics from the arrays of :func:`run_program` (any leading shape ``(..., n_eval)``).

    * ``steps_to_target``: first evaluated step at which the ``target_on`` curve (``"eval_loss"``,
      ``"train_loss"`` or ``"eval_metric"``) reaches ``target`` (``<=`` for losses, ``>=`` for a metric unless
      ``higher_is_better`` says otherwise); ``+inf`` when never (right-censored);
    * ``auc``: normalized area under the ``target_on`` curve (its mean over the budget; +inf when non-finite);
    * ``final_train_loss``, ``final_eval_loss``, ``final_eval_metric``: values at the last evaluation;
    * ``diverged``: bool, the run's loss became non-finite (``diverged_step >= 0``).
    """
    if target_on not in ("eval_loss", "train_loss", "eval_metric"):
        raise ValueError(f"target_on must be 'eval_loss', 'train_loss' or 'eval_metric', got {target_on!r}")
    if higher_is_better is None:
        higher_is_better = target_on == "eval_metric"
    steps = np.asarray(arrays["step"]).reshape(-1, np.shape(arrays["step"])[-1])[0]
    curve = np.asarray(arrays[target_on], dtype=np.float64)
    return {
        "steps_to_target": _stats.steps_to_target(steps, curve, target, higher_is_better=higher_is_better),
        "auc": _stats.area_under_curve(steps, curve),
        "final_train_loss": np.asarray(arrays["train_loss"], dtype=np.float64)[..., -1],
        "final_eval_loss": np.asarray(arrays["eval_loss"], dtype=np.float64)[..., -1],
        "final_eval_metric": np.asarray(arrays["eval_metric"], dtype=np.float64)[..., -1],
        "diverged": np.asarray(arrays["diverged_step"]) >= 0,
    }


def _ci_fields(prefix, ci):
    return {prefix: ci.value, f"{prefix}_lo": ci.lo, f"{prefix}_hi": ci.hi}


def _nan_to(x, v):
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.isnan(x), v, x)


def summarize(
    names: Sequence[str],
    metrics: Mapping[str, np.ndarray],
    *,
    steps: int,
    eval_every: int,
    higher_is_better: bool = False,
    alpha: float = 0.05,
    n_resamples: int = 2000,
    seed: int = 0,
    learning_rates: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    r"""Per-scheme statistics across seeds and the ranking; one dict per scheme, **best first**.

    ``metrics`` are :func:`run_metrics` arrays of shape ``(K, S)``. For each scheme: the censored summary of
    steps-to-target (``n_reached``, ``frac_reached`` with CI, median over reached with CI, censored median),
    and median + 95% percentile-bootstrap CI of the AUC, final losses and final metric; ``n_diverged``.

    Ranking (:func:`jaxnn.bench.stats.compare_to_best`): by the median of steps-to-target with censored runs set to
    ``steps + eval_every`` (one evaluation beyond the budget: worse than any run that got there, tied among
    themselves), ties broken by the median AUC (lower is better; negated when ``higher_is_better``). Every
    scheme is compared with the best by a two-sided paired Wilcoxon signed-rank test over seeds on the same
    censored steps-to-target, Holm-adjusted over the K-1 comparisons; ``significant`` = adjusted p < ``alpha``.
    """
    k = len(names)
    t = np.asarray(metrics["steps_to_target"], dtype=np.float64)
    if t.ndim != 2 or t.shape[0] != k:
        raise ValueError(f"metrics must have shape (K={k}, S), got steps_to_target {t.shape}")
    censored_at = float(steps + eval_every)
    t_c = np.where(np.isfinite(t), t, censored_at)
    auc = np.asarray(metrics["auc"], dtype=np.float64)
    auc_rank = _nan_to(-auc if higher_is_better else auc, np.inf)
    auc_rank = np.where(np.isinf(auc), np.inf, auc_rank)  # a non-finite curve is always worst
    cmp = _stats.compare_to_best(t_c, tiebreak=auc_rank, alpha=alpha)
    kw = dict(n_resamples=n_resamples, seed=seed)
    rows = []
    for i in range(k):
        cs = _stats.censored_summary(t[i], **kw)
        row = {
            "rank": int(cmp.rank[i]),
            "scheme": names[i],
            "learning_rate": None if learning_rates is None else float(learning_rates[i]),
            "n_seeds": cs.n,
            "n_reached": cs.n_reached,
            **_ci_fields("frac_reached", cs.frac_reached),
            **_ci_fields("steps_to_target_reached", cs.median_reached),
            **_ci_fields("steps_to_target", cs.median),
            **_ci_fields("auc", _stats.median_ci(_nan_to(auc[i], np.inf), **kw)),
            **_ci_fields("final_train_loss", _stats.median_ci(_nan_to(metrics["final_train_loss"][i], np.inf), **kw)),
            **_ci_fields("final_eval_loss", _stats.median_ci(_nan_to(metrics["final_eval_loss"][i], np.inf), **kw)),
            **_ci_fields(
                "final_eval_metric",
                _stats.median_ci(
                    _nan_to(metrics["final_eval_metric"][i], -np.inf if higher_is_better else np.inf), **kw
                )
                if not np.isnan(metrics["final_eval_metric"][i]).all()
                else _stats.CI(math.nan, math.nan, math.nan),
            ),
            "n_diverged": int(np.asarray(metrics["diverged"][i]).sum()),
            "p_value": float(cmp.pvalue[i]),
            "p_holm": float(cmp.pvalue_holm[i]),
            "significant": bool(cmp.significant[i]),
            "best": i == cmp.best,
        }
        rows.append(row)
    return sorted(rows, key=lambda r: r["rank"])
