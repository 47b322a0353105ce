"""Tests for jaxnn.bench.sweep: one compiled program, pairing, chunk invariance, LR tuning, resume, sharding."""

import functools
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import initializers as jaxnn_initializers
from jaxnn import models, schemes
from jaxnn.bench import sweep
from jaxnn.bench.execution import Execution, compile_program, default_memory_cap, default_workers, run_program
from jaxnn.bench.program import Program, program_bytes, trace_count
from jaxnn.bench.results import ChunkStore
from jaxnn.bench.scheme import Scheme, initial_params, initial_shapes, seed_keys
from jaxnn.train import fit

INITS = jax.nn.initializers


def _data(n_train, n_test, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_train + n_test, 8)).astype(np.float32)
    w = rng.normal(size=(8, 3))
    y = np.argmax(x @ w + 0.3 * rng.normal(size=(n_train + n_test, 3)), axis=1).astype(np.int32)
    return (jnp.asarray(x[:n_train]), jnp.asarray(y[:n_train])), (jnp.asarray(x[n_train:]), jnp.asarray(y[n_train:]))


TRAIN, TEST = _data(192, 96)
SIZES = (8, 16, 3)


def loss_fn(pred, y):
    return optax.softmax_cross_entropy_with_integer_labels(pred, y).mean()


def accuracy(pred, y):
    return jnp.mean(jnp.argmax(pred, -1) == y)


INIT_FN = functools.partial(models.mlp_init, layer_sizes=SIZES)
OPT = functools.partial(optax.sgd, momentum=0.9)
SCHEMES = [
    Scheme("he", INITS.he_normal()),
    Scheme("glorot", INITS.glorot_uniform()),
    Scheme("zeros", INITS.zeros),
    Scheme("big", INITS.normal(3.0)),
]
COMMON = dict(
    init_fn=INIT_FN,
    apply_fn=models.mlp_apply,
    loss_fn=loss_fn,
    optimizer=OPT,
    train_data=TRAIN,
    eval_data=TEST,
    steps=40,
    batch_size=32,
    eval_every=10,
    target=0.8,
    metric=accuracy,
    target_on="eval_metric",
    n_resamples=200,
)


@pytest.fixture(scope="module")
def base():
    return sweep.sweep(schemes=SCHEMES[:2], seeds=2, learning_rates=[0.05], execution=Execution(chunk_size=2), **COMMON)


def test_initial_params_in_one_program_equal_each_initializer_called_alone():
    # One compiled program draws every scheme; each value must be bitwise what init_fn gives eagerly, key by key
    # (jaxnn's initializers: each eager draw is compiled with the same CPU options as the whole program).
    I = jaxnn_initializers
    own = [Scheme(n, I.get(n)()) for n in ("he_normal", "glorot_uniform", "orthogonal", "zeros")]
    own.append(Scheme("torch", I.torch_linear_default(), I.torch_linear_default(fan_in=8)))
    keys = seed_keys(3, "init", 3)
    got = initial_params(INIT_FN, own, keys)
    for i, s in enumerate(own):
        for j, k in enumerate(keys):
            want = INIT_FN(jnp.asarray(k), w_init=s.w_init, b_init=s.b_init)
            for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
                np.testing.assert_array_equal(g[i * len(keys) + j], np.asarray(w))
    shapes = initial_shapes(INIT_FN, own, len(own) * len(keys))
    assert jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), shapes) == jax.tree_util.tree_map(
        lambda a: (a.shape, a.dtype), got
    )


def test_param_shapes_must_match_the_built_parameters():
    program = Program(models.mlp_apply, loss_fn, OPT, 10, 32, 10, accuracy, "batch", None)
    keys = seed_keys(0, "init", 2)
    params = functools.partial(initial_params, INIT_FN, SCHEMES[:1], keys)
    wrong = jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct(a.shape, jnp.float16), initial_shapes(INIT_FN, SCHEMES[:1], 2)
    )
    with pytest.raises(ValueError, match="param_shapes differ"):
        run_program(program, params, keys, [0.1, 0.1], TRAIN, TEST, param_shapes=wrong)
    with pytest.raises(ValueError, match="param_shapes need a leading run axis of 2"):
        run_program(program, params, keys, [0.1, 0.1], TRAIN, TEST, param_shapes=initial_shapes(INIT_FN, SCHEMES, 3))


def test_adding_schemes_and_seeds_does_not_recompile(base):
    before = trace_count()
    r = sweep.sweep(schemes=SCHEMES[:3], seeds=3, learning_rates=[0.05], execution=Execution(chunk_size=2), **COMMON)
    r2 = sweep.sweep(schemes=SCHEMES, seeds=2, learning_rates=[0.2], execution=Execution(chunk_size=2), **COMMON)
    assert trace_count() == before  # 9 and 8 runs, other lr: same compiled program
    assert r.arrays["eval_loss"].shape == (3, 3, 5) and r2.arrays["eval_loss"].shape == (4, 2, 5)
    # Seeds are paired and deterministic: the first two schemes' first two seeds equal the base sweep's.
    np.testing.assert_array_equal(r.arrays["eval_loss"][:2, :2], base.arrays["eval_loss"])


def test_runs_equal_an_independent_fit_with_the_same_keys(base):
    init_keys = seed_keys(0, "init", 2)
    data_keys = seed_keys(0, "data", 2)

    @jax.jit
    def one(p, key):
        return fit(
            p,
            TRAIN,
            key=key,
            apply_fn=models.mlp_apply,
            loss_fn=loss_fn,
            optimizer=optax.sgd(0.05, momentum=0.9),
            steps=40,
            batch_size=32,
            eval_data=TEST,
            eval_every=10,
            metric=accuracy,
        ).history

    for i, scheme in enumerate(SCHEMES[:2]):
        for s in range(2):
            p = INIT_FN(jnp.asarray(init_keys[s]), w_init=scheme.w_init, b_init=scheme.b_init)
            h = one(p, jnp.asarray(data_keys[s]))
            np.testing.assert_allclose(base.arrays["eval_loss"][i, s], h["eval_loss"], rtol=2e-5, atol=1e-6)
            np.testing.assert_allclose(base.arrays["eval_metric"][i, s], h["eval_metric"], atol=1e-6)
    # Gradient norm per layer at step 0: full-batch weight gradient, one value per layer.
    p = INIT_FN(jnp.asarray(init_keys[0]), w_init=SCHEMES[0].w_init, b_init=SCHEMES[0].b_init)
    g = jax.grad(lambda q: loss_fn(models.mlp_apply(q, TRAIN[0]), TRAIN[1]))(p)
    np.testing.assert_allclose(base.arrays["grad_norm0"][0, 0], [np.linalg.norm(l["w"]) for l in g], rtol=1e-5)


def test_train_loss_full_only_changes_the_train_loss_curve(base):
    """The default train_loss="batch" is the running minibatch mean; "full" the exact training-set loss.
    Everything else (and so the ranking) is identical."""
    r = sweep.sweep(schemes=SCHEMES[:2], seeds=2, learning_rates=[0.05], train_loss="full", **COMMON)
    for k in ("eval_loss", "eval_metric", "grad_norm0"):  # another compiled program: rounding may differ
        np.testing.assert_allclose(r.arrays[k], base.arrays[k], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(r.arrays["diverged_step"], base.arrays["diverged_step"])
    assert base.settings["train_loss"] == "batch" and r.settings["train_loss"] == "full"
    assert not np.allclose(r.arrays["train_loss"], base.arrays["train_loss"])
    p = INIT_FN(jnp.asarray(seed_keys(0, "init", 2)[0]), w_init=SCHEMES[0].w_init, b_init=SCHEMES[0].b_init)
    np.testing.assert_allclose(
        r.arrays["train_loss"][0, 0, 0], loss_fn(models.mlp_apply(p, TRAIN[0]), TRAIN[1]), rtol=1e-5
    )
    with pytest.raises(ValueError, match="train_loss must be 'batch' or 'full'"):
        sweep.sweep(schemes=SCHEMES[:2], seeds=2, learning_rates=[0.05], train_loss="all", **COMMON)


def test_chunk_size_does_not_change_results(base):
    r = sweep.sweep(
        schemes=SCHEMES[:2], seeds=2, learning_rates=[0.05], execution=Execution(chunk_size=3), **COMMON
    )  # padded chunk
    for k in ("eval_loss", "train_loss", "eval_metric", "grad_norm0"):
        np.testing.assert_allclose(r.arrays[k], base.arrays[k], rtol=2e-5, atol=1e-6)


def test_concurrent_workers_do_not_change_results_or_their_order(base):
    seen = []
    r = sweep.sweep(
        schemes=SCHEMES[:2],
        seeds=2,
        learning_rates=[0.05],
        execution=Execution(chunk_size=1, workers=3),
        on_chunk=lambda phase, idx: seen.extend(int(i) for i in idx),
        **COMMON,
    )
    assert seen == sorted(seen) == list(range(4))  # recorded in run order on the calling thread
    for k in ("eval_loss", "train_loss", "eval_metric", "grad_norm0", "diverged_step"):
        np.testing.assert_allclose(r.arrays[k], base.arrays[k], rtol=2e-5, atol=1e-6)
    assert default_workers(jax.devices("cpu")) >= 1


def _compiled_bytes(chunk):
    """XLA's memory analysis of the sweep program for `chunk` runs on one CPU device (as run_program sizes it)."""
    program = Program(models.mlp_apply, loss_fn, OPT, 40, 32, 10, accuracy)
    p = initial_params(INIT_FN, SCHEMES[:1], seed_keys(0, "init", chunk))
    return program_bytes(compile_program(program, p, chunk, TRAIN, TEST, devices=jax.devices()[:1]))


def test_memory_cap_halves_the_chunk_until_the_program_fits(base):
    """A cap between the 2-run and the 4-run program: a requested chunk of 4 runs as chunks of 2 (one worker),
    with the same results. With two workers two calls are in flight, so each must fit in half the cap. A cap
    below one run is a clear error; the default cap is half the memory."""
    one, two, four = _compiled_bytes(1), _compiled_bytes(2), _compiled_bytes(4)
    assert one < two < four
    cap = (two + four) // 2
    for workers in (1, 2):
        sizes = []
        r = sweep.sweep(
            schemes=SCHEMES[:2],
            seeds=2,
            learning_rates=[0.05],
            execution=Execution(chunk_size=4, memory_cap=cap, workers=workers, devices=jax.devices()[:1]),
            on_chunk=lambda phase, idx: sizes.append(len(idx)),
            **COMMON,
        )
        want = 2 if workers == 1 or 2 * two <= cap else 1
        assert sizes == [want] * (4 // want), (workers, sizes, one, two, four)
        for k in ("eval_loss", "train_loss", "eval_metric", "diverged_step"):
            np.testing.assert_allclose(r.arrays[k], base.arrays[k], rtol=2e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"memory_cap=1000 bytes per device is less than one run per device needs"):
        sweep.sweep(schemes=SCHEMES[:2], seeds=2, learning_rates=[0.05], execution=Execution(memory_cap=1000), **COMMON)
    for bad in (-1, 0.5, float("inf"), "1GB", True):
        with pytest.raises(ValueError, match="memory_cap must be a positive number of bytes"):
            Execution(memory_cap=bad)
    cap = default_memory_cap(jax.devices()[:1])
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < cap <= physical // 2


def test_metrics_summary_and_censoring(base):
    assert base.steps.tolist() == [0, 10, 20, 30, 40]
    m = base.metrics
    assert m["steps_to_target"].shape == (2, 2)
    row = base.summary[0]
    assert row["rank"] == 1 and row["best"] and np.isnan(row["p_value"])
    assert {r["scheme"] for r in base.summary} == {"he", "glorot"}
    assert all(r["learning_rate"] == pytest.approx(0.05) for r in base.summary)
    # An unreachable target is reported, not an error: every run censored, fraction 0.
    r = sweep.sweep(
        schemes=SCHEMES[:2],
        seeds=2,
        learning_rates=[0.05],
        execution=Execution(chunk_size=2),
        **{**COMMON, "target": 1.01},
    )
    assert all(row["n_reached"] == 0 and row["frac_reached"] == 0.0 for row in r.summary)
    assert np.isinf(r.metrics["steps_to_target"]).all()
    # zeros never trains past chance; it ranks last against a working scheme.
    r = sweep.sweep(
        schemes=[SCHEMES[0], SCHEMES[2]], seeds=2, learning_rates=[0.05], execution=Execution(chunk_size=2), **COMMON
    )
    assert r.summary[-1]["scheme"] == "zeros" and r.summary[-1]["n_reached"] == 0


def test_learning_rate_grid_picks_a_rate_per_scheme():
    r = sweep.sweep(
        schemes=SCHEMES[:2],
        seeds=2,
        learning_rates=[1e-5, 0.1],
        tune_seeds=2,
        execution=Execution(chunk_size=2),
        **COMMON,
    )
    # 1e-5 barely moves in 40 steps: on validation data each scheme must prefer 0.1.
    np.testing.assert_allclose(r.learning_rates, [0.1, 0.1], rtol=1e-6)
    assert r.tuning["arrays"]["eval_loss"].shape == (2, 2, 2, 5)
    assert r.tuning["choice"].tolist() == [1, 1]
    assert r.summary[0]["learning_rate"] == pytest.approx(0.1)


def test_resume_after_interruption_gives_the_same_result(tmp_path, base):
    store = ChunkStore(tmp_path)
    calls = []

    def boom(phase, idx):
        calls.append(idx.tolist())
        if len(calls) == 1:
            raise KeyboardInterrupt("injected after chunk 1")

    with pytest.raises(KeyboardInterrupt):
        sweep.sweep(
            schemes=SCHEMES[:2],
            seeds=2,
            learning_rates=[0.05],
            execution=Execution(chunk_size=2),
            store=store,
            on_chunk=boom,
            **COMMON,
        )
    assert len(list((tmp_path / "chunks").glob("*.npz"))) == 1
    r = sweep.sweep(
        schemes=SCHEMES[:2],
        seeds=2,
        learning_rates=[0.05],
        execution=Execution(chunk_size=2),
        store=store,
        on_chunk=boom,
        **COMMON,
    )
    assert calls == [[0, 1], [2, 3]]  # only the missing chunk ran
    for k in base.arrays:
        np.testing.assert_array_equal(r.arrays[k], base.arrays[k])
    assert json.dumps(r.summary, default=str) == json.dumps(base.summary, default=str)


def test_merge_along_the_compared_axis(base):
    m = sweep.merge([base, base], names=["a/he", "a/glorot", "b/he", "b/glorot"])
    assert m.arrays["eval_loss"].shape == (4, 2, 5) and len(m.summary) == 4
    with pytest.raises(ValueError, match="unique"):
        sweep.merge([base, base])


def test_bad_inputs():
    with pytest.raises(ValueError, match="unique"):
        sweep.sweep(schemes=[SCHEMES[0], SCHEMES[0]], seeds=2, learning_rates=[0.1], **COMMON)
    with pytest.raises(ValueError, match="learning_rates"):
        sweep.sweep(schemes=SCHEMES[:1], seeds=2, **COMMON)
    with pytest.raises(ValueError, match="factory"):
        sweep.sweep(schemes=SCHEMES[:1], seeds=2, learning_rates=[0.1], **{**COMMON, "optimizer": optax.sgd(0.1)})
    with pytest.raises(ValueError, match="metric"):
        sweep.sweep(schemes=SCHEMES[:1], seeds=2, learning_rates=[0.1], **{**COMMON, "metric": None})
    with pytest.raises(ValueError, match="chunk_size"):
        sweep.sweep(schemes=SCHEMES[:1], seeds=2, learning_rates=[0.1], execution=Execution(chunk_size=0), **COMMON)
    with pytest.raises(ValueError, match="workers"):
        sweep.sweep(schemes=SCHEMES[:1], seeds=2, learning_rates=[0.1], execution=Execution(workers=0), **COMMON)
    with pytest.raises(ValueError, match="seeds"):
        sweep.sweep(schemes=SCHEMES[:1], seeds=0, learning_rates=[0.1], **COMMON)


# A tiny residual MLP (8 -> 8, 2 blocks, 3 classes) for the whole-network schemes (Scheme.transform).
RES_INIT = functools.partial(models.resmlp_init, in_dim=8, width=8, num_blocks=2, out_dim=3)
RES_COMMON = dict(COMMON, init_fn=RES_INIT, apply_fn=models.resmlp_apply, steps=20)
RES_SCHEMES = [
    Scheme("he", INITS.he_normal()),
    Scheme("fixup", INITS.zeros, transform=schemes.fixup),
    Scheme("zero", INITS.zeros, transform=schemes.zero_init),
    Scheme(
        "lsuv",
        INITS.zeros,
        transform=functools.partial(schemes.lsuv, apply_fn=models.resmlp_apply, batch=TRAIN[0][:64]),
    ),
]


def test_transform_schemes_run_through_the_same_program_on_a_resmlp():
    plain = sweep.sweep(
        schemes=RES_SCHEMES[:1], seeds=2, learning_rates=[0.05], execution=Execution(chunk_size=2), **RES_COMMON
    )
    before = trace_count()
    r = sweep.sweep(
        schemes=RES_SCHEMES, seeds=2, learning_rates=[0.05], execution=Execution(chunk_size=2), **RES_COMMON
    )
    assert trace_count() == before  # transforms change initial values only: no recompilation
    assert r.names == ["he", "fixup", "zero", "lsuv"] and r.arrays["eval_loss"].shape == (4, 2, 3)
    assert np.isfinite(r.arrays["eval_loss"]).all()
    np.testing.assert_array_equal(r.arrays["eval_loss"][0], plain.arrays["eval_loss"][0])  # pairing kept
    # Fixup zeroes the classifier: uniform logits at step 0, loss log(3); ZerO is deterministic across seeds.
    np.testing.assert_allclose(r.arrays["eval_loss"][1, :, 0], np.log(3.0), rtol=1e-6)
    np.testing.assert_array_equal(r.arrays["eval_loss"][2, 0, 0], r.arrays["eval_loss"][2, 1, 0])
    assert r.arrays["eval_loss"][1:, :, -1].max() < r.arrays["eval_loss"][1:, :, 0].max()  # they train


def test_transform_gets_the_folded_init_key_and_must_keep_shapes():
    keys = seed_keys(0, "init", 2)
    p = initial_params(RES_INIT, RES_SCHEMES[1:2], keys)
    k1 = jnp.asarray(keys[1])
    want = schemes.fixup(jax.random.fold_in(k1, 1), RES_INIT(k1, w_init=INITS.zeros, b_init=INITS.zeros))
    np.testing.assert_allclose(p["blocks"][0][0]["w"][1], want["blocks"][0][0]["w"], rtol=1e-6)
    bad = Scheme(
        "bad",
        INITS.zeros,
        transform=lambda k, q: {**q, "output": {"w": q["output"]["w"][:, :2], "b": q["output"]["b"]}},
    )
    with pytest.raises(ValueError, match="bad.*shapes"):
        initial_params(RES_INIT, [bad], keys)


_SHARDED = textwrap.dedent("""
    import os, sys, json
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    os.environ["JAX_PLATFORMS"] = "cpu"
    sys.path.insert(0, {tests!r})
    import jax, numpy as np
    assert len(jax.devices()) == 4, jax.devices()
    import test_sweep as t
    from jaxnn.bench import sweep
    from jaxnn.bench.execution import Execution
    kw = dict(t.COMMON, schemes=t.SCHEMES[:3], seeds=2, learning_rates=[0.05])
    many = sweep.sweep(execution=Execution(chunk_size=4, devices=jax.devices()), **kw)
    one = sweep.sweep(execution=Execution(chunk_size=4, devices=jax.devices()[:1]), **kw)
    out = {{}}
    for k in ("eval_loss", "train_loss", "eval_metric", "grad_norm0"):
        out[k] = float(np.max(np.abs(many.arrays[k] - one.arrays[k])))
    out["steps_equal"] = bool(np.array_equal(many.metrics["steps_to_target"], one.metrics["steps_to_target"]))
    out["ranks_equal"] = [r["scheme"] for r in many.summary] == [r["scheme"] for r in one.summary]
    print("RESULT" + json.dumps(out))
""")


def test_sharded_over_four_devices_equals_single_device():
    code = _SHARDED.format(tests=os.path.dirname(__file__))
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_PLATFORMS")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT")[-1])
    assert out["steps_equal"] and out["ranks_equal"], out
    for k in ("eval_loss", "train_loss", "eval_metric", "grad_norm0"):
        assert out[k] <= 1e-5, out
