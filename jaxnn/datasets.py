"""Small real and synthetic data sets, split and standardized the same way.

Every loader returns a :class:`Dataset` ``(x_train, y_train, x_test, y_test, info)`` of jax arrays:

* features: float32 ``(N, F)``, standardized with the mean and standard deviation of the **training split
  only** (columns that are constant in the training split are centred and left unscaled), so nothing about
  the test rows leaks into the inputs;
* ``task == "multiclass"``: int32 labels ``(N,)`` in ``[0, K)`` -- matches a model with K output logits;
* ``task == "binary"``: float32 labels ``(N, 1)`` in ``{0, 1}`` -- matches one output logit;
* ``task == "regression"``: float32 targets ``(N, 1)``, standardized with training statistics (kept in
  ``info.target_mean`` / ``info.target_std``; ``y * target_std + target_mean`` undoes it).

Splits are deterministic functions of ``seed``. Classification splits are stratified: each class is split
on its own (``round(count * test_fraction)`` of it, at least one row, to the test split), so both splits
hold every class in the overall proportions to within one sample -- the test set is representative.

Real data (``load``) are the small data sets scikit-learn ships, bundled with jaxnn as arrays (``jaxnn/data``,
bit-identical to ``sklearn.datasets.load_*``; loading them imports no scikit-learn); nothing is ever downloaded:

* ``"digits"``: 1797 8x8 handwritten digits, 64 pixel features, 10 classes;
* ``"breast_cancer"``: 569 tumours, 30 features, binary with **1 = malignant** (the minority class, 37%, the
  thing to detect -- a stand-in for spam detection; scikit-learn's own coding is 0 = malignant);
* ``"diabetes"``: 442 patients, 10 raw (unscaled) features, a disease-progression score one year on
  (regression, a stand-in for house prices).

Synthetic data: :func:`synthetic_regression` (heavy-tailed outliers in the
training targets only, for Huber vs MSE) and :func:`synthetic_classification` (imbalanced binary labels, for
``initializers.prior_bias``).

:func:`validation_split` carves a stratified validation split out of a training split, for choosing
hyper-parameters (e.g. the learning rate) without looking at the test split.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn._hmm import (
    HMM,
    HMMLanguage,
    hmm_entropy_rate,
    hmm_language,
    hmm_next_token_logprobs,
    hmm_sample,
    hmm_unigram_entropy,
)

__all__ = [
    "Dataset",
    "DatasetInfo",
    "KNOWN_DATASETS",
    "load",
    "synthetic_regression",
    "synthetic_classification",
    "split_indices",
    "validation_split",
    "HMM",
    "HMMLanguage",
    "hmm_language",
    "hmm_sample",
    "hmm_next_token_logprobs",
    "hmm_entropy_rate",
    "hmm_unigram_entropy",
]


class DatasetInfo(NamedTuple):
    """What a :class:`Dataset` holds.

    Attributes:
      name: the data set's name (``"digits"``, ``"synthetic_regression"``, ...).
      task: ``"multiclass"``, ``"binary"`` or ``"regression"``.
      num_classes: K for classification (2 for binary), ``None`` for regression.
      feature_names: tuple of F column names.
      output_dim: the width of a matching model output: K for multiclass, 1 for binary and regression.
      class_names: tuple of K class names (index = label), ``()`` for regression.
      feature_mean, feature_std: float64 numpy ``(F,)``, the training statistics used to standardize.
      target_mean, target_std: regression target statistics (0.0 and 1.0 for classification and for the
        synthetic regression, whose targets are generated in standardized units).
      train_outliers: for :func:`synthetic_regression`, a numpy bool ``(N_train,)`` mask of the training
        rows whose targets were corrupted; ``None`` otherwise.
    """

    name: str
    task: str
    num_classes: int | None
    feature_names: tuple
    output_dim: int = 1
    class_names: tuple = ()
    feature_mean: np.ndarray | None = None
    feature_std: np.ndarray | None = None
    target_mean: float = 0.0
    target_std: float = 1.0
    train_outliers: np.ndarray | None = None


class Dataset(NamedTuple):
    """A train/test split of jax arrays plus its :class:`DatasetInfo` (see the module docstring)."""

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array
    info: DatasetInfo


# ----------------------------------------------------------------------------------------------------
# The one splitting / standardizing mechanism everything uses.


def _check_fraction(name, value, *, upper=1.0):
    if not isinstance(value, (int, float, np.floating)) or not 0.0 < float(value) < upper:
        raise ValueError(f"{name} must be a number strictly between 0 and {upper}, got {value!r}")
    return float(value)


def split_indices(n: int, labels=None, fraction: float = 0.25, seed: int = 0, what: str = "test"):
    """Deterministic ``(train_idx, held_idx)`` over ``n`` rows; stratified when ``labels`` (int ``(n,)``) is given.

    Each stratum is permuted with ``np.random.default_rng(seed)`` and its first ``round(count * fraction)``
    rows (clipped to [1, count - 1], so both sides keep every class) go to the held-out side.
    """
    rng = np.random.default_rng(seed)
    strata = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    train, held = [], []
    for idx in strata:
        if len(idx) < 2:
            raise ValueError(
                f"cannot split a class with {len(idx)} sample(s) into train and {what} splits "
                f"(every class needs at least 2 samples)"
            )
        k = int(np.clip(round(len(idx) * fraction), 1, len(idx) - 1))
        idx = rng.permutation(idx)
        held.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def _standardize(train, test):
    """(train, test, mean, std) with statistics of ``train`` only; zero-variance columns keep scale 1."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std, mean, std


def _make(name, task, x, y, *, seed, test_fraction, feature_names, class_names=(), standardize_targets=True):
    """Split (stratified for classification), standardize with train statistics, and pack a Dataset."""
    test_fraction = _check_fraction("test_fraction", test_fraction)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    labels = y.astype(np.int64).ravel() if task != "regression" else None
    tr, te = split_indices(len(x), labels, test_fraction, seed)
    x_tr, x_te, f_mean, f_std = _standardize(x[tr], x[te])
    t_mean, t_std = 0.0, 1.0
    if task == "multiclass":
        y_tr, y_te = y[tr].astype(np.int32), y[te].astype(np.int32)
        num_classes = len(class_names)
        output_dim = num_classes
    else:
        y2 = y.reshape(-1, 1).astype(np.float64)
        y_tr, y_te = y2[tr], y2[te]
        if task == "regression" and standardize_targets:
            y_tr, y_te, m, s = _standardize(y_tr, y_te)
            t_mean, t_std = float(m[0]), float(s[0])
        y_tr, y_te = y_tr.astype(np.float32), y_te.astype(np.float32)
        num_classes = 2 if task == "binary" else None
        output_dim = 1
    info = DatasetInfo(
        name=name,
        task=task,
        num_classes=num_classes,
        output_dim=output_dim,
        feature_names=tuple(str(f) for f in feature_names),
        class_names=tuple(str(c) for c in class_names),
        feature_mean=f_mean,
        feature_std=f_std,
        target_mean=t_mean,
        target_std=t_std,
    )
    arrays = (x_tr.astype(np.float32), y_tr, x_te.astype(np.float32), y_te)
    return Dataset(*(jnp.asarray(a) for a in arrays), info), tr


# ----------------------------------------------------------------------------------------------------
# Real data: scikit-learn's small data sets, bundled as arrays (benchmarks/bundle_datasets.py writes them).

_TASKS = {"digits": "multiclass", "breast_cancer": "binary", "diabetes": "regression"}
KNOWN_DATASETS = tuple(sorted(_TASKS))
_DATA = Path(__file__).resolve().parent / "data"


@functools.cache
def _raw(name):
    """``(task, x, y, feature_names, class_names)`` exactly as ``sklearn.datasets.load_<name>`` gives them."""
    with np.load(_DATA / f"{name}.npz") as f:
        x, y, feature_names, target_names = f["x"], f["y"], f["feature_names"], f["target_names"]
    if name == "breast_cancer":
        # scikit-learn codes 0 = malignant, 1 = benign; flip so the positive class is the one to detect.
        return "binary", x, 1 - y, tuple(feature_names), ("benign", "malignant")
    return _TASKS[name], x, y, tuple(feature_names), tuple(str(t) for t in target_names)


def load(name: str, *, seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """Load one of :data:`KNOWN_DATASETS` (the copies bundled with jaxnn), split and standardized.

    Args:
      name: ``"digits"``, ``"breast_cancer"`` or ``"diabetes"``.
      seed: the split seed; the same seed gives the same split, different seeds different ones.
      test_fraction: share of each class (or of all rows, for regression) held out for testing.

    Returns:
      A :class:`Dataset`; see the module docstring for shapes, dtypes and the standardization.

    Raises:
      ValueError: for an unknown name (the message lists the known ones) or a bad ``test_fraction``.
    """
    if name not in _TASKS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(KNOWN_DATASETS)}")
    task, x, y, feature_names, class_names = _raw(name)
    return _make(
        name, task, x, y, seed=seed, test_fraction=test_fraction, feature_names=feature_names, class_names=class_names
    )[0]


# ----------------------------------------------------------------------------------------------------
# Synthetic data.


def _seed_from_key(key):
    return int(jax.random.randint(key, (), 0, np.iinfo(np.int32).max))


def _check_n(n, minimum):
    if not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"n must be an integer >= {minimum}, got {n!r}")


def synthetic_regression(
    key,
    n: int = 1000,
    outlier_fraction: float = 0.1,
    outlier_scale: float = 20.0,
    *,
    num_features: int = 8,
    noise: float = 0.1,
    test_fraction: float = 0.25,
) -> Dataset:
    r"""Smooth non-linear regression whose *training* targets carry heavy-tailed outliers.

    Features ``x ~ N(0, I_F)``; the clean target is ``f(x) = (x @ w + sin(2 x_0)) / c + noise * eps`` with a
    random unit-norm ``w``, ``eps ~ N(0, 1)`` and ``c`` fixed so that ``f`` has roughly unit variance (like a
    daily temperature reading from a few sensors). Each **training** target is then, independently with
    probability ``outlier_fraction``, corrupted by adding ``outlier_scale * t_2`` (Student's t with 2 degrees
    of freedom: heavy-tailed, infinite variance) -- Huber's contamination model
    ``(1 - eps) N + eps H`` (Huber 1964).

    The **test targets are clean** (no outliers), so the test error measures how well a model learned
    ``f`` itself -- which is how Huber and MSE are compared. Targets are left in these standardized units
    (``info.target_mean = 0``, ``info.target_std = 1``): standardizing with contaminated training statistics
    would let the outliers set the scale. Features are standardized with training statistics as usual.
    ``info.train_outliers`` marks the corrupted training rows.
    """
    _check_n(n, 4)
    if not 0.0 <= outlier_fraction < 1.0:
        raise ValueError(f"outlier_fraction must be in [0, 1), got {outlier_fraction!r}")
    if not outlier_scale >= 0.0:
        raise ValueError(f"outlier_scale must be >= 0, got {outlier_scale!r}")
    kx, kw, kn, ko, kt, ks = jax.random.split(key, 6)
    x = jax.random.normal(kx, (n, num_features))
    w = jax.random.normal(kw, (num_features,))
    w = w / jnp.linalg.norm(w)
    signal = (x @ w + jnp.sin(2.0 * x[:, 0])) / jnp.sqrt(1.5)  # Var(x @ w) = 1, Var(sin 2x_0) ~ 1/2
    y = signal + noise * jax.random.normal(kn, (n,))
    ds, train_idx = _make(
        "synthetic_regression",
        "regression",
        np.asarray(x),
        np.asarray(y),
        seed=_seed_from_key(ks),
        test_fraction=test_fraction,
        standardize_targets=False,
        feature_names=[f"x{i}" for i in range(num_features)],
    )
    n_train = len(train_idx)
    mask = jax.random.bernoulli(ko, outlier_fraction, (n_train, 1))
    kz, ke = jax.random.split(kt)
    # Student t_2 = Z / sqrt(chi2_2 / 2) and chi2_2 / 2 ~ Exponential(1): exact, and much cheaper to
    # compile on CPU than jax.random.t's gamma sampler.
    t2 = jax.random.normal(kz, (n_train, 1)) / jnp.sqrt(jax.random.exponential(ke, (n_train, 1)))
    offsets = outlier_scale * t2
    y_train = ds.y_train + jnp.where(mask, offsets, 0.0).astype(ds.y_train.dtype)
    info = ds.info._replace(train_outliers=np.asarray(mask[:, 0]))
    return ds._replace(y_train=y_train, info=info)


def synthetic_classification(
    key,
    n: int = 2000,
    positive_fraction: float = 0.05,
    *,
    num_features: int = 8,
    separation: float = 2.0,
    test_fraction: float = 0.25,
) -> Dataset:
    """Imbalanced binary classification: labels ``~ Bernoulli(positive_fraction)``, Gaussian classes.

    ``x | y ~ N(y * separation * u, I_F)`` for a random unit vector ``u`` (the Bayes error is
    ``Phi(-separation / 2)`` at balanced priors, lower at skewed ones). With rare positives, a model whose
    output bias starts at ``log(p / (1 - p))`` (``initializers.prior_bias(p)``) predicts the base rate at
    step 0 instead of 50%, and skips the first phase of training spent learning it (Karpathy 2019, "A
    recipe for training neural networks"; Lin et al. 2017, focal loss, section 3.3). The split is stratified.
    """
    _check_n(n, 8)
    if not 0.0 < positive_fraction < 1.0:
        raise ValueError(f"positive_fraction must be strictly between 0 and 1, got {positive_fraction!r}")
    ky, kx, ku, ks = jax.random.split(key, 4)
    y = jax.random.bernoulli(ky, positive_fraction, (n,))
    u = jax.random.normal(ku, (num_features,))
    x = jax.random.normal(kx, (n, num_features)) + separation * y[:, None] * (u / jnp.linalg.norm(u))
    y = np.asarray(y, dtype=np.int64)
    if y.sum() < 2 or (n - y.sum()) < 2:
        raise ValueError(
            f"synthetic_classification drew {int(y.sum())} positives out of n={n}; each class needs at least "
            "2 samples to appear in both splits -- increase n or positive_fraction"
        )
    return _make(
        "synthetic_classification",
        "binary",
        np.asarray(x),
        y,
        seed=_seed_from_key(ks),
        test_fraction=test_fraction,
        feature_names=[f"x{i}" for i in range(num_features)],
        class_names=("negative", "positive"),
    )[0]


# ----------------------------------------------------------------------------------------------------
# Validation split.


def validation_split(dataset: Dataset, fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Carve a validation split out of ``dataset``'s training split, for hyper-parameter selection.

    Returns a :class:`Dataset` whose ``(x_train, y_train)`` are the remaining training rows and whose
    ``(x_test, y_test)`` are the **validation** rows, so anything that takes a Dataset (a sweep, ``fit``'s
    ``eval_data``) runs on it unchanged. The original test split is dropped: selection never sees it.
    Stratified for classification (every class on both sides). Deterministic in ``seed``.

    The arrays are not re-standardized: they keep the scaling fitted on the whole original training split
    (validation rows included). That is a mild, deliberate simplification -- it only touches the
    validation side of a selection step, never the test split. For synthetic regression, validation
    targets are carved from the (contaminated) training targets, and ``info.train_outliers`` is subset to
    the remaining training rows.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a jaxnn.datasets.Dataset, got {type(dataset).__name__}")
    fraction = _check_fraction("fraction", fraction)
    y = np.asarray(dataset.y_train)
    labels = y.astype(np.int64).ravel() if dataset.info.task != "regression" else None
    tr, va = split_indices(len(y), labels, fraction, seed, what="validation")
    info = dataset.info
    if info.train_outliers is not None:
        info = info._replace(train_outliers=info.train_outliers[tr])
    x = dataset.x_train
    return Dataset(x[tr], dataset.y_train[tr], x[va], dataset.y_train[va], info)
