"""Run every example with a reduced step count and check that it learns (far better than chance)."""

import importlib.util
import math
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"jaxnn_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_covered():
    assert {p.stem for p in EXAMPLES.glob("*.py")} == {
        "digits_cce",
        "regression_mse",
        "binary_bce_prior_bias",
        "huber_outliers",
        "flax_dense",
        "flax_cnn_schemes",
        "equinox_mlp",
        "haiku_mlp",
        "flax_nnx",
    }


@pytest.mark.parametrize("name", ["digits_cce", "flax_dense"])
def test_digits_examples(name, capsys):
    out = _load(name).main(steps=300)
    assert "test_accuracy" in capsys.readouterr().out
    # chance is 0.1; the full 1500 steps reach ~0.97
    assert out["test_accuracy"] > 0.85, out
    assert out["test_loss"] < 0.5 * out["initial_test_loss"], out


def test_regression_mse_example():
    out = _load("regression_mse").main(steps=200)
    # predicting the mean scores R^2 = 0; ridge regression about 0.49 on this split
    assert out["test_r2"] > 0.3, out
    assert out["initial_test_r2"] < 0.0
    assert math.isclose(out["test_rmse"] ** 2 / out["test_mse_standardized"], 77.4865**2, rel_tol=1e-3)


def test_binary_prior_bias_example():
    out = _load("binary_bce_prior_bias").main(steps=150)
    p = out["positive_rate"]
    # zero output weights: the initial loss is exactly the entropy of the prior (prior bias) or log 2
    h = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    assert math.isclose(out["base_rate_entropy"], h, rel_tol=1e-5)
    assert math.isclose(out["initial_train_loss_prior_bias"], h, rel_tol=1e-4), out
    assert math.isclose(out["initial_train_loss_zero_bias"], math.log(2), rel_tol=1e-4), out
    # always predicting the majority class scores 1 - p ~ 0.63
    assert out["test_accuracy"] > 0.9, out


def test_huber_outliers_example():
    out = _load("huber_outliers").main(steps=800)
    assert abs(out["train_outlier_fraction"] - 0.1) < 5 * math.sqrt(0.1 * 0.9 / 1500)
    # on clean held-out targets Huber learns the function; MSE is dragged by the outliers
    assert out["huber_test_r2"] > 0.4, out
    assert out["huber_test_mse"] < 0.5 * out["mse_test_mse"], out


@pytest.mark.parametrize("name", ["equinox_mlp", "haiku_mlp", "flax_nnx"])
def test_bring_your_own_model_examples(name, capsys):
    out = _load(name).main(steps=300)
    assert "test_accuracy" in capsys.readouterr().out
    assert out["test_accuracy"] > 0.85, out
    assert out["test_loss"] < 0.5 * out["initial_test_loss"], out
    if name == "equinox_mlp":  # (out, in) weights drawn with fan_in = in: He std sqrt(2/64) within sampling error
        assert abs(out["first_weight_std"] / out["he_std"] - 1) < 0.05, out
    if name == "haiku_mlp":  # reinit zeroed the output layer: uniform predictions
        assert math.isclose(out["initial_test_loss"], math.log(10), rel_tol=1e-5), out
    if name == "flax_nnx":
        assert math.isclose(out["hidden_bias_init"], 0.01, rel_tol=1e-6), out


def test_flax_cnn_schemes_example(capsys):
    out = _load("flax_cnn_schemes").main(steps=60, seeds=2)
    assert "he_normal" in capsys.readouterr().out
    assert out["ranking"][-1] == "zeros", out
    assert out["test_accuracy"]["he_normal"] > 0.8 > 0.2 > out["test_accuracy"]["zeros"], out
