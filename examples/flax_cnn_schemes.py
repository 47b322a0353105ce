"""Compare four initializations of a Flax linen CNN on handwritten digits (8x8) with the jaxnn benchmark.

The model is plain Flax: ``init_fn`` is its own ``model.init`` and each :class:`~jaxnn.bench.scheme.Scheme`
re-initializes those parameters by rules (:func:`jaxnn.reinit`; ``jaxnn.rules.standard`` finds the ``kernel`` and
``bias`` leaves of every ``Conv`` and ``Dense``). All schemes x seeds train with one compiled program, paired by seed.

    python examples/flax_cnn_schemes.py --steps 300 --seeds 5
"""

import argparse

import flax.linen as nn
import optax

import jaxnn
from jaxnn import initializers as I
from jaxnn import losses, metrics
from jaxnn.bench.scheme import Scheme
from jaxnn.bench.sweep import sweep


class CNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = x.reshape(x.shape[0], 8, 8, 1)  # digits come as flat 64-pixel rows
        x = nn.relu(nn.Conv(8, (3, 3))(x))
        x = nn.relu(nn.Conv(16, (3, 3), strides=2)(x))
        x = nn.relu(nn.Dense(32)(x.reshape(x.shape[0], -1)))
        return nn.Dense(10)(x)


SCHEMES = [
    Scheme("he_normal", rules=jaxnn.rules.standard(I.he_normal())),
    Scheme("orthogonal", rules=jaxnn.rules.standard(I.orthogonal())),
    Scheme("glorot_uniform", rules=jaxnn.rules.standard(I.glorot_uniform())),
    Scheme("zeros", rules=jaxnn.rules.standard(I.zeros)),  # every unit identical: the network cannot learn
]


def main(steps: int = 300, seeds: int = 5, seed: int = 0) -> dict:
    ds = jaxnn.datasets.load("digits", seed=seed)
    model = CNN()
    res = sweep(
        init_fn=lambda key: model.init(key, ds.x_train[:1]),
        apply_fn=model.apply,
        loss_fn=losses.categorical_cross_entropy,
        optimizer=optax.sgd(0.05, momentum=0.9),
        train_data=(ds.x_train, ds.y_train),
        eval_data=(ds.x_test, ds.y_test),
        schemes=SCHEMES,
        seeds=seeds,
        steps=steps,
        batch_size=64,
        eval_every=max(1, steps // 10),
        target=0.5,
        metric=metrics.accuracy,
        seed=seed,
    )
    print(f"{'rank':>4s}  {'scheme':<15s} {'reached':>7s} {'steps to 0.5':>12s} {'AUC':>7s} {'final acc':>9s}")
    for r in res.summary:
        print(
            f"{r['rank']:>4d}  {r['scheme']:<15s} {r['n_reached']:>3d}/{r['n_seeds']:<3d} "
            f"{r['steps_to_target']:>12.0f} {r['auc']:>7.3f} {r['final_eval_metric']:>9.3f}"
        )
    rows = {r["scheme"]: r for r in res.summary}
    return {
        "ranking": [r["scheme"] for r in res.summary],
        "test_accuracy": {name: float(r["final_eval_metric"]) for name, r in rows.items()},
        "auc": {name: float(r["auc"]) for name, r in rows.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(steps=args.steps, seeds=args.seeds, seed=args.seed)
