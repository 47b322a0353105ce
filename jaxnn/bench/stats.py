r"""Statistics for comparing training runs across seeds: medians, bootstrap CIs, censoring, paired tests.

Everything here is plain numpy on host arrays (the results of a sweep), deterministic (fixed generator
seeds) and vectorized where it matters. The choices, all standard:

* **Centre and interval**: the median over seeds with a **percentile bootstrap** confidence interval
  (Efron & Tibshirani 1993, ch. 13): resample the seeds with replacement ``n_resamples`` times (2000 by
  default), take the median of each resample, and report the ``(1 - c)/2`` and ``(1 + c)/2`` quantiles of those
  medians. The median is robust to the occasional diverged or stuck seed that would dominate a mean.
  Infinite values (censored or diverged runs, "never") are allowed and order above every finite value.
* **Steps to target** (DeepOBS, Schneider et al. 2019; AlgoPerf, Dahl et al. 2023): the first evaluated step
  whose value is at or below the target (at or above, for a "higher is better" metric). A run that never
  gets there is **right-censored**: its time is only known to exceed the budget. :func:`censored_summary`
  reports the fraction of seeds that reached the target (with a bootstrap CI), the median over the seeds
  that did (with a bootstrap CI), and the censored median, which treats "never" as +inf and is therefore
  finite only when more than half of the seeds reached the target.
* **Paired comparison**: every scheme sees the same data-order key for a given seed, so run ``s`` of
  scheme A and run ``s`` of scheme B form a pair. :func:`wilcoxon_signed_rank` is the two-sided Wilcoxon
  signed-rank test on the paired differences (Wilcoxon 1945), with Wilcoxon's treatment of zero differences
  (dropped) and average ranks for ties. It runs the three-way rule of :func:`scipy.stats.wilcoxon`
  (``method="auto"``) in numpy -- the tests check it against scipy, and ``use_scipy=True`` delegates to scipy
  instead; scipy is no dependency of the benchmark, and importing it would cost every run more than the tests:
  the exact null distribution when there are no ties and no zeros and at most 50
  pairs; the exact conditional sign-flip (permutation) distribution when there are ties or zeros and at
  most 13 pairs; the normal approximation with the tie correction otherwise. Censored times enter the
  test as a value above the budget (``budget + eval_every``), so a censored run loses to every run that
  reached the target and ties with every other censored run -- a rank test needs nothing more.
* **Several comparisons against the best**: the p-values of the K-1 comparisons are adjusted with Holm's
  step-down procedure (Holm 1979), which controls the family-wise error rate without assumptions about
  the dependence between the tests. A difference is called significant when the adjusted p < ``alpha``.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np

__all__ = [
    "CI",
    "CensoredSummary",
    "Comparison",
    "bootstrap_ci",
    "median_band",
    "median_ci",
    "steps_to_target",
    "area_under_curve",
    "censored_summary",
    "wilcoxon_signed_rank",
    "holm",
    "compare_to_best",
]


class CI(NamedTuple):
    """A point estimate with a two-sided confidence interval ``[lo, hi]``."""

    value: float
    lo: float
    hi: float


class CensoredSummary(NamedTuple):
    """Steps-to-target across seeds with right-censoring made explicit (see :func:`censored_summary`)."""

    n: int  # number of seeds
    n_reached: int  # seeds that reached the target within the budget
    frac_reached: CI  # fraction of seeds that reached it, bootstrap CI
    median_reached: CI  # median over the seeds that reached it (NaN when none did), bootstrap CI
    median: CI  # censored median: "never" counted as +inf (inf when half or more never reached it)


def _as_1d(x, name):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of per-seed values, got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError(f"{name} contains NaN; encode 'never'/'diverged' as +inf (lower is better) instead")
    return x


def _check_confidence(confidence):
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return float(confidence)


def bootstrap_ci(x, statistic=np.median, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> CI:
    r"""Percentile bootstrap CI of ``statistic(x)`` over the 1-D sample ``x`` (one value per seed).

    ``statistic`` must accept ``axis=`` (``np.median``, ``np.mean``, ...). The resamples are drawn at once as
    an ``(n_resamples, n)`` index matrix from ``np.random.default_rng(seed)``: the result is deterministic.
    ``+inf``/``-inf`` values are allowed (they are replaced by finite sentinels beyond the data range while
    resampling, so quantiles never interpolate ``inf - inf``, and mapped back afterwards); NaN is rejected.
    An empty sample gives ``CI(nan, nan, nan)``; a single value ``v`` gives ``CI(v, v, v)``.
    """
    x = _as_1d(x, "x")
    confidence = _check_confidence(confidence)
    if not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    n = x.size
    if n == 0:
        return CI(math.nan, math.nan, math.nan)
    finite = x[np.isfinite(x)]
    span = (float(finite.max() - finite.min()) + 1.0) if finite.size else 1.0
    top = (float(finite.max()) if finite.size else 0.0) + 1e6 * span
    bottom = (float(finite.min()) if finite.size else 0.0) - 1e6 * span
    xs = np.where(x == np.inf, top, np.where(x == -np.inf, bottom, x))

    def back(v):
        v = float(v)
        if v >= top - 0.5 * 1e6 * span:
            return math.inf
        if v <= bottom + 0.5 * 1e6 * span:
            return -math.inf
        return v

    point = back(statistic(xs))
    if n == 1:
        return CI(point, point, point)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    stats = statistic(xs[idx], axis=1)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(stats, [alpha / 2, 1.0 - alpha / 2])
    return CI(point, back(lo), back(hi))


def median_band(curves, *, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0):
    """Median over seeds (axis 0) of ``(S, T)`` curves and its percentile-bootstrap band, per column:
    ``(median, lo, hi)``, each ``(T,)``. Non-finite values are ignored (a column with none gives NaN). The
    resampled seed indices are shared across columns, so the band follows whole curves, not points."""
    c = np.asarray(curves, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"curves must have shape (seeds, points), got {c.shape}")
    confidence = _check_confidence(confidence)
    c = np.where(np.isfinite(c), c, np.nan)
    s = c.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        med = np.nanmedian(c, axis=0)
        idx = np.random.default_rng(seed).integers(0, s, size=(n_resamples, s))
        boot = np.nanmedian(c[idx], axis=1)  # (B, T)
        a = (1 - confidence) / 2
        lo, hi = np.nanquantile(boot, [a, 1 - a], axis=0)
    return med, lo, hi


def median_ci(x, **kwargs) -> CI:
    """Median and percentile-bootstrap CI of a per-seed sample; see :func:`bootstrap_ci`."""
    return bootstrap_ci(x, np.median, **kwargs)


def steps_to_target(steps, curve, target: float, *, higher_is_better: bool = False):
    r"""First evaluated step at which ``curve`` reaches ``target``; ``+inf`` when it never does (censored).

    ``curve[..., i]`` is the value evaluated at ``steps[i]``. Reached means ``curve <= target`` (or
    ``curve >= target`` with ``higher_is_better``); NaN never counts as reached. Vectorized over the
    leading axes of ``curve``; returns float64 of shape ``curve.shape[:-1]``.
    """
    steps = np.asarray(steps, dtype=np.float64)
    curve = np.asarray(curve, dtype=np.float64)
    if steps.ndim != 1 or curve.shape[-1:] != steps.shape:
        raise ValueError(f"curve must have shape (..., {steps.shape}) matching steps, got {curve.shape}")
    if not np.isfinite(float(target)):
        raise ValueError(f"target must be a finite number, got {target!r}")
    with np.errstate(invalid="ignore"):
        hit = curve >= target if higher_is_better else curve <= target
    first = np.argmax(hit, axis=-1)
    return np.where(hit.any(axis=-1), steps[first], np.inf)


def area_under_curve(steps, curve):
    r"""Normalized area under a loss curve: :math:`\frac{1}{s_{last} - s_0}\int l(s)\,ds` (trapezoid rule).

    This is the mean loss over the training budget: lower means faster *and* better convergence, and it
    does not depend on a target. Any non-finite value in a curve (a diverged run) makes its area +inf.
    Vectorized over the leading axes of ``curve``.
    """
    steps = np.asarray(steps, dtype=np.float64)
    curve = np.asarray(curve, dtype=np.float64)
    if steps.ndim != 1 or curve.shape[-1:] != steps.shape or steps.size < 2:
        raise ValueError(f"need >= 2 steps and curve of shape (..., {steps.shape}), got {curve.shape}")
    finite = np.isfinite(curve).all(axis=-1)
    safe = np.where(np.isfinite(curve), curve, 0.0)
    area = np.trapezoid(safe, steps, axis=-1) / (steps[-1] - steps[0])
    return np.where(finite, area, np.inf)


def censored_summary(times, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> CensoredSummary:
    r"""Summarize per-seed steps-to-target where ``+inf`` marks a censored run (target never reached)."""
    t = _as_1d(times, "times")
    reached = np.isfinite(t)
    kw = dict(confidence=confidence, n_resamples=n_resamples, seed=seed)
    return CensoredSummary(
        n=int(t.size),
        n_reached=int(reached.sum()),
        frac_reached=bootstrap_ci(reached.astype(np.float64), np.mean, **kw),
        median_reached=median_ci(t[reached], **kw),
        median=median_ci(t, **kw),
    )


# ----------------------------------------------------------------------------------------------------
# Wilcoxon signed-rank test.


class WilcoxonResult(NamedTuple):
    statistic: float  # min(R+, R-) over the non-zero differences (scipy's two-sided convention)
    pvalue: float
    n: int  # number of non-zero differences used
    method: str  # "exact", "permutation", "asymptotic", "scipy" (delegated) or "degenerate"


def _rankdata(a):
    """Average ranks (1-based) of a 1-D array, like scipy.stats.rankdata(method='average')."""
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    new = np.r_[True, sorted_a[1:] != sorted_a[:-1]]
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    counts = np.diff(np.r_[starts, a.size])
    avg = starts + (counts + 1) / 2.0
    ranks = np.empty(a.size)
    ranks[order] = avg[group]
    return ranks, counts


def _exact_null_counts(n):
    """Number of subsets of {1..n} with each rank sum 0..n(n+1)/2 (the exact null of R+ times 2**n)."""
    m = n * (n + 1) // 2
    c = np.zeros(m + 1, dtype=np.float64)
    c[0] = 1.0
    for k in range(1, n + 1):
        c[k:] = c[k:] + c[:-k].copy()
    return c


def _wilcoxon_numpy(d) -> WilcoxonResult:
    """Two-sided signed-rank test in numpy (zero_method='wilcox'); mirrors scipy's method='auto'."""
    d = np.asarray(d, dtype=np.float64)
    n_zero = int((d == 0).sum())
    d = d[d != 0]
    n = d.size
    if n == 0:
        return WilcoxonResult(0.0, 1.0, 0, "degenerate")
    r, counts = _rankdata(np.abs(d))
    r_plus = float(r[d > 0].sum())
    r_minus = float(r[d < 0].sum())
    stat = min(r_plus, r_minus)
    has_ties = bool((counts > 1).any())
    if not has_ties and n_zero == 0 and n <= 50:
        c = _exact_null_counts(n)
        total = 2.0**n
        cdf = np.cumsum(c) / total
        sf = np.cumsum(c[::-1])[::-1] / total  # sf[k] = P(R+ >= k)
        k_floor, k_ceil = int(math.floor(r_plus)), int(math.ceil(r_plus))
        p = 2.0 * min(sf[k_floor], cdf[k_ceil])
        return WilcoxonResult(stat, float(min(1.0, p)), n, "exact")
    if n + n_zero <= 13:
        # Exact conditional distribution of R+ over all 2**n sign flips of the observed ranks.
        signs = ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(np.float64)
        null = signs @ r
        eps = 1e-9 * max(1.0, r.sum())
        p_greater = float(np.mean(null >= r_plus - eps))
        p_less = float(np.mean(null <= r_plus + eps))
        return WilcoxonResult(stat, float(min(1.0, 2.0 * min(p_greater, p_less))), n, "permutation")
    mean = n * (n + 1) / 4.0
    var = n * (n + 1) * (2 * n + 1) / 24.0 - float((counts**3 - counts).sum()) / 48.0
    if var <= 0:
        return WilcoxonResult(stat, 1.0, n, "degenerate")
    z = (r_plus - mean) / math.sqrt(var)
    p = math.erfc(abs(z) / math.sqrt(2.0))  # 2 * (1 - Phi(|z|))
    return WilcoxonResult(stat, float(min(1.0, p)), n, "asymptotic")


def wilcoxon_signed_rank(x, y, *, use_scipy: bool = False) -> WilcoxonResult:
    r"""Two-sided paired Wilcoxon signed-rank test of ``x - y`` (one pair per seed).

    Zero differences are dropped (Wilcoxon's method); when all differences are zero the result is
    ``p = 1`` (method ``"degenerate"``) rather than NaN. Infinite values are allowed when both sides are
    comparable (``inf - inf`` counts as a zero difference: two censored runs tie). ``use_scipy=True``
    delegates to :func:`scipy.stats.wilcoxon` (``ImportError`` without scipy); the default numpy implementation
    follows the same rules (see the module docstring).
    """
    x = _as_1d(x, "x")
    y = _as_1d(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must be paired (same length), got {x.shape} and {y.shape}")
    both_inf = np.isinf(x) & np.isinf(y) & (np.sign(x) == np.sign(y))
    big = np.where(np.isfinite(np.r_[x, y]), np.abs(np.r_[x, y]), 0.0).max() * 4.0 + 1.0
    xs = np.clip(np.where(both_inf, 0.0, x), -big, big)
    ys = np.clip(np.where(both_inf, 0.0, y), -big, big)
    d = xs - ys
    if not (d != 0).any():
        return WilcoxonResult(0.0, 1.0, 0, "degenerate")
    if use_scipy:
        from scipy import stats as sps

        res = sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided", method="auto")
        return WilcoxonResult(float(res.statistic), float(res.pvalue), int((d != 0).sum()), "scipy")
    return _wilcoxon_numpy(d)


def holm(pvalues) -> np.ndarray:
    r"""Holm (1979) step-down adjusted p-values: :math:`\tilde p_{(i)} = \max_{j\le i} \min(1, (m-j+1) p_{(j)})`."""
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1 or np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"pvalues must be a 1-D array of values in [0, 1], got {p!r}")
    m = p.size
    order = np.argsort(p, kind="mergesort")
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adj = np.maximum.accumulate(adj)
    out = np.empty(m)
    out[order] = adj
    return out


class Comparison(NamedTuple):
    """Ranking of K groups and their paired comparison with the best one (see :func:`compare_to_best`)."""

    order: np.ndarray  # group indices, best first
    rank: np.ndarray  # (K,) 1-based rank of each group
    best: int  # index of the best group
    pvalue: np.ndarray  # (K,) raw two-sided Wilcoxon p-value vs the best (NaN for the best itself)
    pvalue_holm: np.ndarray  # (K,) Holm-adjusted p-values (NaN for the best)
    significant: np.ndarray  # (K,) bool: adjusted p < alpha (False for the best)


def compare_to_best(values, *, tiebreak=None, alpha: float = 0.05, use_scipy: bool = False) -> Comparison:
    r"""Rank K groups by their median over seeds (lower is better) and test each against the best.

    Args:
      values: ``(K, S)`` per-group, per-seed values, lower is better; ``+inf`` allowed (censored/diverged).
        Seeds are paired across groups (column ``s`` of every row shares its data order).
      tiebreak: optional ``(K, S)`` secondary values (lower is better) whose medians break ties of the
        primary medians (e.g. the area under the loss curve when many schemes share a steps-to-target).
      alpha: family-wise significance level for Holm's procedure.

    The best group is the first in the order. For every other group the two-sided paired Wilcoxon
    signed-rank p-value of ``values[k] - values[best]`` is computed and Holm-adjusted over the K-1 tests.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] < 1 or v.shape[1] < 1:
        raise ValueError(f"values must have shape (K groups, S seeds), got {v.shape}")
    if np.isnan(v).any():
        raise ValueError("values contain NaN; encode 'never'/'diverged' as +inf")
    med = np.median(v, axis=1)
    if tiebreak is not None:
        t = np.asarray(tiebreak, dtype=np.float64)
        if t.shape != v.shape:
            raise ValueError(f"tiebreak must have the shape of values {v.shape}, got {t.shape}")
        t = np.where(np.isnan(t), np.inf, t)
        tb = np.median(t, axis=1)
    else:
        tb = np.zeros(v.shape[0])
    order = np.lexsort((np.arange(v.shape[0]), tb, med))  # primary med, then tiebreak, then index
    best = int(order[0])
    rank = np.empty(v.shape[0], dtype=np.int64)
    rank[order] = np.arange(1, v.shape[0] + 1)
    p = np.full(v.shape[0], np.nan)
    others = [k for k in range(v.shape[0]) if k != best]
    for k in others:
        p[k] = wilcoxon_signed_rank(v[k], v[best], use_scipy=use_scipy).pvalue
    p_holm = np.full(v.shape[0], np.nan)
    if others:
        p_holm[others] = holm(p[others])
    sig = np.zeros(v.shape[0], dtype=bool)
    sig[others] = p_holm[others] < alpha
    return Comparison(order=order, rank=rank, best=best, pvalue=p, pvalue_holm=p_holm, significant=sig)
