"""An Equinox MLP re-initialized with jaxnn rules and trained with optax (handwritten digits).

Equinox stores a Linear weight as ``(out, in)``; :func:`jaxnn.reinit` recognizes Equinox modules and draws their
weights with the fans of that layout (``layout="auto"``), so ``he_normal`` gets fan_in = ``in`` as it should, and
the same module type comes back.

    python examples/equinox_mlp.py --steps 1500
"""

import argparse

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import jaxnn
from jaxnn import initializers as I
from jaxnn import losses, metrics


def main(steps: int = 1500, seed: int = 0) -> dict:
    ds = jaxnn.datasets.load("digits", seed=seed)
    k_model, k_init, k_data = jax.random.split(jax.random.key(seed), 3)
    model = eqx.nn.MLP(ds.x_train.shape[1], ds.info.output_dim, 128, depth=2, activation=jax.nn.relu, key=k_model)
    # weights He, biases zero (jit-able: one compiled draw for all leaves)
    model = eqx.filter_jit(jaxnn.reinit)(k_init, model, jaxnn.rules.standard(I.he_normal()))
    w0 = model.layers[0].weight  # (128, 64): std sqrt(2 / 64)

    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))

    n = ds.x_train.shape[0]

    @eqx.filter_jit
    def step(model, opt_state, i):
        idx = jax.random.randint(jax.random.fold_in(k_data, i), (64,), 0, n)  # a minibatch drawn on device
        x, y = ds.x_train[idx], ds.y_train[idx]
        loss, grads = eqx.filter_value_and_grad(lambda m: losses.categorical_cross_entropy(jax.vmap(m)(x), y))(model)
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    @eqx.filter_jit
    def metrics_on_test(model):
        logits = jax.vmap(model)(ds.x_test)
        return losses.categorical_cross_entropy(logits, ds.y_test), metrics.accuracy(logits, ds.y_test)

    initial_loss = float(metrics_on_test(model)[0])
    for i in range(steps):
        model, opt_state, _ = step(model, opt_state, jnp.int32(i))  # an array: a Python int would be static
    test_loss, test_accuracy = (float(v) for v in metrics_on_test(model))
    out = {
        "first_weight_std": float(w0.std()),
        "he_std": (2 / ds.x_train.shape[1]) ** 0.5,
        "initial_test_loss": initial_loss,
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
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
