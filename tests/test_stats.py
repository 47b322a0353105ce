"""Tests for jaxnn.bench.stats: bootstrap coverage, censoring, the signed-rank test, Holm, ranking."""

import math

import numpy as np
import pytest

from jaxnn.bench import stats

scipy_stats = pytest.importorskip("scipy.stats")


# ---------------------------------------------------------------------------------------------------
# Bootstrap CI


def test_bootstrap_ci_covers_true_median_at_about_nominal_rate():
    # Exponential(1) samples of 25 "seeds": true median ln 2. The percentile bootstrap of the median is known
    # to cover at close to (slightly under) its nominal 95% at this size. With 400 replicates the binomial sd
    # of the observed coverage is ~0.011, so [0.88, 0.99] is ~6 sd wide below and excludes a broken interval
    # (e.g. a 50% or 99.9% one) by a wide margin.
    rng = np.random.default_rng(123)
    reps, n = 400, 25
    true_median = math.log(2.0)
    covered = 0
    widths = []
    for r in range(reps):
        x = rng.exponential(1.0, size=n)
        ci = stats.median_ci(x, n_resamples=1000, seed=r)
        covered += ci.lo <= true_median <= ci.hi
        widths.append(ci.hi - ci.lo)
        assert ci.lo <= ci.value <= ci.hi
    coverage = covered / reps
    assert 0.88 <= coverage <= 0.99, coverage
    # And an 80% interval covers less often than the 95% one (the level is honoured, not ignored).
    rng = np.random.default_rng(7)
    cov80 = np.mean(
        [
            (lambda c: c.lo <= true_median <= c.hi)(
                stats.median_ci(rng.exponential(size=n), confidence=0.8, n_resamples=1000, seed=i)
            )
            for i in range(300)
        ]
    )
    assert 0.68 <= cov80 <= 0.90, cov80


def test_bootstrap_ci_is_deterministic_and_matches_point_statistic():
    x = np.arange(10.0)
    a = stats.bootstrap_ci(x, np.mean, seed=3)
    b = stats.bootstrap_ci(x, np.mean, seed=3)
    assert a == b
    assert a.value == pytest.approx(4.5)
    # The bootstrap distribution of the mean has sd ~ s/sqrt(n); the 95% CI half-width is ~1.96 of that.
    half = 1.96 * x.std() / math.sqrt(x.size)
    assert a.hi - a.lo == pytest.approx(2 * half, rel=0.15)


def test_bootstrap_ci_edge_cases():
    assert all(math.isnan(v) for v in stats.median_ci([]))
    assert stats.median_ci([2.5]) == (2.5, 2.5, 2.5)
    ci = stats.median_ci([1.0, 2.0, 3.0, np.inf, np.inf, np.inf, np.inf])
    assert ci.value == np.inf and ci.hi == np.inf and np.isfinite(ci.lo)
    ci = stats.median_ci([np.inf] * 4)
    assert ci == (np.inf, np.inf, np.inf)
    with pytest.raises(ValueError, match="NaN"):
        stats.median_ci([1.0, np.nan])
    with pytest.raises(ValueError, match="confidence"):
        stats.median_ci([1.0, 2.0], confidence=1.5)
    with pytest.raises(ValueError, match="1-D"):
        stats.median_ci(np.zeros((2, 2)))


# ---------------------------------------------------------------------------------------------------
# Steps to target, area, censoring


def test_steps_to_target_first_crossing_and_censoring():
    steps = np.array([0, 10, 20, 30])
    curves = np.array(
        [
            [2.0, 1.0, 0.3, 0.1],  # reaches 0.3 at step 20 (at-or-below counts)
            [2.0, 0.2, 0.5, 0.1],  # first crossing at 10 even though it goes back up
            [2.0, 1.0, 0.9, 0.8],  # never -> inf (censored)
            [2.0, np.nan, np.nan, np.nan],  # diverged -> NaN never counts as reached
        ]
    )
    np.testing.assert_array_equal(stats.steps_to_target(steps, curves, 0.3), [20, 10, np.inf, np.inf])
    acc = np.array([[0.1, 0.5, 0.95, 0.97]])
    np.testing.assert_array_equal(stats.steps_to_target(steps, acc, 0.9, higher_is_better=True), [20])
    with pytest.raises(ValueError, match="shape"):
        stats.steps_to_target(steps, curves[:, :3], 0.3)
    with pytest.raises(ValueError, match="target"):
        stats.steps_to_target(steps, curves, np.nan)


def test_area_under_curve_closed_form():
    steps = np.array([0.0, 10.0, 20.0, 40.0])
    # A linear curve l(s) = 1 - s/40 has mean 0.5 over [0, 40]; the trapezoid rule is exact for it.
    assert stats.area_under_curve(steps, 1 - steps / 40) == pytest.approx(0.5)
    curves = np.stack([np.full(4, 3.0), np.array([1.0, np.inf, np.nan, 1.0])])
    np.testing.assert_array_equal(stats.area_under_curve(steps, curves), [3.0, np.inf])


def test_censored_summary():
    t = np.array([10.0, 20.0, 30.0, np.inf, np.inf])
    s = stats.censored_summary(t)
    assert s.n == 5 and s.n_reached == 3
    assert s.frac_reached.value == pytest.approx(0.6)
    assert 0.0 <= s.frac_reached.lo <= 0.6 <= s.frac_reached.hi <= 1.0
    assert s.median_reached.value == 20.0
    assert s.median.value == 30.0  # 3 of 5 reached: the censored median is finite
    s = stats.censored_summary(np.array([10.0, np.inf, np.inf]))
    assert s.median.value == np.inf and s.median_reached.value == 10.0
    s = stats.censored_summary(np.array([np.inf, np.inf]))
    assert s.n_reached == 0 and math.isnan(s.median_reached.value) and s.frac_reached.value == 0.0


# ---------------------------------------------------------------------------------------------------
# Wilcoxon signed-rank


def test_wilcoxon_exact_closed_form():
    # 5 positive differences, no ties: R+ = 15 is the most extreme of 2**5 sign patterns: p = 2/32.
    d = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    for use_scipy in (False, True):
        r = stats.wilcoxon_signed_rank(d, np.zeros(5), use_scipy=use_scipy)
        assert r.pvalue == pytest.approx(2 / 32)
        assert r.statistic == 0.0
    assert stats._wilcoxon_numpy(d).method == "exact"


@pytest.mark.parametrize("case", ["exact", "permutation", "asymptotic"])
def test_wilcoxon_numpy_matches_scipy(case):
    rng = np.random.default_rng({"exact": 0, "permutation": 1, "asymptotic": 2}[case])
    for _ in range(20):
        if case == "exact":
            n = int(rng.integers(3, 30))
            x, y = rng.normal(size=n) + 0.3, rng.normal(size=n)
        elif case == "permutation":  # ties and zeros, <= 13 pairs
            n = int(rng.integers(4, 13))
            x, y = rng.integers(0, 5, n).astype(float), rng.integers(0, 5, n).astype(float)
        else:  # ties and zeros, many pairs (steps on an eval grid)
            n = int(rng.integers(16, 60))
            x, y = 10.0 * rng.integers(0, 8, n), 10.0 * rng.integers(1, 9, n)
        if not (x - y != 0).any():
            continue
        ours = stats.wilcoxon_signed_rank(x, y, use_scipy=False)
        ref = scipy_stats.wilcoxon(x - y, zero_method="wilcox", method="auto")
        assert ours.pvalue == pytest.approx(float(ref.pvalue), rel=1e-6, abs=1e-12), (x, y)
        assert ours.statistic == pytest.approx(float(ref.statistic))


def test_wilcoxon_degenerate_and_censored():
    r = stats.wilcoxon_signed_rank([np.inf, 1.0], [np.inf, 1.0])
    assert r.pvalue == 1.0 and r.method == "degenerate"
    # A censored run (inf) loses to a finite one and is usable in the test.
    x = np.array([np.inf] * 8)
    y = np.arange(1.0, 9.0)
    assert stats.wilcoxon_signed_rank(x, y, use_scipy=False).pvalue < 0.01
    with pytest.raises(ValueError, match="paired"):
        stats.wilcoxon_signed_rank([1.0, 2.0], [1.0])


def test_holm_matches_definition():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    # sorted: 0.01*4=0.04, 0.03*3=0.09, 0.04*2=0.08 -> max-accumulated 0.09, 0.5*1 -> 0.5
    np.testing.assert_allclose(stats.holm(p), [0.04, 0.09, 0.09, 0.5])
    with pytest.raises(ValueError):
        stats.holm([0.5, 1.5])


def test_compare_to_best_ranks_and_detects_large_effects_only():
    rng = np.random.default_rng(0)
    s = 16
    base = rng.normal(100, 5, size=s)
    values = np.stack(
        [
            base + 50,  # clearly worse
            base,  # the best
            base + rng.normal(0, 5, s),  # same distribution: not significant
            np.full(s, np.inf),  # never reaches the target
        ]
    )
    c = stats.compare_to_best(values)
    assert c.best in (1, 2) and c.order[-1] == 3 and c.order[-2] == 0
    other = 3 - c.best  # the other of the two equally good groups
    assert c.rank[c.best] == 1
    assert c.significant[0] and c.significant[3] and not c.significant[other] and not c.significant[c.best]
    assert math.isnan(c.pvalue[c.best])
    rest = [0, other, 3]
    assert (c.pvalue_holm[rest] >= c.pvalue[rest]).all()
    # Tie-break by a secondary metric when the primary medians are equal.
    v = np.array([[10.0, 10, 10], [10.0, 10, 10]])
    c = stats.compare_to_best(v, tiebreak=np.array([[2.0, 2, 2], [1.0, 1, 1]]))
    assert c.best == 1 and c.pvalue[0] == 1.0
    with pytest.raises(ValueError, match="shape"):
        stats.compare_to_best(np.zeros(3))


def test_median_band_brackets_the_median_and_matches_a_by_hand_bootstrap():
    rng = np.random.default_rng(3)
    c = rng.normal(size=(9, 4))
    c[2, 1] = np.inf  # ignored, like NaN
    c[:, 3] = np.nan  # no finite value: NaN out
    med, lo, hi = stats.median_band(c, n_resamples=500, seed=7)
    finite = np.where(np.isfinite(c), c, np.nan)
    np.testing.assert_allclose(med[:3], np.nanmedian(finite[:, :3], axis=0))
    assert np.all(lo[:3] <= med[:3]) and np.all(med[:3] <= hi[:3]) and np.all(lo[:3] < hi[:3])
    idx = np.random.default_rng(7).integers(0, 9, size=(500, 9))
    boot = np.nanmedian(finite[idx][:, :, 0], axis=1)
    np.testing.assert_allclose([lo[0], hi[0]], np.quantile(boot, [0.025, 0.975]))
    assert np.isnan(med[3]) and np.isnan(lo[3]) and np.isnan(hi[3])
    with pytest.raises(ValueError, match="curves must have shape"):
        stats.median_band(np.zeros(5))
