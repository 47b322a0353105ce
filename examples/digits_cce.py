"""Handwritten digits (8x8, 10 classes) with categorical cross-entropy.

A 64-128-10 ReLU MLP, He-normal weights (He et al. 2015, the variance that keeps ReLU activations at
unit scale) and zero biases, trained on the logits with ``losses.categorical_cross_entropy`` (integer
labels, softmax inside, so no separate softmax layer). The split is stratified, so the test set holds
every digit in its overall proportion. Prints the test accuracy and cross-entropy.

    python examples/digits_cce.py --steps 1500
"""

import argparse

import jax
import optax

from jaxnn import datasets, initializers, losses, metrics, models, train


def main(steps: int = 1500, seed: int = 0) -> dict:
    ds = datasets.load("digits", seed=seed)
    init_key, data_key = jax.random.split(jax.random.key(seed))
    sizes = [ds.x_train.shape[1], 128, ds.info.output_dim]
    params = models.mlp_init(init_key, sizes, w_init=initializers.he_normal(), b_init=initializers.zeros)
    result = train.fit(
        params,
        (ds.x_train, ds.y_train),
        key=data_key,
        apply_fn=models.mlp_apply,
        loss_fn=losses.categorical_cross_entropy,
        optimizer=optax.adam(1e-3),
        steps=steps,
        batch_size=64,
        eval_data=(ds.x_test, ds.y_test),
        eval_every=max(1, steps // 10),
        metric=metrics.accuracy,
    )
    logits = models.mlp_apply(result.params, ds.x_test)
    out = {
        "initial_test_loss": float(result.history["eval_loss"][0]),
        "test_loss": float(losses.categorical_cross_entropy(logits, ds.y_test)),
        "test_accuracy": float(metrics.accuracy(logits, ds.y_test)),
    }
    for name, value in out.items():
        print(f"{name:>18s}: {value:.4f}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(steps=args.steps, seed=args.seed)
