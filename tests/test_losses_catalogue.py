"""The catalogue's newer losses: closed forms, optax agreement, edges, reductions, bad inputs, Keras names."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.experimental import checkify

import jaxnn.losses as L

RNG = np.random.default_rng(0)


def finite(x):
    return bool(np.all(np.isfinite(np.asarray(jax.tree_util.tree_leaves(x)[0]))))


# ---------------------------------------------------------------- closed forms (numpy, torch's formulas)


def test_triplet_margin_torch_formula_and_optax():
    a, p, n = (RNG.normal(size=(5, 3)) for _ in range(3))
    with jax.enable_x64(True):
        for pw in (1, 2, 3):
            d = lambda u, v: np.sum(np.abs(u - v + 1e-6) ** pw, -1) ** (1 / pw)
            want = np.maximum(d(a, p) - d(a, n) + 1.0, 0)
            got = L.triplet_margin(a, p, n, p=pw, reduction="none")
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        # optax adds eps to the sum of powers: equal at eps=0.
        want = optax.losses.triplet_margin_loss(a, p, n, eps=0.0)
        np.testing.assert_allclose(L.triplet_margin(a, p, n, eps=0.0, reduction="none"), want, rtol=1e-12)
    g = jax.grad(lambda x: L.triplet_margin(x, x, x + 1.0, eps=0.0))(jnp.ones((2, 3)))
    assert finite(g)


def test_margin_ranking_hinge_embedding_closed_form():
    x1, x2 = RNG.normal(size=6), RNG.normal(size=6)
    y = np.array([1, -1, 1, -1, 1, -1])
    with jax.enable_x64(True):
        np.testing.assert_allclose(
            L.margin_ranking(x1, x2, y, margin=0.3, reduction="none"),
            np.maximum(0, -y * (x1 - x2) + 0.3),
            rtol=1e-12,
        )
        d = np.abs(x1)
        np.testing.assert_allclose(
            L.hinge_embedding(d, y, margin=1.0, reduction="none"), np.where(y == 1, d, np.maximum(0, 1 - d)), rtol=1e-12
        )


def test_cosine_embedding_closed_form_and_zero_vectors():
    x1, x2 = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    y = np.array([1, -1, 1, -1])
    with jax.enable_x64(True):
        cos = np.sum(x1 * x2, -1) / np.linalg.norm(x1, axis=-1) / np.linalg.norm(x2, axis=-1)
        want = np.where(y == 1, 1 - cos, np.maximum(0, cos - 0.1))
        np.testing.assert_allclose(L.cosine_embedding(x1, x2, y, margin=0.1, reduction="none"), want, rtol=1e-12)
    z = jnp.zeros((2, 3))
    v = L.cosine_embedding(z, z, jnp.array([1, -1]), reduction="none")
    np.testing.assert_allclose(v, [1.0, 0.0])
    g = jax.grad(lambda a: L.cosine_embedding(a, jnp.zeros((2, 3)), jnp.array([1, -1])))(z)
    assert finite(g)


def test_multi_margin_weston_watkins():
    x = RNG.normal(size=(5, 4))
    y = np.array([0, 3, 1, 2, 2])
    cw = np.array([1.0, 2.0, 0.5, 1.5])
    with jax.enable_x64(True):
        for pw in (1, 2):
            t = np.maximum(0, 1.0 - x[np.arange(5), y][:, None] + x) ** pw
            t[np.arange(5), y] = 0
            want = t.sum(-1) / 4
            np.testing.assert_allclose(L.multi_margin(x, y, p=pw, reduction="none"), want, rtol=1e-12)
            np.testing.assert_allclose(
                L.multi_margin(x, y, p=pw, class_weights=cw, reduction="none"), want * cw[y], rtol=1e-12
            )
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        L.multi_margin(x, y, p=3)


def test_ctc_wraps_optax():
    logits = RNG.normal(size=(3, 6, 5))
    labels = np.array([[1, 2, 0], [3, 3, 1], [4, 0, 0]])
    lp = np.zeros((3, 6))
    lp[2, 4:] = 1
    yp = np.array([[0, 0, 1], [0, 0, 0], [0, 1, 1]], float)
    with jax.enable_x64(True):
        want = optax.losses.ctc_loss(logits, lp, labels, yp)
        got = L.ctc(logits, labels, logit_paddings=lp, label_paddings=yp, reduction="none")
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # A masked sequence full of NaN: no value, no gradient.
    bad = logits.astype(np.float32).copy()
    bad[1] = np.nan
    m = np.array([True, False, True])
    f = lambda x: L.ctc(x, labels, logit_paddings=lp, label_paddings=yp, where=m)
    np.testing.assert_allclose(f(bad), f(logits.astype(np.float32)), rtol=1e-6)
    g = jax.grad(f)(jnp.asarray(bad))
    assert finite(g) and np.all(np.asarray(g)[1] == 0)
    with pytest.raises(ValueError, match="blank_id"):
        L.ctc(logits, labels, logit_paddings=lp, label_paddings=yp, blank_id=5)


def test_dice_tversky():
    p = RNG.uniform(size=(3, 4, 4))
    t = (RNG.uniform(size=(3, 4, 4)) > 0.5).astype(float)
    with jax.enable_x64(True):
        tp = (p * t).sum((1, 2))
        want = 1 - (2 * tp + 2.0) / (p.sum((1, 2)) + t.sum((1, 2)) + 2.0)
        np.testing.assert_allclose(L.dice(p, t, reduction="none"), want, rtol=1e-12)
        np.testing.assert_allclose(L.tversky(p, t, alpha=0.5, beta=0.5), L.dice(p, t), rtol=1e-12)
        fp, fn = (p * (1 - t)).sum((1, 2)), ((1 - p) * t).sum((1, 2))
        want = 1 - (tp + 0.3) / (tp + 0.7 * fp + 0.2 * fn + 0.3)
        np.testing.assert_allclose(L.tversky(p, t, alpha=0.7, beta=0.2, smooth=0.3, reduction="none"), want, rtol=1e-12)
        # optax's dice_loss: spatial sums per class, mean over classes (probabilities summing to 1 over classes).
        q = jax.nn.softmax(RNG.normal(size=(2, 5, 5, 3)), axis=-1)
        tt = jax.nn.one_hot(RNG.integers(0, 3, size=(2, 5, 5)), 3)
        want = optax.losses.dice_loss(q, tt, apply_softmax=False)
        got = L.dice(q, tt, axis=(1, 2), reduction="none").mean(-1)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    # Empty targets and empty predictions: 0, finite gradient, also at smooth=0.
    z = jnp.zeros((2, 3))
    for s in (1.0, 0.0):
        assert float(L.dice(z, z, smooth=s)) == 0.0
        assert finite(jax.grad(lambda q, s=s: L.dice(q, z, smooth=s))(z))
        assert finite(jax.grad(lambda q, s=s: L.tversky(q, z, alpha=0.3, beta=0.7, smooth=s))(z))
    with pytest.raises(ValueError, match="predictions must be probabilities in"):
        L.dice(jnp.array([[1.5, 0.0]]), jnp.array([[1.0, 0.0]]))


def test_poly_cross_entropy_and_optax():
    x = RNG.normal(size=(6, 4))
    y = RNG.integers(0, 4, size=6)
    with jax.enable_x64(True):
        logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
        pt = np.exp(logp[np.arange(6), y])
        want = -np.log(pt) + 1.0 * (1 - pt)
        np.testing.assert_allclose(L.poly_cross_entropy(x, y, reduction="none"), want, rtol=1e-12)
        oh = np.eye(4)[y]
        for eps in (-1.0, 2.0):
            o = optax.losses.poly_loss_cross_entropy(x, oh, epsilon=eps)
            np.testing.assert_allclose(L.poly_cross_entropy(x, y, epsilon=eps, reduction="none"), o, rtol=1e-12)
            np.testing.assert_allclose(L.poly_cross_entropy(x, oh, epsilon=eps, reduction="none"), o, rtol=1e-12)
        np.testing.assert_allclose(L.poly_cross_entropy(x, y, epsilon=0.0), L.categorical_cross_entropy(x, y))


def test_sparsemax_wraps_optax():
    x = RNG.normal(size=(5, 4))
    y = RNG.integers(0, 4, size=5)
    with jax.enable_x64(True):
        want = optax.losses.multiclass_sparsemax_loss(x, y)
        np.testing.assert_allclose(L.sparsemax(x, y, reduction="none"), want, rtol=1e-12)
        b = RNG.integers(0, 2, size=(5, 4))
        np.testing.assert_allclose(L.sparsemax(x, b, reduction="none"), optax.losses.sparsemax_loss(x, b), rtol=1e-12)
    with pytest.raises(ValueError, match="labels must be in"):
        L.sparsemax(x, np.full((5, 4), 2))


def test_ntxent_simclr_and_optax():
    z1, z2 = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    with jax.enable_x64(True):
        z = np.concatenate([z1, z2])
        u = z / np.linalg.norm(z, axis=-1, keepdims=True)
        s = u @ u.T / 0.5
        np.fill_diagonal(s, -np.inf)
        pos = (np.arange(8) + 4) % 8
        li = -(s[np.arange(8), pos] - np.log(np.exp(s).sum(-1)))
        np.testing.assert_allclose(
            L.ntxent(z1, z2, temperature=0.5, reduction="none"), (li[:4] + li[4:]) / 2, rtol=1e-12
        )
        o = optax.losses.ntxent(z, np.concatenate([np.arange(4), np.arange(4)]), temperature=0.5)
        np.testing.assert_allclose(L.ntxent(z1, z2, temperature=0.5), o, rtol=1e-12)
        # where removes a pair: equal to dropping it from the batch.
        m = np.array([True, False, True, True])
        np.testing.assert_allclose(L.ntxent(z1, z2, where=m), L.ntxent(z1[m], z2[m]), rtol=1e-12)
    bad = z1.astype(np.float32).copy()
    bad[1] = np.nan
    g = jax.grad(lambda a: L.ntxent(a, z2.astype(np.float32), where=np.array([True, False, True, True])))(bad)
    assert finite(g) and np.all(np.asarray(g)[1] == 0)
    assert finite(jax.grad(lambda a: L.ntxent(a, jnp.zeros((2, 3))))(jnp.zeros((2, 3))))


def test_poisson_full_and_kl_log_target():
    x = RNG.normal(size=6)
    t = np.array([0.0, 1.0, 1.5, 3.0, 7.0, 0.5])
    with jax.enable_x64(True):
        st = np.where(t > 1, t * np.log(np.maximum(t, 1)) - t + 0.5 * np.log(2 * math.pi * np.maximum(t, 1)), 0)
        np.testing.assert_allclose(L.poisson(x, t, full=True, reduction="none"), np.exp(x) - t * x + st, rtol=1e-12)
        q = jax.nn.softmax(RNG.normal(size=(3, 4)))
        x = RNG.normal(size=(3, 4))
        np.testing.assert_allclose(
            L.kl_divergence(x, jnp.log(q), log_target=True), L.kl_divergence(x, q), rtol=1e-12, atol=1e-15
        )
        lx = jax.nn.log_softmax(x)
        want = optax.losses.kl_divergence_with_log_targets(lx, jnp.log(q))
        np.testing.assert_allclose(L.kl_divergence(x, jnp.log(q), log_target=True, reduction="none"), want, rtol=1e-12)


# ---------------------------------------------------------------- interface: jit, vmap, reductions, weights, where

X = RNG.normal(size=(4, 3)).astype(np.float32)
Y = RNG.normal(size=(4, 3)).astype(np.float32)
PM = np.array([1, -1, 1, -1])
IDS = np.array([0, 2, 1, 2])
PROB = RNG.uniform(size=(4, 3)).astype(np.float32)
CASES = {
    "triplet_margin": lambda w=None, m=None, r="mean": L.triplet_margin(X, Y, X * 2, weights=w, where=m, reduction=r),
    "margin_ranking": lambda w=None, m=None, r="mean": L.margin_ranking(
        X[:, 0], Y[:, 0], PM, weights=w, where=m, reduction=r
    ),
    "cosine_embedding": lambda w=None, m=None, r="mean": L.cosine_embedding(X, Y, PM, weights=w, where=m, reduction=r),
    "hinge_embedding": lambda w=None, m=None, r="mean": L.hinge_embedding(
        np.abs(X[:, 0]), PM, weights=w, where=m, reduction=r
    ),
    "multi_margin": lambda w=None, m=None, r="mean": L.multi_margin(X, IDS, weights=w, where=m, reduction=r),
    "dice": lambda w=None, m=None, r="mean": L.dice(PROB, (PROB > 0.5), weights=w, where=m, reduction=r),
    "tversky": lambda w=None, m=None, r="mean": L.tversky(
        PROB, PROB > 0.5, alpha=0.3, beta=0.7, weights=w, where=m, reduction=r
    ),
    "poly_cross_entropy": lambda w=None, m=None, r="mean": L.poly_cross_entropy(
        X, IDS, weights=w, where=m, reduction=r
    ),
    "sparsemax": lambda w=None, m=None, r="mean": L.sparsemax(X, IDS, weights=w, where=m, reduction=r),
    "ntxent": lambda w=None, m=None, r="mean": L.ntxent(X, Y, weights=w, where=m, reduction=r),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reductions_weights_where(name):
    f = CASES[name]
    v = np.asarray(f(r="none"))
    assert v.shape == (4,)
    np.testing.assert_allclose(f(), v.mean(), rtol=1e-6)
    np.testing.assert_allclose(f(r="sum"), v.sum(), rtol=1e-6)
    w = np.array([1.0, 2.0, 0.5, 0.0], np.float32)
    np.testing.assert_allclose(f(w=w), (w * v).sum() / w.sum(), rtol=1e-6)
    if name != "ntxent":  # ntxent's mask also removes negatives, so it is not a mask of the values
        m = np.array([True, False, True, True])
        np.testing.assert_allclose(f(m=m), v[m].mean(), rtol=1e-6)
    assert float(f(m=np.zeros(4, bool))) == 0.0
    with pytest.raises(ValueError, match="reduction"):
        f(r="avg")
    with pytest.raises(ValueError, match="weights has shape"):
        f(w=np.ones(5, np.float32))


def test_jit_and_vmap():
    j = jax.jit(lambda a, b, y: L.cosine_embedding(a, b, y))
    np.testing.assert_allclose(j(X, Y, PM), L.cosine_embedding(X, Y, PM), rtol=1e-6)
    v = jax.vmap(lambda a, b: L.ntxent(a, b))(np.stack([X, Y]), np.stack([Y, X]))
    np.testing.assert_allclose(v, [L.ntxent(X, Y), L.ntxent(Y, X)], rtol=1e-6)
    v = jax.vmap(lambda p: L.dice(p, PROB > 0.5))(np.stack([PROB, PROB]))
    np.testing.assert_allclose(v, [L.dice(PROB, PROB > 0.5)] * 2, rtol=1e-6)
    g = jax.jit(jax.grad(lambda a: L.triplet_margin(a, Y, X * 2)))(X)
    assert finite(g)


# ---------------------------------------------------------------- bad inputs: one-line errors


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: L.triplet_margin(X, Y[:, :2], X), "positive has shape"),
        (lambda: L.triplet_margin(X, Y, X, p=0), "p must be > 0"),
        (lambda: L.margin_ranking(X[:, 0], Y[:, 0], np.array([1, 0, 1, 1])), "y must be in"),
        (lambda: L.margin_ranking(X[:, 0], Y[:, 0], np.ones(3)), "y has shape"),
        (lambda: L.cosine_embedding(X, Y, np.array([1, 2, 1, 1])), "y must be in"),
        (lambda: L.hinge_embedding(X[:, 0], np.array([1, -1, 3, 1])), "y must be in"),
        (lambda: L.multi_margin(X, IDS.astype(float)), "integer"),
        (lambda: L.ntxent(X, Y[:3]), "z1 has shape"),
        (lambda: L.ntxent(X, Y, temperature=0.0), "temperature must be > 0"),
        (lambda: L.dice(PROB, PROB[:2]), "targets has shape"),
        (lambda: L.dice(PROB, PROB, axis=5), "axis"),
        (lambda: L.tversky(PROB, PROB, alpha=-1.0), "alpha must be >= 0"),
        (lambda: L.ctc(X, IDS, logit_paddings=X, label_paddings=X), r"shape \(B, T, K\)"),
        (lambda: L.poly_cross_entropy(X, IDS[:2]), "labels"),
    ],
)
def test_bad_inputs_one_line(call, match):
    with pytest.raises((ValueError, TypeError), match=match) as e:
        call()
    assert "\n" not in str(e.value)


def test_masked_bad_labels_are_not_inspected():
    y = np.array([1, 7, 1, -1])
    m = np.array([True, False, True, True])
    assert np.isfinite(float(L.margin_ranking(X[:, 0], Y[:, 0], y, where=m)))


# ---------------------------------------------------------------- issue 14, item 8: out-of-domain inputs


def test_out_of_domain_inputs_raise_eagerly():
    with pytest.raises(ValueError, match=r"predictions must be probabilities in \[0, 1\]") as e:
        L.binary_cross_entropy(jnp.array([1.5, -0.5]), jnp.array([1.0, 0.0]), from_logits=False)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\]"):
        L.binary_cross_entropy(jnp.array([0.2, 0.1]), jnp.array([2, -1]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\]"):
        L.binary_focal(jnp.array([0.2, 0.1]), jnp.array([2.0, 0.0]))
    with pytest.raises(ValueError, match=r"labels must be in \{-1, 0, 1\}"):
        L.hinge(jnp.array([0.2, 0.1]), jnp.array([3, 1]))
    # Valid soft labels, NaN (propagates by policy) and masked garbage pass.
    assert np.isfinite(float(L.binary_cross_entropy(jnp.array([0.2]), jnp.array([0.3]))))
    assert np.isnan(float(L.binary_cross_entropy(jnp.array([0.2]), jnp.array([np.nan]))))
    v = L.binary_cross_entropy(jnp.array([0.2, 0.1]), jnp.array([1.0, 5.0]), where=jnp.array([True, False]))
    assert np.isfinite(float(v))


def test_validators_eager_and_checkify():
    assert L.check_probabilities(np.array([0.0, 0.5, 1.0])).shape == (3,)
    with pytest.raises(ValueError, match=r"check_probabilities: 2 value\(s\) not in \[0, 1\]"):
        L.check_probabilities(np.array([1.5, -0.5, 0.2]))
    with pytest.raises(ValueError, match="not in"):
        L.check_probabilities(np.array([np.nan]))
    L.check_binary_labels(np.array([0, 1, 1]))
    L.check_binary_labels(np.array([-1, 0, 1]), signed=True)
    with pytest.raises(ValueError, match=r"check_binary_labels: 1 value\(s\) not in \{-1, 0, 1\}"):
        L.check_binary_labels(np.array([3, 1]), signed=True)
    with pytest.raises(ValueError, match="not in"):
        L.check_binary_labels(np.array([2, -1]))

    def bce(p, y):
        L.check_probabilities(p)
        L.check_binary_labels(y)
        return L.binary_cross_entropy(p, y, from_logits=False)

    f = checkify.checkify(jax.jit(bce))
    err, v = f(jnp.array([0.2, 0.9]), jnp.array([0.0, 1.0]))
    assert err.get() is None and np.isfinite(float(v))
    err, _ = f(jnp.array([1.5, 0.9]), jnp.array([0.0, 1.0]))
    assert "check_probabilities: 1 value(s) not in [0, 1], e.g. 1.5" in err.get()
    err, _ = f(jnp.array([0.5, 0.9]), jnp.array([2.0, 1.0]))
    assert "check_binary_labels" in err.get()
    with pytest.raises(Exception, match="check_probabilities"):
        f(jnp.array([1.5, 0.9]), jnp.array([0.0, 1.0]))[0].throw()


# ---------------------------------------------------------------- registry and Keras names


def test_registry_new_names():
    for n in ["triplet_margin", "margin_ranking", "cosine_embedding", "hinge_embedding", "multi_margin", "ctc"]:
        assert L.get(n) is getattr(L, n)
    for n in ["dice", "tversky", "poly_cross_entropy", "sparsemax", "ntxent"]:
        assert L.get(n) is getattr(L, n)
    assert L.get("triplet_margin_loss") is L.triplet_margin
    assert L.get("poly_loss_cross_entropy") is L.poly_cross_entropy
    assert L.get("NT-Xent") is L.ntxent
    assert set(L.__all__) >= {"check_probabilities", "check_binary_labels", "ntxent", "ctc"}


def _bound(f):
    return (f.func, f.keywords) if isinstance(f, functools.partial) else (f, {})


@pytest.mark.parametrize(
    "keras, fn, kw",
    [
        ("MeanSquaredError", L.mean_squared_error, {}),
        ("MeanAbsoluteError", L.mean_absolute_error, {}),
        ("MeanSquaredLogarithmicError", L.mean_squared_log_error, {}),
        ("MeanAbsolutePercentageError", L.mean_absolute_percentage_error, {}),
        ("Huber", L.huber, {}),
        ("LogCosh", L.log_cosh, {}),
        ("BinaryCrossentropy", L.binary_cross_entropy, {"from_logits": False}),
        ("CategoricalCrossentropy", L.categorical_cross_entropy, {"from_logits": False}),
        ("SparseCategoricalCrossentropy", L.categorical_cross_entropy, {"from_logits": False}),
        ("BinaryFocalCrossentropy", L.binary_focal, {"from_logits": False}),
        ("CategoricalFocalCrossentropy", L.categorical_focal, {"from_logits": False, "alpha": 0.25}),
        ("KLDivergence", L.kl_divergence, {"from_logits": False}),
        ("Poisson", L.poisson, {"log_input": False}),
        ("CosineSimilarity", L.cosine_distance, {}),
        ("Hinge", L.hinge, {}),
        ("SquaredHinge", L.squared_hinge, {}),
        ("CategoricalHinge", L.hinge, {}),
        ("Dice", L.dice, {"smooth": 5e-8}),
        ("Tversky", L.tversky, {"alpha": 0.5, "beta": 0.5, "smooth": 1e-7}),
        ("CTC", L.ctc, {}),
    ],
)
def test_keras_class_names(keras, fn, kw):
    assert _bound(L.get(keras)) == (fn, kw)
    assert keras in L.names()


def test_keras_values():
    # Keras formulas, computed by hand.
    p = np.array([[0.1, 0.7, 0.2], [0.3, 0.3, 0.4]])
    y = np.array([1, 2])
    with jax.enable_x64(True):
        want = -np.log(p[np.arange(2), y])
        np.testing.assert_allclose(L.get("SparseCategoricalCrossentropy")(p, y), want.mean(), rtol=1e-6)
        mu, t = np.array([0.5, 2.0]), np.array([1.0, 3.0])
        np.testing.assert_allclose(L.get("Poisson")(mu, t), np.mean(mu - t * np.log(mu + 1e-7)), rtol=1e-6)
        yt = np.array([[0.0, 1.0, 1.0, 0.0]])
        yp = np.array([[0.1, 0.8, 0.6, 0.3]])
        keras_dice = 1 - 2 * (yt * yp).sum() / (yt.sum() + yp.sum() + 1e-7)
        np.testing.assert_allclose(L.get("Dice")(yp, yt), keras_dice, atol=1e-7)
        i = (yt * yp).sum()
        keras_tv = 1 - i / (i + 0.5 * ((1 - yp) * yt).sum() + 0.5 * (yp * (1 - yt)).sum() + 1e-7)
        np.testing.assert_allclose(L.get("Tversky")(yp, yt), keras_tv, atol=1e-7)
    # Exact Keras spelling wins; the lower-case name keeps jaxnn's defaults.
    assert L.get("poisson") is L.poisson and L.get("dice") is L.dice
