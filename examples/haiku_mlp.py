"""A Haiku MLP with jaxnn initializers (``jaxnn.haiku.w_init``), then re-initialized by rules (handwritten digits).

Haiku calls initializers as ``init(shape, dtype)``; :func:`jaxnn.haiku.w_init` adapts any jaxnn initializer.
Haiku stores weights as ``(in, out)``, the layout jaxnn's initializers expect. :func:`jaxnn.reinit` then redraws
an existing ``params`` dict by path rules: here the output layer (``mlp/~/linear_1/w``) starts at zero.

    python examples/haiku_mlp.py --steps 1500
"""

import argparse

import haiku as hk
import jax
import jax.numpy as jnp
import optax

import jaxnn
from jaxnn import initializers as I
from jaxnn import losses, metrics, train
from jaxnn.haiku import w_init


def forward(x):
    return hk.nets.MLP([128, 10], w_init=w_init(I.he_normal()), b_init=w_init(I.zeros), activation=jax.nn.relu)(x)


def main(steps: int = 1500, seed: int = 0) -> dict:
    ds = jaxnn.datasets.load("digits", seed=seed)
    net = hk.without_apply_rng(hk.transform(forward))
    k_init, k_reinit, k_data = jax.random.split(jax.random.key(seed), 3)
    params = jax.jit(net.init)(k_init, ds.x_train[:1])  # jitted: one compiled draw rather than one per parameter
    zero_output = jax.jit(lambda key, p: jaxnn.reinit(key, p, {"mlp/~/linear_1/w": I.zeros}))  # the rest kept
    params = zero_output(k_reinit, params)
    result = train.fit(
        params,
        (ds.x_train, ds.y_train),
        key=k_data,
        apply_fn=net.apply,
        loss_fn=losses.categorical_cross_entropy,
        optimizer=optax.adam(1e-3),
        steps=steps,
        batch_size=64,
        eval_data=(ds.x_test, ds.y_test),
        eval_every=max(1, steps // 10),
        metric=metrics.accuracy,
    )
    logits = net.apply(result.params, ds.x_test)
    out = {
        "initial_test_loss": float(result.history["eval_loss"][0]),  # log(10): zero output layer
        "first_weight_std": float(jnp.std(params["mlp/~/linear_0"]["w"])),
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
