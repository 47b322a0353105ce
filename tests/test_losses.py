"""jaxnn.losses: values (optax, closed forms, hand cases), interface, errors."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.experimental import checkify

from jaxnn import losses as L

RNG = np.random.default_rng(0)
P = RNG.normal(size=(4, 3)).astype(np.float32)
T = RNG.normal(size=(4, 3)).astype(np.float32)
LOGITS = (2 * RNG.normal(size=(5, 4))).astype(np.float32)
IDS = np.array([0, 3, 1, 2, 3], dtype=np.int32)
PROBS = RNG.dirichlet(np.ones(4), size=5).astype(np.float32)

# name -> (callable(predictions, targets, **kw), predictions, targets)
ELEMENTWISE = {
    "mean_squared_error": (L.mse, P, T),
    "mean_absolute_error": (L.mae, P, T),
    "huber": (L.huber, P, T),
    "smooth_l1": (functools.partial(L.smooth_l1, beta=0.5), P, T),
    "log_cosh": (L.log_cosh, P, T),
    "mean_squared_log_error": (L.msle, np.abs(P), np.abs(T)),
    "mean_absolute_percentage_error": (L.mape, P, T),
    "poisson": (L.poisson, P, np.abs(T)),
    "gaussian_nll": (functools.partial(L.gaussian_nll, log_variance=P * 0.3), P, T),
    "binary_cross_entropy": (L.binary_cross_entropy, P, (T > 0) * 1.0),
    "binary_focal": (L.binary_focal, P, (T > 0) * 1.0),
    "hinge": (L.hinge, P, np.sign(T)),
    "squared_hinge": (L.squared_hinge, P, np.sign(T)),
}
PER_ROW = {
    "categorical_cross_entropy": (L.categorical_cross_entropy, LOGITS, IDS),
    "categorical_cross_entropy_probs": (L.categorical_cross_entropy, LOGITS, PROBS),
    "categorical_focal": (L.categorical_focal, LOGITS, IDS),
    "multiclass_hinge": (L.hinge, LOGITS, IDS),
    "kl_divergence": (L.kl_divergence, LOGITS, PROBS),
    "cosine_distance": (L.cosine_distance, LOGITS, PROBS),
}
ALL = {**ELEMENTWISE, **PER_ROW}


def close(a, b, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


# ---------------------------------------------------------------- values ----


def test_huber_hand_case():
    p = jnp.array([-2, 0.5, 0, 0.5, 2, 4, 132.0])
    t = jnp.array([0, -0.5, 0, 1, 1, 2, 0.3])
    close(L.huber(p, t, reduction="none"), [1.5, 0.5, 0, 0.125, 0.5, 1.5, 131.2])
    close(L.huber(p, t), np.mean([1.5, 0.5, 0, 0.125, 0.5, 1.5, 131.2]))


@pytest.mark.parametrize("delta", [0.3, 1.0, 2.5])
def test_huber_matches_optax_and_smooth_l1_is_huber_over_beta(delta):
    p, t = 3 * P, T
    close(L.huber(p, t, delta=delta, reduction="none"), optax.huber_loss(p, t, delta=delta))
    e = np.abs(p - t).astype(np.float64)
    torch_smooth_l1 = np.where(e < delta, 0.5 * e**2 / delta, e - 0.5 * delta)
    close(L.smooth_l1(p, t, beta=delta, reduction="none"), torch_smooth_l1)


def test_regression_values_against_references():
    p, t = P.astype(np.float64), T.astype(np.float64)
    none = dict(reduction="none")
    close(L.mse(P, T, **none), optax.squared_error(P, T))
    close(L.mae(P, T, **none), np.abs(p - t))
    close(L.log_cosh(P, T, **none), optax.log_cosh(P, T), rtol=2e-5)
    close(L.log_cosh(P, T, **none), np.log(np.cosh(p - t)), rtol=2e-6)
    ap, at = np.abs(p), np.abs(t)
    close(L.msle(np.abs(P), np.abs(T), **none), (np.log1p(ap) - np.log1p(at)) ** 2)
    close(L.mape(P, T, **none), 100 * np.abs(p - t) / np.abs(t), rtol=1e-5)
    close(L.poisson(P, np.abs(T), **none), np.exp(p) - at * p)
    close(
        L.poisson(np.abs(P), np.abs(T), log_input=False, **none),
        ap - at * np.log(ap + np.finfo(np.float32).eps),
        rtol=1e-5,
    )
    v = np.abs(p) + 0.1
    close(L.gaussian_nll(P, T, variance=v.astype(np.float32), **none), 0.5 * (np.log(v) + (p - t) ** 2 / v))
    close(
        L.gaussian_nll(P, T, log_variance=np.log(v).astype(np.float32), full=True, **none),
        0.5 * (np.log(v) + (p - t) ** 2 / v) + 0.5 * np.log(2 * np.pi),
    )
    close(L.gaussian_nll(P, T, variance=2.0, **none), 0.5 * (np.log(2.0) + (p - t) ** 2 / 2.0))


def test_binary_cross_entropy_values():
    y = (T > 0).astype(np.float32)
    none = dict(reduction="none")
    close(L.binary_cross_entropy(P, y, **none), optax.sigmoid_binary_cross_entropy(P, y))
    close(L.binary_cross_entropy(P, y.astype(np.int32), **none), optax.sigmoid_binary_cross_entropy(P, y))
    close(
        L.binary_cross_entropy(P, y, label_smoothing=0.2, **none),
        optax.sigmoid_binary_cross_entropy(P, optax.smooth_labels(np.stack([1 - y, y], -1), 0.2)[..., 1]),
    )
    pw = np.array([1.0, 2.0, 0.5], np.float32)
    x = P.astype(np.float64)
    ls = -np.logaddexp(0, -x)
    lq = -np.logaddexp(0, x)
    close(L.binary_cross_entropy(P, y, pos_weight=pw, **none), -(pw * y * ls + (1 - y) * lq))
    prob = 1 / (1 + np.exp(-x))
    close(
        L.binary_cross_entropy(prob.astype(np.float32), y, from_logits=False, **none),
        -(y * np.log(prob) + (1 - y) * np.log(1 - prob)),
        rtol=1e-4,
    )


def test_categorical_cross_entropy_values():
    onehot = jax.nn.one_hot(IDS, 4)
    ref = optax.softmax_cross_entropy_with_integer_labels(LOGITS, IDS)
    close(L.categorical_cross_entropy(LOGITS, IDS, reduction="none"), ref)
    close(L.categorical_cross_entropy(LOGITS, onehot, reduction="none"), ref)
    close(L.categorical_cross_entropy(LOGITS, PROBS, reduction="none"), optax.softmax_cross_entropy(LOGITS, PROBS))
    close(
        L.categorical_cross_entropy(LOGITS, IDS, label_smoothing=0.1, reduction="none"),
        optax.softmax_cross_entropy(LOGITS, optax.smooth_labels(onehot, 0.1)),
    )
    # Class axis elsewhere.
    close(L.categorical_cross_entropy(LOGITS.T, IDS, axis=0, reduction="none"), ref)
    # Probabilities: -sum y log p.
    sm = jax.nn.softmax(LOGITS)
    close(L.categorical_cross_entropy(sm, IDS, from_logits=False, reduction="none"), ref, rtol=1e-4)


def test_class_weights_follow_torch_weighted_mean():
    cw = np.array([1.0, 2.0, 0.5, 3.0], np.float32)
    logp = np.asarray(jax.nn.log_softmax(LOGITS.astype(np.float64)))
    per = -cw[IDS] * logp[np.arange(5), IDS]
    close(L.categorical_cross_entropy(LOGITS, IDS, class_weights=cw, reduction="none"), per)
    close(L.categorical_cross_entropy(LOGITS, IDS, class_weights=cw), per.sum() / cw[IDS].sum())
    # torch with label smoothing s: (1-s) w_y (-log p_y) + s/K sum_k w_k(-log p_k)
    s = 0.2
    per_s = (1 - s) * per + s / 4 * -(cw * logp).sum(-1)
    close(L.categorical_cross_entropy(LOGITS, IDS, class_weights=cw, label_smoothing=s), per_s.sum() / cw[IDS].sum())


def test_focal_values():
    y = (T > 0).astype(np.float32)
    for gamma, alpha in [(2.0, None), (0.5, 0.25), (0.0, None)]:
        close(
            L.binary_focal(P, y, gamma=gamma, alpha=alpha, reduction="none"),
            optax.sigmoid_focal_loss(P, y, gamma=gamma, alpha=alpha),
            rtol=1e-5,
        )
    close(L.focal(P, y, reduction="none"), optax.sigmoid_focal_loss(P, y, gamma=2.0))
    soft = np.clip(0.5 + 0.3 * T, 0, 1).astype(np.float32)  # soft labels
    close(
        L.binary_focal(P, soft, gamma=1.5, alpha=0.3, reduction="none"),
        optax.sigmoid_focal_loss(P, soft, gamma=1.5, alpha=0.3),
        rtol=1e-5,
    )
    # gamma = 0 is plain cross-entropy.
    close(L.categorical_focal(LOGITS, IDS, gamma=0.0), L.categorical_cross_entropy(LOGITS, IDS))
    p = np.asarray(jax.nn.softmax(LOGITS.astype(np.float64)))
    py = p[np.arange(5), IDS]
    close(L.categorical_focal(LOGITS, IDS, gamma=2.0, reduction="none"), -((1 - py) ** 2) * np.log(py), rtol=1e-5)
    close(
        L.focal(LOGITS, IDS, multiclass=True, gamma=0.5, reduction="none"), -((1 - py) ** 0.5) * np.log(py), rtol=1e-5
    )
    close(
        L.categorical_focal(LOGITS, jax.nn.one_hot(IDS, 4), gamma=2.0, reduction="none"),
        -((1 - py) ** 2) * np.log(py),
        rtol=1e-5,
    )


def test_margin_and_distribution_values():
    y = np.sign(T)
    close(L.hinge(P, y, reduction="none"), optax.losses.hinge_loss(P, y))
    close(
        L.hinge(P, (y > 0).astype(np.int32), reduction="none"), optax.losses.hinge_loss(P, y)
    )  # {0, 1} labels read as {-1, +1}
    close(L.squared_hinge(P, y, reduction="none"), optax.losses.hinge_loss(P, y) ** 2)
    close(L.hinge(LOGITS, IDS, reduction="none"), optax.losses.multiclass_hinge_loss(LOGITS, IDS))
    close(L.squared_hinge(LOGITS, IDS, reduction="none"), optax.losses.multiclass_hinge_loss(LOGITS, IDS) ** 2)
    close(
        L.kl_divergence(LOGITS, PROBS, reduction="none"),
        optax.kl_divergence(jax.nn.log_softmax(LOGITS), PROBS),
        atol=1e-5,
    )
    close(
        L.kl_divergence(jax.nn.softmax(LOGITS), PROBS, from_logits=False, reduction="none"),
        optax.kl_divergence(jax.nn.log_softmax(LOGITS), PROBS),
        atol=1e-5,
    )
    close(L.cosine_distance(LOGITS, PROBS, reduction="none"), optax.cosine_distance(LOGITS, PROBS), atol=1e-6)


# ------------------------------------------------ reductions / weights ----


@pytest.mark.parametrize("name", sorted(ALL))
def test_reductions_weights_and_where(name):
    fn, p, t = ALL[name]
    none = np.asarray(fn(p, t, reduction="none"), np.float64)
    ex_shape = none.shape
    chex.assert_shape(none, p.shape if name in ELEMENTWISE else p.shape[:-1])
    close(fn(p, t), none.mean(), rtol=1e-5)
    close(fn(p, t, reduction="sum"), none.sum(), rtol=1e-5)
    w = RNG.uniform(0.5, 2.0, size=ex_shape[:1]).astype(np.float32)
    wb = w.reshape(w.shape + (1,) * (len(ex_shape) - 1)) * np.ones(ex_shape)
    close(fn(p, t, weights=w), (wb * none).sum() / wb.sum(), rtol=1e-5)
    close(fn(p, t, weights=w, reduction="sum"), (wb * none).sum(), rtol=1e-5)
    close(fn(p, t, weights=w, reduction="none"), wb * none, rtol=1e-5)
    m = np.ones(ex_shape, bool)
    m.flat[::2] = False
    close(fn(p, t, where=m), none[m].mean(), rtol=1e-5)
    close(fn(p, t, where=m, reduction="none"), np.where(m, none, 0), rtol=1e-5)
    close(fn(p, t, where=np.zeros(ex_shape, bool)), 0.0)


def test_elementwise_mean_is_over_all_elements():
    # (N, D): "none" keeps (N, D), "mean" averages every unmasked element, and
    # a per-row mask / weight of shape (N,) broadcasts over D.
    chex.assert_shape(L.mse(P, T, reduction="none"), (4, 3))
    rows = np.array([True, False, True, True])
    close(L.mse(P, T, where=rows), ((P - T) ** 2)[rows].mean(), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(ALL))
def test_jit_and_vmap_agree(name):
    fn, p, t = ALL[name]
    eager = fn(p, t, reduction="none")
    close(jax.jit(lambda a, b: fn(a, b, reduction="none"))(p, t), eager, rtol=1e-5, atol=1e-6)
    batched = jax.vmap(lambda a, b: fn(a, b))(p[None].repeat(2, 0), t[None].repeat(2, 0))
    close(batched, [fn(p, t)] * 2, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------- gradients ----


GRAD_CASES = {
    "mse": lambda p, t: L.mse(p, t),
    "mae": lambda p, t: L.mae(p, t),
    "huber": lambda p, t: L.huber(p, t, delta=0.7),
    "smooth_l1": lambda p, t: L.smooth_l1(p, t, beta=0.7),
    "log_cosh": lambda p, t: L.log_cosh(3 * p, t),
    "msle": lambda p, t: L.msle(jnp.abs(p) + 0.1, jnp.abs(t)),
    "mape": lambda p, t: L.mape(p, t),
    "poisson": lambda p, t: L.poisson(p, jnp.abs(t)),
    "poisson_rate": lambda p, t: L.poisson(jnp.abs(p) + 0.1, jnp.abs(t), log_input=False),
    "gaussian_nll": lambda p, t: L.gaussian_nll(p, t, variance=p**2 + 0.5),
    "bce": lambda p, t: L.binary_cross_entropy(p, (t > 0) * 0.8, pos_weight=2.0),
    "bce_probs": lambda p, t: L.binary_cross_entropy(jax.nn.sigmoid(p), (t > 0) * 1.0, from_logits=False),
    "binary_focal": lambda p, t: L.binary_focal(p, (t > 0) * 0.9, gamma=1.5),
    "cce": lambda p, t: L.categorical_cross_entropy(
        p, jnp.array([0, 2, 1, 1]), label_smoothing=0.1, class_weights=jnp.array([1.0, 2.0, 0.5])
    ),
    "cce_probs": lambda p, t: L.categorical_cross_entropy(p, jax.nn.softmax(t)),
    "categorical_focal": lambda p, t: L.categorical_focal(p, jnp.array([0, 2, 1, 1]), gamma=0.5, label_smoothing=0.1),
    "hinge": lambda p, t: L.squared_hinge(p, jnp.sign(t)),
    "kl": lambda p, t: L.kl_divergence(p, jax.nn.softmax(t)),
    "cosine": lambda p, t: L.cosine_distance(p, t),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_check_grads(name):
    with jax.enable_x64(True):
        p = jnp.asarray(P, jnp.float64)
        t = jnp.asarray(T, jnp.float64)
        jax.test_util.check_grads(
            jax.jit(lambda a: GRAD_CASES[name](a, t)),
            (p,),
            order=1,
            modes=("fwd", "rev"),
            eps=1e-4,
            atol=1e-5,
            rtol=1e-5,
        )


def test_integer_labels_equal_one_hot_with_masks_smoothing_weights():
    onehot = jax.nn.one_hot(IDS, 4)
    cw = jnp.array([1.0, 2.0, 0.5, 3.0])
    where = jnp.array([True, True, False, True, True])
    for fn in (L.categorical_cross_entropy, functools.partial(L.categorical_focal, gamma=1.5)):
        for kw in [
            dict(),
            dict(label_smoothing=0.15),
            dict(label_smoothing=0.15, class_weights=cw, where=where),
            dict(class_weights=cw, weights=jnp.arange(1.0, 6.0)),
        ]:
            f_int = lambda x, kw=kw, fn=fn: fn(x, IDS, **kw)
            f_hot = lambda x, kw=kw, fn=fn: fn(x, onehot, **kw)
            close(f_int(LOGITS), f_hot(LOGITS), rtol=1e-6)
            close(jax.grad(f_int)(LOGITS), jax.grad(f_hot)(LOGITS), atol=1e-6)
    # ignore_index == masking that row.
    ids = IDS.copy()
    ids[2] = -100
    f_ign = lambda x: L.categorical_cross_entropy(x, ids, ignore_index=-100, label_smoothing=0.1, class_weights=cw)
    f_hot = lambda x: L.categorical_cross_entropy(x, onehot, where=where, label_smoothing=0.1, class_weights=cw)
    close(f_ign(LOGITS), f_hot(LOGITS), rtol=1e-6)
    close(jax.grad(f_ign)(LOGITS), jax.grad(f_hot)(LOGITS), atol=1e-6)
    # An in-range ignore_index (e.g. a background class) is masked too.
    close(
        L.categorical_cross_entropy(LOGITS, IDS, ignore_index=3),
        L.categorical_cross_entropy(LOGITS, IDS, where=IDS != 3),
        rtol=1e-6,
    )


# ------------------------------------------------------ bad labels ----


def test_out_of_range_labels_are_masked_zeros():
    ids = np.array([0, 7, 1, -1, 3], np.int32)
    f = lambda x: L.categorical_cross_entropy(x, ids, reduction="none")
    out = jax.jit(f)(LOGITS)
    assert out[1] == 0 and out[3] == 0 and np.all(np.asarray(out)[[0, 2, 4]] > 0)
    g = jax.grad(lambda x: L.categorical_cross_entropy(x, ids))(LOGITS)
    assert np.all(np.asarray(g)[[1, 3]] == 0)
    close(
        L.categorical_cross_entropy(LOGITS, ids),
        L.categorical_cross_entropy(LOGITS, IDS, where=np.array([1, 0, 1, 0, 1], bool)),
        rtol=1e-6,
    )
    close(L.hinge(LOGITS, ids, reduction="none")[1], 0.0)


def test_check_labels_eager_and_checkify():
    L.check_labels(IDS, 4)
    L.check_labels(np.array([0, -100, 2]), 4, ignore_index=-100)
    with pytest.raises(ValueError, match=r"outside \[0, 4\)"):
        L.check_labels(np.array([0, 4, -1]), 4)
    with pytest.raises(TypeError, match="integer"):
        L.check_labels(np.array([0.0, 1.0]), 4)

    def loss(x, y):
        return L.categorical_cross_entropy(x, L.check_labels(y, 4))

    checked = checkify.checkify(jax.jit(loss))
    err, val = checked(LOGITS, IDS)
    assert err.get() is None
    close(val, L.categorical_cross_entropy(LOGITS, IDS))
    err, _ = checked(LOGITS, np.array([0, 5, 1, 2, 3], np.int32))
    with pytest.raises(checkify.JaxRuntimeError, match="outside"):
        err.throw()


# ----------------------------------------------------------- errors ----


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_shape_mismatch_raises_naming_both_shapes(name):
    fn, p, t = ELEMENTWISE[name]
    p1, t1 = p[:, 0], t[:, :1]
    with pytest.raises(ValueError) as e:
        jax.jit(lambda a, b: fn(a, b))(p1, t1)
    assert "(4,)" in str(e.value) and "(4, 1)" in str(e.value)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="reduction='avg'"):
        L.mse(P, T, reduction="avg")
    for d in (0.0, -1.0):
        with pytest.raises(ValueError, match="delta"):
            L.huber(P, T, delta=d)
        with pytest.raises(ValueError, match="beta"):
            L.smooth_l1(P, T, beta=d)
    for s in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="label_smoothing"):
            L.categorical_cross_entropy(LOGITS, IDS, label_smoothing=s)
        with pytest.raises(ValueError, match="label_smoothing"):
            L.binary_cross_entropy(P, T > 0, label_smoothing=s)
    with pytest.raises(TypeError, match="targets"):
        L.mse(P, np.ones((4, 3), np.int32))
    with pytest.raises(TypeError, match="predictions"):
        L.huber(np.ones((4, 3), np.int32), T)
    with pytest.raises(TypeError, match="integer"):
        L.categorical_cross_entropy(LOGITS, IDS.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(5, 4\)"):
        L.categorical_cross_entropy(LOGITS, PROBS[:, :3])
    with pytest.raises(ValueError, match="binary_cross_entropy"):
        L.categorical_cross_entropy(P[:, :1], np.ones((4, 1), np.int32))
    with pytest.raises(ValueError, match="class_weights"):
        L.categorical_cross_entropy(LOGITS, IDS, class_weights=jnp.ones(3))
    with pytest.raises(ValueError, match="ignore_index"):
        L.categorical_cross_entropy(LOGITS, PROBS, ignore_index=0)
    with pytest.raises(TypeError, match="boolean"):
        L.mse(P, T, where=np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="weights"):
        L.mse(P, T, weights=np.ones(3))  # (3,) is not a prefix of (4, 3)
    with pytest.raises(ValueError, match="where"):
        L.categorical_cross_entropy(LOGITS, IDS, where=np.ones((5, 4), bool))
    with pytest.raises(ValueError, match="variance"):
        L.gaussian_nll(P, T)
    with pytest.raises(ValueError, match="gamma"):
        L.binary_focal(P, T > 0, gamma=-1.0)
    with pytest.raises(ValueError, match="axis"):
        L.categorical_cross_entropy(LOGITS, IDS, axis=2)
    with pytest.raises(ValueError, match="pos_weight"):
        L.binary_cross_entropy(P, T > 0, pos_weight=np.ones(4))
    # All of these are trace-time errors: they also raise under jit.
    with pytest.raises(ValueError, match="label_smoothing"):
        jax.jit(lambda x: L.categorical_cross_entropy(x, IDS, label_smoothing=1.0))(LOGITS)


def test_get_by_name_and_aliases():
    assert L.get("mse") is L.mean_squared_error
    assert L.get("MAE") is L.mean_absolute_error
    assert L.get("huber") is L.huber
    assert L.get("binary-crossentropy") is L.binary_cross_entropy
    assert L.get("sparse_categorical_crossentropy") is L.categorical_cross_entropy
    assert L.get("softmax_cross_entropy") is L.categorical_cross_entropy
    assert L.get("sigmoid_focal_loss") is L.binary_focal
    assert L.get("kld") is L.kl_divergence
    for n in L.names():
        assert callable(L.get(n))
    with pytest.raises(ValueError, match="valid names: .*mean_squared_error"):
        L.get("nope")


def test_default_mean_is_grad_friendly():
    params = jnp.ones((3, 1))
    x = jnp.asarray(P)
    y = jnp.asarray(T[:, :1])
    g = jax.grad(lambda w: L.mse(x @ w, y))(params)
    chex.assert_shape(g, (3, 1))
    assert np.all(np.isfinite(g))
