"""Regression with outliers: Huber versus mean squared error, judged on clean held-out data.

``datasets.synthetic_regression`` corrupts 10% of the *training* targets with heavy-tailed noise
(10 x Student-t with 2 degrees of freedom, like a faulty thermometer's readings) and leaves the test
targets clean. MSE weighs an error ``e`` by ``e^2``, so a few huge outliers dominate its gradient and drag
the fit; Huber (Huber 1964) is quadratic for ``|e| <= delta`` and linear beyond, so each outlier pulls
with force at most ``delta`` (0.5 here, in units of the clean targets' standard deviation). The same
network, initialization and data order are trained with each loss; the clean test MSE and R^2 show which
one learned the underlying function.

    python examples/huber_outliers.py --steps 3000
"""

import argparse
import functools

import jax
import optax

from jaxnn import datasets, initializers, losses, metrics, models, train


def main(steps: int = 3000, seed: int = 0) -> dict:
    data_seed, init_key, data_key = jax.random.split(jax.random.key(seed), 3)
    ds = datasets.synthetic_regression(data_seed, 2000, outlier_fraction=0.1, outlier_scale=10.0)
    sizes = [ds.x_train.shape[1], 32, ds.info.output_dim]
    params = models.mlp_init(init_key, sizes, w_init=initializers.he_normal(), b_init=initializers.zeros)
    out = {"train_outlier_fraction": float(ds.info.train_outliers.mean())}
    for name, loss_fn in [("mse", losses.mean_squared_error), ("huber", functools.partial(losses.huber, delta=0.5))]:
        result = train.fit(
            params,
            (ds.x_train, ds.y_train),
            key=data_key,
            apply_fn=models.mlp_apply,
            loss_fn=loss_fn,
            optimizer=optax.adam(1e-3),
            steps=steps,
            batch_size=64,
        )
        pred = models.mlp_apply(result.params, ds.x_test)
        out[f"{name}_test_mse"] = float(losses.mean_squared_error(pred, ds.y_test))
        out[f"{name}_test_r2"] = float(metrics.r2(pred, ds.y_test))
    for name, value in out.items():
        print(f"{name:>22s}: {value:.4f}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(steps=args.steps, seed=args.seed)
