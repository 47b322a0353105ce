"""Metrics against scikit-learn and closed forms; jit/vmap; shape and dtype checks at the door."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized
from sklearn.metrics import accuracy_score, r2_score

from jaxnn import metrics


def _rng(seed=0):
    return np.random.default_rng(seed)


class MetricValuesTest(parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_accuracy_matches_sklearn(self):
        rng = _rng(1)
        logits = rng.normal(size=(200, 7)).astype(np.float32)
        labels = rng.integers(0, 7, size=200)
        # make about half right for a non-trivial value
        labels[:100] = logits[:100].argmax(-1)
        got = self.variant(metrics.accuracy)(logits, labels.astype(np.int32))
        chex.assert_shape(got, ())
        np.testing.assert_allclose(got, accuracy_score(labels, logits.argmax(-1)), rtol=0, atol=1e-7)

    @chex.variants(with_jit=True, without_jit=True)
    def test_accuracy_one_hot_labels_equal_int_labels(self):
        rng = _rng(2)
        logits = jnp.asarray(rng.normal(size=(50, 4)), jnp.float32)
        labels = jnp.asarray(rng.integers(0, 4, size=50), jnp.int32)
        a = self.variant(metrics.accuracy)(logits, labels)
        b = self.variant(metrics.accuracy)(logits, jax.nn.one_hot(labels, 4))
        np.testing.assert_array_equal(a, b)

    @chex.variants(with_jit=True, without_jit=True)
    def test_binary_accuracy_matches_sklearn(self):
        rng = _rng(3)
        logits = rng.normal(size=(300, 1)).astype(np.float32)
        labels = (rng.uniform(size=(300, 1)) < 0.3).astype(np.float32)
        got = self.variant(metrics.binary_accuracy)(logits, labels)
        np.testing.assert_allclose(got, accuracy_score(labels.ravel(), (logits > 0).ravel()), atol=1e-7)
        # a threshold of 1 on the logit scale
        got = self.variant(lambda p, y: metrics.binary_accuracy(p, y, threshold=1.0))(logits, labels)
        np.testing.assert_allclose(got, accuracy_score(labels.ravel(), (logits > 1).ravel()), atol=1e-7)

    def test_binary_accuracy_accepts_int_and_bool_labels(self):
        logits = jnp.array([[2.0], [-1.0], [0.5], [-3.0]])
        want = 0.75
        for labels in ([[1], [0], [0], [0]], [[True], [False], [False], [False]], [[1.0], [0.0], [0.0], [0.0]]):
            np.testing.assert_allclose(metrics.binary_accuracy(logits, jnp.asarray(labels)), want)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters((1,), (3,))
    def test_r2_matches_sklearn(self, d):
        rng = _rng(4)
        y = rng.normal(size=(100, d))
        p = y + 0.5 * rng.normal(size=(100, d))
        got = self.variant(metrics.r2)(jnp.asarray(p, jnp.float32), jnp.asarray(y, jnp.float32))
        np.testing.assert_allclose(got, r2_score(y, p), rtol=1e-5)

    def test_r2_closed_forms(self):
        y = jnp.array([1.0, 2.0, 3.0, 4.0])
        np.testing.assert_allclose(metrics.r2(y, y), 1.0)
        np.testing.assert_allclose(metrics.r2(jnp.full(4, 2.5), y), 0.0, atol=1e-7)
        # reversed order: SS_res = 9+1+1+9 = 20, SS_tot = 2.25+0.25+0.25+2.25 = 5
        p = jnp.array([4.0, 3.0, 2.0, 1.0])
        np.testing.assert_allclose(metrics.r2(p, y), 1 - 20.0 / 5.0)

    def test_r2_constant_target_is_finite_like_sklearn(self):
        y = jnp.ones((5, 1))
        np.testing.assert_allclose(metrics.r2(y, y), r2_score(np.ones(5), np.ones(5)))
        p = jnp.arange(5.0).reshape(5, 1)
        np.testing.assert_allclose(metrics.r2(p, y), r2_score(np.ones(5), np.arange(5.0)))
        g = jax.grad(lambda p: metrics.r2(p, y))(p)
        assert np.all(np.isfinite(g))

    def test_r2_grad_is_closed_form(self):
        rng = _rng(5)
        y = jnp.asarray(rng.normal(size=(20,)), jnp.float32)
        p = jnp.asarray(rng.normal(size=(20,)), jnp.float32)
        g = jax.grad(metrics.r2)(p, y)
        ss_tot = jnp.sum((y - y.mean()) ** 2)
        np.testing.assert_allclose(g, 2 * (y - p) / ss_tot, rtol=1e-5)

    def test_vmap_over_a_batch_of_runs(self):
        rng = _rng(6)
        logits = jnp.asarray(rng.normal(size=(4, 30, 3)), jnp.float32)
        labels = jnp.asarray(rng.integers(0, 3, size=30), jnp.int32)
        got = jax.vmap(metrics.accuracy, in_axes=(0, None))(logits, labels)
        want = [metrics.accuracy(logits[i], labels) for i in range(4)]
        np.testing.assert_allclose(got, want)
        y = jnp.asarray(rng.normal(size=(30, 1)), jnp.float32)
        preds = jnp.asarray(rng.normal(size=(4, 30, 1)), jnp.float32)
        got = jax.vmap(metrics.r2, in_axes=(0, None))(preds, y)
        np.testing.assert_allclose(got, [r2_score(y, preds[i]) for i in range(4)], rtol=1e-5)

    @parameterized.parameters(jnp.bfloat16, jnp.float16, jnp.float32)
    def test_low_precision_inputs(self, dtype):
        rng = _rng(7)
        y = rng.normal(size=(64, 1))
        p = y + 0.3 * rng.normal(size=(64, 1))
        yl, pl = jnp.asarray(y, dtype), jnp.asarray(p, dtype)
        got = metrics.r2(pl, yl)
        assert got.dtype == jnp.float32
        want = r2_score(np.asarray(yl, np.float64), np.asarray(pl, np.float64))
        np.testing.assert_allclose(got, want, rtol=1e-4)
        acc = metrics.accuracy(jnp.asarray(rng.normal(size=(10, 3)), dtype), jnp.zeros(10, jnp.int32))
        assert acc.dtype == jnp.float32


class MetricErrorsTest(parameterized.TestCase):
    def test_accuracy_bad_label_shape(self):
        with pytest.raises(ValueError, match=r"\(8, 1\).*\(8,\)"):
            metrics.accuracy(jnp.zeros((8, 3)), jnp.zeros((8, 1), jnp.int32))

    def test_accuracy_float_labels(self):
        with pytest.raises(TypeError, match="integer class ids"):
            metrics.accuracy(jnp.zeros((8, 3)), jnp.zeros((8,)))

    def test_accuracy_needs_classes_axis(self):
        with pytest.raises(ValueError, match="K >= 2"):
            metrics.accuracy(jnp.zeros((8, 1)), jnp.zeros((8,), jnp.int32))

    def test_binary_accuracy_refuses_broadcast(self):
        with pytest.raises(ValueError, match=r"\(8, 1\).*\(8,\)"):
            metrics.binary_accuracy(jnp.zeros((8, 1)), jnp.zeros((8,)))

    def test_r2_refuses_broadcast(self):
        with pytest.raises(ValueError, match=r"\(8,\).*\(8, 1\)"):
            metrics.r2(jnp.zeros((8,)), jnp.zeros((8, 1)))

    def test_r2_needs_two_samples(self):
        with pytest.raises(ValueError, match="at least 2"):
            metrics.r2(jnp.zeros((1, 1)), jnp.zeros((1, 1)))

    def test_integer_predictions(self):
        with pytest.raises(TypeError, match="floating"):
            metrics.r2(jnp.zeros((4,), jnp.int32), jnp.zeros((4,), jnp.int32))

    def test_errors_under_jit(self):
        with pytest.raises(ValueError, match="refusing to broadcast"):
            jax.jit(metrics.binary_accuracy)(jnp.zeros((8, 1)), jnp.zeros((8,)))


def test_get_and_for_task():
    assert metrics.get("accuracy") is metrics.accuracy
    assert metrics.get("acc") is metrics.accuracy
    assert metrics.get("binary_accuracy") is metrics.binary_accuracy
    assert metrics.get("r2_score") is metrics.r2
    assert metrics.for_task("multiclass") is metrics.accuracy
    assert metrics.for_task("binary") is metrics.binary_accuracy
    assert metrics.for_task("regression") is metrics.r2
    with pytest.raises(ValueError, match="known metrics: .*accuracy.*r2"):
        metrics.get("f1")
    with pytest.raises(ValueError, match="multiclass"):
        metrics.for_task("ranking")
