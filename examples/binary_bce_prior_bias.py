"""Binary classification with binary cross-entropy and a prior-bias output (breast cancer, 1 = malignant).

A stand-in for spam detection: 37% of the tumours are malignant, the class to detect. The output bias
starts at ``log(p / (1 - p))`` with ``p`` the training positive rate (``initializers.prior_bias(p)``), so
at step 0 the network already predicts the base rate instead of 50% and does not spend its first steps
learning it (Karpathy 2019, "A recipe for training neural networks"; Lin et al. 2017, section 3.3). The
output weights start at zero, so the initial prediction is exactly ``sigmoid(bias)`` (the hidden layer
still breaks the symmetry: its He-normal weights make the output weights' gradients differ). The same
network with a zero output bias is trained alongside; the initial training losses print next to the
base-rate entropy ``H(p)`` (the loss of predicting ``p`` everywhere) and ``log 2`` (predicting 50%).

    python examples/binary_bce_prior_bias.py --steps 600
"""

import argparse

import jax
import jax.numpy as jnp
import optax

from jaxnn import datasets, initializers, losses, metrics, models, train


def _run(ds, out_bias, init_key, data_key, steps):
    sizes = [ds.x_train.shape[1], 32, ds.info.output_dim]
    params = models.mlp_init(
        init_key, sizes, w_init=[initializers.he_normal(), initializers.zeros], b_init=[initializers.zeros, out_bias]
    )
    return train.fit(
        params,
        (ds.x_train, ds.y_train),
        key=data_key,
        apply_fn=models.mlp_apply,
        loss_fn=losses.binary_cross_entropy,  # on logits
        optimizer=optax.adam(1e-3),
        steps=steps,
        batch_size=32,
        eval_data=(ds.x_test, ds.y_test),
        eval_every=max(1, steps // 10),
        metric=metrics.binary_accuracy,
    )


def main(steps: int = 600, seed: int = 0) -> dict:
    ds = datasets.load("breast_cancer", seed=seed)
    init_key, data_key = jax.random.split(jax.random.key(seed))
    p = float(jnp.mean(ds.y_train))
    prior = _run(ds, initializers.prior_bias(p), init_key, data_key, steps)
    zero = _run(ds, initializers.zeros, init_key, data_key, steps)
    logits = models.mlp_apply(prior.params, ds.x_test)
    out = {
        "positive_rate": p,
        "base_rate_entropy": float(-(p * jnp.log(p) + (1 - p) * jnp.log1p(-p))),
        "initial_train_loss_prior_bias": float(prior.history["train_loss"][0]),
        "initial_train_loss_zero_bias": float(zero.history["train_loss"][0]),
        "test_loss": float(losses.binary_cross_entropy(logits, ds.y_test)),
        "test_accuracy": float(metrics.binary_accuracy(logits, ds.y_test)),
        "test_accuracy_zero_bias": float(metrics.binary_accuracy(models.mlp_apply(zero.params, ds.x_test), ds.y_test)),
    }
    for name, value in out.items():
        print(f"{name:>30s}: {value:.4f}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(steps=args.steps, seed=args.seed)
