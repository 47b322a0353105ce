"""A Flax NNX model re-initialized with jaxnn rules (``nnx.state`` -> ``jaxnn.reinit`` -> ``nnx.update``) and trained
with optax (handwritten digits).

    python examples/flax_nnx.py --steps 1500
"""

import argparse

import jax
import optax
from flax import nnx

import jaxnn
from jaxnn import initializers as I
from jaxnn import losses, metrics


class MLP(nnx.Module):
    def __init__(self, din: int, dout: int, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(din, 128, rngs=rngs)
        self.out = nnx.Linear(128, dout, rngs=rngs)

    def __call__(self, x):
        return self.out(jax.nn.relu(self.hidden(x)))


def main(steps: int = 1500, seed: int = 0) -> dict:
    ds = jaxnn.datasets.load("digits", seed=seed)
    k_reinit, k_data = jax.random.split(jax.random.key(seed))
    model = MLP(ds.x_train.shape[1], ds.info.output_dim, rngs=nnx.Rngs(seed))
    state = nnx.state(model, nnx.Param)  # paths such as hidden/kernel, out/bias
    nnx.update(model, jaxnn.reinit(k_reinit, state, jaxnn.rules.standard(I.he_normal(), I.constant(0.01))))
    hidden_bias = float(model.hidden.bias[...].mean())  # 0.01: the new values are in the model

    graphdef, params = nnx.split(model, nnx.Param)
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(params)

    def loss_fn(params, x, y):
        return losses.categorical_cross_entropy(nnx.merge(graphdef, params)(x), y)

    @jax.jit
    def step(params, opt_state, x, y):
        grads = jax.grad(loss_fn)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    initial_loss = float(loss_fn(params, ds.x_test, ds.y_test))
    n = ds.x_train.shape[0]
    for i in range(steps):
        idx = jax.random.randint(jax.random.fold_in(k_data, i), (64,), 0, n)
        params, opt_state = step(params, opt_state, ds.x_train[idx], ds.y_train[idx])
    nnx.update(model, params)
    logits = model(ds.x_test)
    out = {
        "hidden_bias_init": hidden_bias,
        "initial_test_loss": initial_loss,
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
