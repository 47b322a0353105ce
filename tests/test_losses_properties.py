"""jaxnn.losses: property tests (hypothesis) on fixed shapes (one compile)."""

import functools

import jax
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxnn import losses as L

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)
SHAPE = (3, 4)
reals = hnp.arrays(np.float32, SHAPE, elements=st.floats(-50, 50, width=32, allow_nan=False, allow_infinity=False))
probs = hnp.arrays(np.float32, SHAPE, elements=st.floats(0, 1, width=32))
ids = hnp.arrays(np.int32, SHAPE[:1], elements=st.integers(0, SHAPE[1] - 1))
masks = hnp.arrays(np.bool_, SHAPE[:1])
pos_weights = hnp.arrays(np.float32, SHAPE[:1], elements=st.floats(0.125, 3.0, width=32))


def _none(fn, **kw):
    return jax.jit(functools.partial(fn, reduction="none", **kw))


REGRESSION = {  # zero at a perfect prediction, non-negative
    "mse": _none(L.mse),
    "mae": _none(L.mae),
    "huber": _none(L.huber),
    "smooth_l1": _none(L.smooth_l1, beta=0.5),
    "log_cosh": _none(L.log_cosh),
    "msle": _none(L.msle),
    "mape": _none(L.mape),
}
TOL = 1e-6


@SETTINGS
@given(p=reals, t=reals)
def test_regression_nonnegative_and_zero_at_perfect(p, t):
    for name, fn in REGRESSION.items():
        v = np.asarray(fn(p, t))
        assert np.all(v >= 0), name
        assert np.all(np.asarray(fn(t, t)) == 0), name


BCE = _none(L.binary_cross_entropy)
BCE_P = _none(L.binary_cross_entropy, from_logits=False)
BFOCAL = _none(L.binary_focal)
HINGE = _none(L.hinge)
SQHINGE = _none(L.squared_hinge)


@SETTINGS
@given(x=reals, y=probs, q=probs)
def test_binary_losses_nonnegative_and_zero_when_perfect(x, y, q):
    for fn, inp in ((BCE, x), (BFOCAL, x), (BCE_P, q)):
        assert np.all(np.asarray(fn(inp, y)) >= -TOL)
    hard = (y > 0.5).astype(np.float32)
    assert np.all(np.asarray(BCE_P(hard, hard)) == 0)  # p == y in {0, 1}
    pm = 2 * hard - 1
    for fn in (HINGE, SQHINGE):
        assert np.all(np.asarray(fn(x, pm)) >= 0)
        # Zero once the margin y x >= 1.
        assert np.all(np.asarray(fn(pm * (1 + np.abs(x)), pm)) == 0)


CCE = _none(L.categorical_cross_entropy)
CFOCAL = _none(L.categorical_focal)
KL = _none(L.kl_divergence)
COS = _none(L.cosine_distance)
MHINGE = _none(L.hinge)


@SETTINGS
@given(x=reals, y=ids, q=probs)
def test_categorical_losses_nonnegative_and_zero_when_perfect(x, y, q):
    for fn in (CCE, CFOCAL, MHINGE):
        assert np.all(np.asarray(fn(x, y)) >= 0)
    t = q + 1e-3
    t = t / t.sum(-1, keepdims=True)
    assert np.all(np.asarray(KL(x, t)) >= -TOL)
    assert np.all(np.abs(np.asarray(KL(np.log(t), t))) <= 1e-5)  # KL(t||t)=0
    assert np.all(np.asarray(COS(x, q)) >= -TOL)
    assert np.all(np.abs(np.asarray(COS(t, t))) <= 1e-6)


MEAN = jax.jit(
    lambda p, t, w, m: (
        L.huber(p, t),
        L.huber(p, t, reduction="sum"),
        L.huber(p, t, reduction="none"),
        L.huber(p, t, weights=w, where=m),
        L.huber(p, t, weights=w, where=m, reduction="sum"),
        L.huber(p, t, weights=w, where=m, reduction="none"),
    )
)
CE_MEAN = jax.jit(
    lambda x, y, w, m: (
        L.categorical_cross_entropy(x, y, weights=w, where=m, label_smoothing=0.1),
        L.categorical_cross_entropy(x, y, weights=w, where=m, label_smoothing=0.1, reduction="none"),
    )
)


@SETTINGS
@given(p=reals, t=reals, w=pos_weights, m=masks, x=reals, y=ids)
def test_reductions_are_consistent(p, t, w, m, x, y):
    mean, total, none, wmean, wsum, wnone = map(np.asarray, MEAN(p, t, w, m))
    np.testing.assert_allclose(total, none.sum(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mean, total / none.size, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wsum, wnone.sum(), rtol=1e-5, atol=1e-5)
    wb = np.where(m, w, 0)[:, None] * np.ones(SHAPE)
    expect = wsum / wb.sum() if wb.sum() > 0 else 0.0
    np.testing.assert_allclose(wmean, expect, rtol=1e-5, atol=1e-6)
    assert np.all(wnone[~m] == 0)
    cmean, cnone = map(np.asarray, CE_MEAN(x, y, w, m))
    wm = np.where(m, w, 0)
    expect = cnone.sum() / wm.sum() if wm.sum() > 0 else 0.0
    np.testing.assert_allclose(cmean, expect, rtol=1e-5, atol=1e-6)
