"""The benchmark on transformers: the hmm data set, NORM/INIT scheme specs, warmup, program groups and both
transformer presets end to end on a tiny override through the CLI."""

import csv
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import models, schemes
from jaxnn.bench import cli, config, experiment, specs

TINY_DEPTH = [
    "--preset",
    "transformer-depth",
    "--layers",
    "2",
    "--d-model",
    "8",
    "--heads",
    "2",
    "--schemes",
    "post/xavier_uniform, post/xavier_uniform/warmup(0.5), post/gpt2",
    "--seeds",
    "2",
    "--steps",
    "6",
    "--eval-every",
    "3",
    "--quiet",
    "--no-plots",
    "--compile-cache",
    "none",
]


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_transformer_depth_preset_tiny_end_to_end(tmp_path):
    out = tmp_path / "depth"
    assert cli.main([*TINY_DEPTH, "--out", str(out)]) == 0
    rows = _rows(out / "summary.csv")
    assert sorted(r["scheme"] for r in rows) == sorted(
        ["post/xavier_uniform", "post/xavier_uniform/warmup(0.5)", "post/gpt2"]
    )
    runs = np.load(out / "runs.npz")
    assert runs["run_eval_loss"].shape == (3, 2, 3)  # (entries, seeds, evaluations)
    assert np.all(np.isfinite(runs["run_eval_loss"]))
    # paired seeds: every entry starts from the same data, and step-0 losses are near log(32) for small inits
    assert np.all(np.abs(runs["run_eval_loss"][:, :, 0] - np.log(32)) < 1.5)


def test_transformer_mup_preset_tiny_end_to_end(tmp_path):
    out = tmp_path / "mup"
    argv = [
        "--preset",
        "transformer-mup",
        "--layers",
        "1",
        "--d-model",
        "8,16",
        "--heads",
        "2",
        "--schemes",
        "pre/mup",
        "--lr",
        "0.001,0.01",
        "--seeds",
        "2",
        "--steps",
        "4",
        "--eval-every",
        "2",
        "--quiet",
        "--no-plots",
        "--compile-cache",
        "none",
    ]
    assert cli.main([*argv, "--out", str(out)]) == 0
    rows = _rows(out / "summary.csv")
    names = {r["scheme"] for r in rows}
    assert names == {f"pre/mup d={d} lr={lr}" for d in (8, 16) for lr in ("0.001", "0.01")}
    lrs = {r["scheme"]: float(r["learning_rate"]) for r in rows}
    assert lrs["pre/mup d=16 lr=0.01"] == pytest.approx(0.01)


def test_presets_are_sized_and_resolve():
    for name in ("transformer-depth", "transformer-mup"):
        cfg = config.PRESETS[name]
        assert cfg.seeds >= 8
        exp = experiment.build(cfg)
        assert exp.n_runs == sum(len(ns) for _, ns, _ in exp.sweep_calls()) * cfg.seeds
    depth = experiment.build(config.PRESETS["transformer-depth"])
    # programs: post, post + warmup, pre (xavier and gpt2 share it), deepnorm, none
    assert len(depth.groups) == 5
    assert depth.extra["optimal_loss"] < depth.extra["unigram_entropy"]
    mup = experiment.build(config.PRESETS["transformer-mup"])
    assert len(mup.groups) == 6 and len(mup.sweep_calls()) == 6 * 4


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(warmup=(1.0,)), "warmup must be fractions"),
        (dict(warmup=(-0.1,)), "warmup must be fractions"),
        (dict(warmup=(0.1, 0.1)), "warmup must be unique"),
        (dict(warmup=()), "warmup must give at least one"),
        (dict(lr_mode="grid"), "lr_mode must be one of"),
        (dict(dataset="digits"), "model 'transformer' trains on dataset 'hmm'"),
        (dict(d_model=(30,)), "divisible by num_heads"),
        (dict(d_model=(32, 32)), "d_model must be unique"),
        (dict(num_layers=0), "num_layers"),
    ],
)
def test_config_validation_of_the_transformer_fields(kw, match):
    cfg = config.PRESETS["transformer-depth"].replace(**kw)
    with pytest.raises(ValueError, match=match):
        config.validate(cfg)


def test_mlp_refuses_hmm_and_several_widths():
    with pytest.raises(ValueError, match="need model 'transformer'"):
        config.validate(config.PRESETS["default"].replace(d_model=(32, 64)))
    with pytest.raises(ValueError, match="trains on dataset 'hmm'"):
        config.validate(config.PRESETS["default"].replace(dataset="hmm"))


@pytest.mark.parametrize(
    "scheme, match",
    [
        ("xavier_uniform", "must be NORM/INIT"),
        ("mid/xavier_uniform", "NORM must be one of"),
        ("pre/nope", "unknown initializer"),
        ("pre/gpt2(3)", "gpt2 takes no such arguments"),
        ("post/xavier_uniform/warmup(1.5)", "warmup fraction must be in"),
        ("post/xavier_uniform/slow(0.1)", "third part must be warmup"),
    ],
)
def test_bad_transformer_schemes_are_one_line_errors(scheme, match):
    with pytest.raises(ValueError, match=match):
        experiment.build(config.PRESETS["transformer-depth"].replace(schemes=(scheme,)))


def test_own_warmup_and_a_warmup_list_are_refused():
    cfg = config.PRESETS["transformer-depth"].replace(warmup=(0.0, 0.1))
    with pytest.raises(ValueError, match="set their own warmup"):
        experiment.build(cfg)


def test_warmup_schedule_is_linear_then_constant_with_a_traced_lr():
    sched = specs.WarmupSchedule(0.01, 4)
    got = [float(sched(jnp.int32(t))) for t in range(7)]
    np.testing.assert_allclose(got, [0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01, 0.01], rtol=1e-6)
    traced = jax.jit(lambda lr, t: specs.WarmupSchedule(lr, 4)(t))
    assert float(traced(jnp.float32(0.02), jnp.int32(1))) == pytest.approx(0.01)
    assert specs.warmup_steps(0.0, 150) == 0 and specs.warmup_steps(0.2, 150) == 30
    assert specs.warmup_steps(0.001, 150) == 1


def test_warmup_optimizer_scales_adam_steps_and_stays_one_program():
    base = specs.optimizer("adam")
    opt_fn = specs.TransformerOptimizer(base, 4)
    assert opt_fn == specs.TransformerOptimizer(specs.optimizer("adam"), 4)  # equal: the compiled program is reused
    p = {"w": jnp.ones((3,))}
    g = {"w": jnp.full((3,), 0.5)}

    @jax.jit
    def first_steps(lr):
        opt = opt_fn(lr)
        s = opt.init(p)
        out = []
        for _ in range(6):
            u, s = opt.update(g, s, p)
            out.append(u["w"][0])
        return jnp.stack(out)

    # Adam's bias-corrected step with a constant gradient is -lr_t (up to eps): the warmup ramp itself
    np.testing.assert_allclose(first_steps(0.1), [-0.025, -0.05, -0.075, -0.1, -0.1, -0.1], rtol=1e-4)
    no_warm = specs.TransformerOptimizer(base, 0)(0.1)
    u, _ = no_warm.update(g, no_warm.init(p), p)
    assert float(u["w"][0]) == pytest.approx(-0.1, rel=1e-4)


def test_mup_optimizer_applies_the_per_layer_multipliers():
    params = models.transformer_init(
        jax.random.PRNGKey(0), vocab_size=8, seq_len=4, d_model=16, num_heads=2, num_layers=1
    )
    grads = jax.tree_util.tree_map(jnp.ones_like, params)
    opt = specs.TransformerOptimizer(specs.optimizer("adam"), 0, mup_base_width=8)(0.1)
    u, _ = opt.update(grads, opt.init(params), params)
    assert float(u["blocks"][0]["mlp"]["fc1"]["w"][0, 0]) == pytest.approx(-0.05, rel=1e-4)  # 0.1 * 8/16
    assert float(u["embed"]["token"][0, 0]) == pytest.approx(-0.1, rel=1e-4)  # input weights: 1
    ref = schemes.mup_transformer_optimizer(0.1, base_width=8)
    u_ref, _ = ref.update(grads, ref.init(params), params)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), u, u_ref)


@pytest.mark.parametrize("norm", ["pre", "post", "deepnorm", "none"])
def test_scan_apply_equals_transformer_apply(norm):
    params = models.transformer_init(
        jax.random.PRNGKey(1), vocab_size=8, seq_len=6, d_model=8, num_heads=2, num_layers=3, norm=norm
    )
    params = jax.tree_util.tree_map(lambda a: a * 20.0 if a.ndim == 2 else a, params)  # not just tiny weights
    x = jax.random.randint(jax.random.PRNGKey(2), (3, 6), 0, 8)
    for attn_scale in ("sqrt", "mup"):
        want = models.transformer_apply(params, x, norm=norm, num_heads=2, attn_scale=attn_scale)
        got = jax.jit(lambda p, t: models.transformer_apply(p, t, norm=norm, num_heads=2, attn_scale=attn_scale,
                                                            scan_blocks=True))(params, x)  # fmt: skip
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_hmm_dataset_is_next_token_pairs():
    ds = experiment.hmm_dataset(0)
    assert ds.x_train.shape == (experiment.HMM_TRAIN, 24) and ds.x_test.shape == (experiment.HMM_TEST, 24)
    np.testing.assert_array_equal(ds.x_train[:, 1:], ds.y_train[:, :-1])
    assert 0 < ds.optimal_loss < ds.unigram_entropy < np.log(32)
    again = experiment.hmm_dataset(0)
    np.testing.assert_array_equal(ds.x_test, again.x_test)


def test_groups_share_seeds_and_programs():
    exp = experiment.build(config.PRESETS["transformer-depth"])
    calls = exp.sweep_calls()
    assert [ns for _, ns, _ in calls] == [
        ["post/xavier_uniform"],
        ["post/xavier_uniform/warmup(0.2)"],
        ["pre/xavier_uniform", "pre/gpt2"],
        ["deepnorm/deepnorm"],
        ["none/t_fixup"],
    ]
    assert len({p for p, _, _ in calls}) == len(calls)  # distinct chunk-store prefixes
    assert {kw["seed"] for _, _, kw in calls} == {0}  # one base seed: paired init and data keys
    warm = calls[1][2]["optimizer"]
    assert dataclasses.replace(warm, warmup_steps=0) == calls[0][2]["optimizer"] and warm.warmup_steps == 30
    # the MLP presets keep one call with the plain names and no prefix (resumable as before)
    mlp = experiment.build(config.PRESETS["deep-relu"])
    [(prefix, names, _)] = mlp.sweep_calls()
    assert prefix == "" and names == list(config.PRESETS["deep-relu"].schemes)
    with_warm = experiment.build(config.PRESETS["deep-relu"].replace(warmup=(0.0, 0.1)))
    assert [ns[0] for _, ns, _ in with_warm.sweep_calls()] == ["glorot_normal warmup=0", "glorot_normal warmup=0.1"]
    assert isinstance(optax.adam(0.1), optax.GradientTransformation)
