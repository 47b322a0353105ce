"""A Flax ``nn.Dense`` model that uses jaxnn initializers and losses (handwritten digits).

jaxnn initializers follow the ``init(key, shape, dtype)`` convention of ``jax.nn.initializers``, and a
Flax ``Dense`` kernel has shape ``(in, out)`` -- the fan rule jaxnn assumes -- so they plug straight into
``kernel_init`` / ``bias_init``. The losses take ``(predictions, targets)`` and the Flax parameter tree
is just another pytree, so ``jaxnn.train.fit`` trains ``model.apply`` unchanged.

    python examples/flax_dense.py --steps 1500
"""

import argparse

import flax.linen as nn
import jax
import optax

from jaxnn import datasets, initializers, losses, metrics, train


class MLP(nn.Module):
    hidden: int = 128
    num_classes: int = 10

    @nn.compact
    def __call__(self, x):
        x = nn.Dense(self.hidden, kernel_init=initializers.he_normal(), bias_init=initializers.zeros)(x)
        x = nn.relu(x)
        return nn.Dense(self.num_classes, kernel_init=initializers.glorot_normal(), bias_init=initializers.zeros)(x)


def main(steps: int = 1500, seed: int = 0) -> dict:
    ds = datasets.load("digits", seed=seed)
    init_key, data_key = jax.random.split(jax.random.key(seed))
    model = MLP(num_classes=ds.info.output_dim)
    params = model.init(init_key, ds.x_train[:1])
    result = train.fit(
        params,
        (ds.x_train, ds.y_train),
        key=data_key,
        apply_fn=model.apply,
        loss_fn=losses.categorical_cross_entropy,
        optimizer=optax.adam(1e-3),
        steps=steps,
        batch_size=64,
        eval_data=(ds.x_test, ds.y_test),
        eval_every=max(1, steps // 10),
        metric=metrics.accuracy,
    )
    logits = model.apply(result.params, ds.x_test)
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
