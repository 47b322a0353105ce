"""Datasets: shapes and dtypes, train-only standardization, deterministic stratified splits, synthetic data."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sklearn.datasets as skd

from jaxnn import datasets

RAW = {
    "digits": lambda: (skd.load_digits().data, skd.load_digits().target),
    "breast_cancer": lambda: (skd.load_breast_cancer().data, 1 - skd.load_breast_cancer().target),
    "diabetes": lambda: (skd.load_diabetes(scaled=False).data, skd.load_diabetes(scaled=False).target),
}
EXPECTED = {  # name: (task, N, F, num_classes, output_dim)
    "digits": ("multiclass", 1797, 64, 10, 10),
    "breast_cancer": ("binary", 569, 30, 2, 1),
    "diabetes": ("regression", 442, 10, None, 1),
}
CLASSIFICATION = ["digits", "breast_cancer"]


def _np(ds):
    return [np.asarray(a, np.float64) for a in ds[:4]]


def _sorted_rows(a):
    return a[np.lexsort(a.T[::-1])]


@pytest.mark.parametrize("name", datasets.KNOWN_DATASETS)
def test_shapes_dtypes_and_info(name):
    ds = datasets.load(name)
    task, n, f, k, out = EXPECTED[name]
    info = ds.info
    assert (info.name, info.task, info.num_classes, info.output_dim) == (name, task, k, out)
    assert len(info.feature_names) == f and all(isinstance(s, str) for s in info.feature_names)
    assert all(isinstance(a, jax.Array) for a in ds[:4])
    n_test = ds.x_test.shape[0]
    assert ds.x_train.shape == (n - n_test, f) and ds.x_test.shape == (n_test, f)
    assert abs(n_test - 0.25 * n) <= (k or 1)  # per-class rounding moves the total by < 1 per class
    assert ds.x_train.dtype == ds.x_test.dtype == jnp.float32
    if task == "multiclass":
        assert ds.y_train.dtype == jnp.int32 and ds.y_train.shape == (n - n_test,)
        assert len(info.class_names) == k
    else:
        assert ds.y_train.dtype == jnp.float32 and ds.y_train.shape == (n - n_test, 1)
        assert ds.y_test.shape == (n_test, 1)
    if task == "binary":
        assert set(np.unique(ds.y_train)) <= {0.0, 1.0}
        assert info.class_names[1] == "malignant"
        # 212 malignant tumours in the data set, and they are class 1
        assert int(ds.y_train.sum() + ds.y_test.sum()) == 212


@pytest.mark.parametrize("name", datasets.KNOWN_DATASETS)
def test_standardized_with_training_statistics_only(name):
    ds = datasets.load(name, seed=3)
    x_tr, y_tr, x_te, y_te = _np(ds)
    std = x_tr.std(0)
    live = std > 1e-3  # digits has pixels that are always 0 in the training split
    np.testing.assert_allclose(x_tr.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(std[live], 1.0, atol=1e-4)
    np.testing.assert_array_equal(std[~live], 0.0)
    # the test split is scaled with the training statistics, so it is not exactly standardized itself
    assert np.max(np.abs(x_te.mean(0))) > 1e-2
    # undoing the scaling gives back exactly the raw rows, and the statistics are those of the train rows
    x_raw, y_raw = RAW[name]()
    info = ds.info
    back_tr = x_tr * info.feature_std + info.feature_mean
    back = np.concatenate([back_tr, x_te * info.feature_std + info.feature_mean])
    np.testing.assert_allclose(_sorted_rows(back), _sorted_rows(x_raw), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(info.feature_mean, back_tr.mean(0), rtol=1e-5, atol=1e-5)
    assert not np.allclose(info.feature_mean, x_raw.mean(0), rtol=1e-6, atol=0)
    if info.task == "regression":
        np.testing.assert_allclose([y_tr.mean(), y_tr.std()], [0.0, 1.0], atol=1e-5)
        assert abs(y_te.mean()) > 1e-3
        y_back = np.concatenate([y_tr, y_te]).ravel() * info.target_std + info.target_mean
        np.testing.assert_allclose(np.sort(y_back), np.sort(y_raw), rtol=1e-5)
        np.testing.assert_allclose(info.target_mean, (y_tr.ravel() * info.target_std + info.target_mean).mean())


@pytest.mark.parametrize("name", datasets.KNOWN_DATASETS)
def test_split_is_deterministic_and_depends_on_seed(name):
    a, b, c = datasets.load(name, seed=7), datasets.load(name, seed=7), datasets.load(name, seed=8)
    for u, v in zip(a[:4], b[:4]):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.x_test, c.x_test)
    assert a.x_test.shape == c.x_test.shape


@pytest.mark.parametrize("name", CLASSIFICATION)
@pytest.mark.parametrize("test_fraction", [0.25, 0.5, 0.1])
def test_stratified_every_class_in_both_splits(name, test_fraction):
    ds = datasets.load(name, seed=1, test_fraction=test_fraction)
    y_tr = np.asarray(ds.y_train).astype(int).ravel()
    y_te = np.asarray(ds.y_test).astype(int).ravel()
    k = ds.info.num_classes
    total = np.bincount(np.concatenate([y_tr, y_te]), minlength=k)
    n_tr, n_te = np.bincount(y_tr, minlength=k), np.bincount(y_te, minlength=k)
    assert np.all(n_tr > 0) and np.all(n_te > 0)
    # each class split in the overall proportion to within one sample
    assert np.all(np.abs(n_te - test_fraction * total) <= 1), (n_te, test_fraction * total)
    assert np.all(np.abs(n_tr - (1 - test_fraction) * total) <= 1)


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*breast_cancer, diabetes, digits"):
        datasets.load("mnist")


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, "0.2"])
def test_bad_test_fraction(bad):
    with pytest.raises(ValueError, match="test_fraction"):
        datasets.load("digits", test_fraction=bad)


@pytest.mark.parametrize("name", datasets.KNOWN_DATASETS)
def test_bundled_arrays_are_scikit_learns(name):
    # jaxnn/data/<name>.npz must be bit-identical to what scikit-learn ships (benchmarks/bundle_datasets.py).
    x_raw, y_raw = RAW[name]()
    _, x, y, _, _ = datasets._raw(name)
    assert x.dtype == x_raw.dtype and np.array_equal(x, x_raw)
    assert y.dtype == y_raw.dtype and np.array_equal(y, y_raw)


def test_load_imports_no_scikit_learn():
    code = "import sys, jaxnn.datasets as d; d.load('digits'); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_synthetic_regression_outliers_only_in_training_targets():
    key = jax.random.key(11)
    n, p = 4000, 0.15
    clean = datasets.synthetic_regression(key, n, outlier_fraction=0.0, outlier_scale=20.0)
    dirty = datasets.synthetic_regression(key, n, outlier_fraction=p, outlier_scale=20.0)
    assert dirty.info.task == "regression" and dirty.y_train.shape == (dirty.x_train.shape[0], 1)
    assert dirty.y_train.dtype == jnp.float32 and (dirty.info.target_mean, dirty.info.target_std) == (0.0, 1.0)
    mask = dirty.info.train_outliers
    assert mask.shape == (dirty.x_train.shape[0],) and mask.dtype == bool
    assert not clean.info.train_outliers.any()
    # the requested fraction, within 5 binomial standard deviations
    n_tr = mask.size
    assert abs(mask.mean() - p) < 5 * np.sqrt(p * (1 - p) / n_tr)
    # same key: features, test targets and clean training rows are identical; only masked rows moved
    for u, v in [(clean.x_train, dirty.x_train), (clean.x_test, dirty.x_test), (clean.y_test, dirty.y_test)]:
        np.testing.assert_array_equal(u, v)
    y_c, y_d = np.asarray(clean.y_train)[:, 0], np.asarray(dirty.y_train)[:, 0]
    np.testing.assert_array_equal(y_c[~mask], y_d[~mask])
    assert np.all(y_c[mask] != y_d[mask])
    # clean targets are ~unit scale; outliers are heavy-tailed and large
    assert 0.7 < np.std(y_c) < 1.4 and np.max(np.abs(clean.y_test)) < 6
    assert np.median(np.abs(y_d[mask] - y_c[mask])) > 5.0
    assert np.max(np.abs(y_d[mask] - y_c[mask])) > 100.0


def test_synthetic_regression_is_learnable_and_deterministic():
    a = datasets.synthetic_regression(jax.random.key(0), 1000, 0.1, 10.0)
    b = datasets.synthetic_regression(jax.random.key(0), 1000, 0.1, 10.0)
    c = datasets.synthetic_regression(jax.random.key(1), 1000, 0.1, 10.0)
    for u, v in zip(a[:4], b[:4]):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.y_test, c.y_test)
    # a least-squares linear fit on clean train rows explains most of the clean test variance
    x_tr, y_tr, x_te, y_te = _np(a)
    keep = ~a.info.train_outliers
    xa = np.c_[x_tr[keep], np.ones(keep.sum())]
    w = np.linalg.lstsq(xa, y_tr[keep], rcond=None)[0]
    pred = np.c_[x_te, np.ones(len(x_te))] @ w
    r2 = 1 - np.sum((y_te - pred) ** 2) / np.sum((y_te - y_te.mean()) ** 2)
    assert r2 > 0.6


@pytest.mark.parametrize("p", [0.05, 0.2])
def test_synthetic_classification_is_imbalanced_and_stratified(p):
    n = 4000
    ds = datasets.synthetic_classification(jax.random.key(2), n, positive_fraction=p)
    assert ds.info.task == "binary" and ds.info.output_dim == 1
    assert ds.y_train.shape == (ds.x_train.shape[0], 1) and ds.y_train.dtype == jnp.float32
    y_tr, y_te = np.asarray(ds.y_train).ravel(), np.asarray(ds.y_test).ravel()
    y = np.concatenate([y_tr, y_te])
    assert set(np.unique(y)) == {0.0, 1.0}
    assert abs(y.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    assert abs(y_te.sum() - 0.25 * y.sum()) <= 1
    # the classes are separated along one direction: the class-mean gap is about `separation`
    x = np.concatenate(_np(ds)[0::2])
    gap = np.linalg.norm(x[y == 1].mean(0) - x[y == 0].mean(0))
    assert 1.0 < gap < 3.0  # 2.0 in raw units, rescaled by the per-feature standardization


def test_synthetic_bad_arguments():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="outlier_fraction"):
        datasets.synthetic_regression(key, 100, outlier_fraction=1.2)
    with pytest.raises(ValueError, match="positive_fraction"):
        datasets.synthetic_classification(key, 100, positive_fraction=0.0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        datasets.synthetic_classification(key, 10, positive_fraction=0.001)
    with pytest.raises(ValueError, match="n must be"):
        datasets.synthetic_regression(key, 2.5)


@pytest.mark.parametrize("name", datasets.KNOWN_DATASETS)
def test_validation_split_comes_from_training_split(name):
    ds = datasets.load(name, seed=0)
    val = datasets.validation_split(ds, 0.2, seed=5)
    assert (val.info.name, val.info.task, val.info.num_classes) == (ds.info.name, ds.info.task, ds.info.num_classes)
    n_tr = ds.x_train.shape[0]
    assert val.x_train.shape[0] + val.x_test.shape[0] == n_tr
    # every row of both new splits is a row of the old training split; none of the old test split
    old = {r.tobytes() for r in np.asarray(ds.x_train)}
    new = [r.tobytes() for r in np.asarray(jnp.concatenate([val.x_train, val.x_test]))]
    assert set(new) == old and len(set(new)) == len(new)
    assert not ({r.tobytes() for r in np.asarray(ds.x_test)} & set(new))
    again = datasets.validation_split(ds, 0.2, seed=5)
    np.testing.assert_array_equal(again.x_test, val.x_test)
    if ds.info.task != "regression":
        y_old = np.asarray(ds.y_train).astype(int).ravel()
        y_val = np.asarray(val.y_test).astype(int).ravel()
        k = ds.info.num_classes
        assert np.all(np.abs(np.bincount(y_val, minlength=k) - 0.2 * np.bincount(y_old, minlength=k)) <= 1)


def test_validation_split_subsets_outlier_mask_and_checks_input():
    ds = datasets.synthetic_regression(jax.random.key(3), 400, 0.2, 10.0)
    val = datasets.validation_split(ds, 0.25, seed=0)
    assert val.info.train_outliers.shape == (val.x_train.shape[0],)
    with pytest.raises(TypeError, match="Dataset"):
        datasets.validation_split((ds.x_train, ds.y_train), 0.2)
    with pytest.raises(ValueError, match="fraction"):
        datasets.validation_split(ds, 1.0)
