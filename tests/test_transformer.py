"""The decoder-only transformer (jaxnn.models.transformer_*), its initialization schemes (jaxnn.schemes) and the
HMM language (jaxnn.datasets.hmm_*)."""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import datasets, diagnostics, initializers, schemes
from jaxnn._reinit import leaves_with_paths
from jaxnn.models import layers, transformer_apply, transformer_init

V, T, D, H, L = 13, 6, 16, 4, 2
NORMS = ("pre", "post", "deepnorm", "none")


def _init(norm="pre", *, num_layers=L, d_model=D, tie=False, dtype=jnp.float32, key=0, **kw):
    return transformer_init(
        jax.random.key(key),
        vocab_size=V,
        seq_len=T,
        d_model=d_model,
        num_heads=H,
        num_layers=num_layers,
        norm=norm,
        tie_embeddings=tie,
        dtype=dtype,
        **kw,
    )


def _tokens(shape=(3, T), key=1):
    return jax.random.randint(jax.random.key(key), shape, 0, V)


def _apply(norm, **kw):
    return functools.partial(transformer_apply, norm=norm, num_heads=H, **kw)


@functools.cache
def _japply(norm, **kw):
    """The jitted apply (eager transformers run op by op: slow on 2 cores)."""
    return jax.jit(_apply(norm, **kw), static_argnames="return_activations")


# ------------------------------------------------------------------------------------------------ model


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("tie", [False, True])
def test_shapes_and_paths(norm, tie):
    p = _init(norm, tie=tie)
    paths = {path: leaf.shape for path, leaf in leaves_with_paths(p)}
    assert paths["embed/token"] == (V, D) and paths["embed/pos"] == (T, D)
    for i in range(L):
        for n in "qkvo":
            assert paths[f"blocks/{i}/attn/{n}/w"] == (D, D) and paths[f"blocks/{i}/attn/{n}/b"] == (D,)
        assert paths[f"blocks/{i}/mlp/fc1/w"] == (D, 4 * D) and paths[f"blocks/{i}/mlp/fc2/w"] == (4 * D, D)
        assert (f"blocks/{i}/ln1/scale" in paths) == (norm != "none")
        assert (f"blocks/{i}/ln2/bias" in paths) == (norm != "none")
    assert ("ln_f/scale" in paths) == (norm != "none")
    assert ("readout/w" in paths) == (not tie)
    names = [n for n, _ in layers(p)]
    assert "blocks/1/attn/o" in names and "blocks/0/mlp/fc2" in names and ("readout" in names) == (not tie)
    out = _japply(norm)(p, _tokens())
    assert out.shape == (3, T, V) and out.dtype == jnp.float32
    assert jax.eval_shape(_apply(norm), p, _tokens((2, 5, 4))).shape == (2, 5, 4, V)  # any leading shape, T <= seq_len


def test_dtype_preserved_and_d_ff():
    p = _init("pre", dtype=jnp.bfloat16, d_ff=24)
    assert p["blocks"][0]["mlp"]["fc1"]["w"].shape == (D, 24)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(p))
    assert _apply("pre")(p, _tokens()).dtype == jnp.bfloat16


@pytest.mark.parametrize("norm", NORMS)
def test_causal_masking_bitwise(norm):
    p = jaxnn.reinit(jax.random.key(3), _init(norm), schemes.transformer_standard(initializers.xavier_uniform()))
    x = _tokens((4, T))
    f = _japply(norm)
    base = np.asarray(f(p, x))
    for t in range(T - 1):
        later = jax.random.randint(jax.random.key(10 + t), (4, T - t - 1), 0, V)
        y = np.asarray(f(p, x.at[:, t + 1 :].set(later)))
        np.testing.assert_array_equal(y[:, : t + 1], base[:, : t + 1])
        assert not np.array_equal(y[:, t + 1 :], base[:, t + 1 :])


def _ln(p, x):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * p["scale"] + p["bias"]


def _attn_by_hand(p, x, scale):
    """Loops over heads and query positions, numpy float64."""
    t, d = x.shape
    dh = d // H
    q, k, v = (x @ p[n]["w"] + p[n]["b"] for n in "qkv")
    out = np.zeros((t, d))
    for h in range(H):
        sl = slice(h * dh, (h + 1) * dh)
        for i in range(t):
            logits = np.array([q[i, sl] @ k[j, sl] * scale for j in range(i + 1)])
            w = np.exp(logits - logits.max())
            w /= w.sum()
            out[i, sl] = sum(w[j] * v[j, sl] for j in range(i + 1))
    return out @ p["o"]["w"] + p["o"]["b"]


def _gelu(z):
    return 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3)))


def _mlp_by_hand(p, x):
    return _gelu(x @ p["fc1"]["w"] + p["fc1"]["b"]) @ p["fc2"]["w"] + p["fc2"]["b"]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("attn_scale", ["sqrt", "mup"])
def test_norm_placement_matches_formula(norm, attn_scale):
    p = _init(norm, num_layers=1)
    rules = [schemes.transformer_standard(initializers.xavier_normal()), {"scale": initializers.normal(1.0)}]
    p = jaxnn.reinit(jax.random.key(4), p, [{"b": initializers.normal(0.1), "bias": initializers.normal(0.1)}, *rules])
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), p)
    x = np.asarray(_tokens((1, T), key=5))[0]
    scale = 1 / math.sqrt(D // H) if attn_scale == "sqrt" else 1 / (D // H)
    alpha = (2.0 * 1) ** 0.25
    blk = p["blocks"][0]
    h = p["embed"]["token"][x] + p["embed"]["pos"][:T]
    attn = functools.partial(_attn_by_hand, blk["attn"], scale=scale)
    mlp = functools.partial(_mlp_by_hand, blk["mlp"])
    if norm == "pre":
        h = h + attn(_ln(blk["ln1"], h))
        h = h + mlp(_ln(blk["ln2"], h))
    elif norm == "post":
        h = _ln(blk["ln1"], h + attn(h))
        h = _ln(blk["ln2"], h + mlp(h))
    elif norm == "deepnorm":
        h = _ln(blk["ln1"], alpha * h + attn(h))
        h = _ln(blk["ln2"], alpha * h + mlp(h))
    else:
        h = h + attn(h)
        h = h + mlp(h)
    if norm != "none":
        h = _ln(p["ln_f"], h)
    want = h @ p["readout"]["w"] + p["readout"]["b"]
    p32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), p)
    got = _japply(norm, attn_scale=attn_scale)(p32, jnp.asarray(x)[None])[0]
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4, atol=2e-4)


def test_deepnorm_alpha_default_and_errors():
    p = _init("deepnorm", num_layers=3)
    x = _tokens()
    default = _apply("deepnorm")(p, x)
    np.testing.assert_array_equal(default, _apply("deepnorm", alpha=(2.0 * 3) ** 0.25)(p, x))
    assert not np.allclose(default, _apply("deepnorm", alpha=1.0)(p, x))
    assert schemes.deepnorm_constants(3) == pytest.approx((6**0.25, 24**-0.25), rel=1e-15)
    with pytest.raises(ValueError, match="alpha"):
        _apply("pre", alpha=2.0)(p, x)
    with pytest.raises(ValueError, match="norm"):
        _init("layer")
    with pytest.raises(ValueError, match="seq_len"):
        _apply("deepnorm")(p, _tokens((1, T + 1)))
    with pytest.raises(ValueError, match="divisible"):
        transformer_init(jax.random.key(0), vocab_size=V, seq_len=T, d_model=10, num_heads=4, num_layers=1)


@pytest.mark.parametrize("tie", [False, True])
def test_tied_readout_is_embedding_transpose(tie):
    p = _init("none", tie=tie)
    logits, acts = _japply("none")(p, _tokens(), return_activations=True)
    w = p["embed"]["token"].T if tie else p["readout"]["w"]
    b = 0.0 if tie else p["readout"]["b"]
    np.testing.assert_allclose(logits, acts[-2]["post"] @ w + b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("norm", NORMS)
def test_jit_equals_eager_grad_finite_vmap(norm):
    p = jaxnn.reinit(jax.random.key(2), _init(norm), schemes.transformer_standard(initializers.he_normal()))
    x = _tokens()
    f = _apply(norm)
    np.testing.assert_allclose(f(p, x), jax.jit(f)(p, x), rtol=1e-5, atol=1e-5)

    def loss(params):
        logits = f(params, x[:, :-1])
        return optax.softmax_cross_entropy_with_integer_labels(logits, x[:, 1:]).mean()

    g = jax.jit(jax.grad(loss))(p)
    assert jax.tree.structure(g) == jax.tree.structure(p)
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(g))
    assert sum(float(jnp.sum(leaf**2)) for leaf in jax.tree.leaves(g)) > 0
    if norm != "pre":
        return
    keys = jax.random.split(jax.random.key(0), 2)
    stacked = jax.vmap(
        lambda k: transformer_init(k, vocab_size=V, seq_len=T, d_model=D, num_heads=H, num_layers=1, norm=norm)
    )(keys)
    out = jax.jit(jax.vmap(f, (0, None)))(stacked, x)
    assert out.shape == (2, 3, T, V) and bool(jnp.all(jnp.isfinite(out)))


@pytest.mark.parametrize("norm", NORMS)
def test_activations_and_diagnostics(norm):
    p = _init(norm, num_layers=3)
    x = _tokens((8, T))
    f = _japply(norm)
    logits, acts = f(p, x, return_activations=True)
    assert len(acts) == 3 + 2 and all(set(a) == {"pre", "post"} for a in acts)
    np.testing.assert_array_equal(acts[-1]["post"], logits)
    if norm in ("pre", "none"):
        assert all(np.array_equal(a["pre"], a["post"]) for a in acts)
    else:  # a block's output is LayerNorm(its residual sum): zero mean, unit variance per position
        post = np.asarray(acts[1]["post"])
        np.testing.assert_allclose(post.mean(-1), 0, atol=1e-5)
        np.testing.assert_allclose(post.var(-1), 1, rtol=1e-3)
    onehot = jax.nn.one_hot(x, V)
    np.testing.assert_allclose(f(p, onehot), logits, rtol=1e-5, atol=1e-6)  # soft tokens = embedded ids
    if norm not in ("pre", "post"):
        return
    f = _apply(norm)  # diagnostics jit the apply themselves
    report = diagnostics.signal_propagation(p, f, onehot, jax.random.key(0), jacobian="none")
    assert report.num_layers == 5 and np.all(np.isfinite(report.grad_moment)) and np.all(report.grad_moment > 0)
    moments = diagnostics.layer_moments(p, f, x, jax.random.key(0))  # int tokens work for the moments
    np.testing.assert_allclose(moments["pre"], report.pre_moment, rtol=1e-5)
    assert np.all(np.isfinite(moments["grad"])) and np.all(moments["grad"] > 0)


# ------------------------------------------------------------------------------------------------ schemes


def _leaf(p, path):
    return dict(leaves_with_paths(p))[path]


def _std_ok(a, want, kind="normal"):
    a = np.asarray(a, np.float64).ravel()
    # relative standard error of a sample std: sqrt((kurtosis - 1) / (4 n)); 6 of them
    kurt = 3.0 if kind == "normal" else 1.8
    tol = 6 * math.sqrt((kurt - 1) / (4 * a.size))
    assert abs(a.std() / want - 1) < tol, (a.std(), want, tol)


def _big(norm="pre", num_layers=3, tie=False):
    return transformer_init(
        jax.random.key(0),
        vocab_size=64,
        seq_len=32,
        d_model=64,
        num_heads=4,
        num_layers=num_layers,
        norm=norm,
        tie_embeddings=tie,
    )


def test_gpt2_constants():
    Lb = 3
    p = jaxnn.reinit(jax.random.key(1), _big(), schemes.gpt2(Lb))
    plain = jaxnn.reinit(jax.random.key(1), _big(), {"w": initializers.normal(0.02)})
    r = 0.02 / math.sqrt(2 * Lb)
    for i in range(Lb):
        for path in (f"blocks/{i}/attn/o/w", f"blocks/{i}/mlp/fc2/w"):
            _std_ok(_leaf(p, path), r)
            np.testing.assert_allclose(_leaf(p, path), _leaf(plain, path) / math.sqrt(2 * Lb), rtol=1e-6)
        for path in (f"blocks/{i}/attn/q/w", f"blocks/{i}/attn/v/w", f"blocks/{i}/mlp/fc1/w"):
            _std_ok(_leaf(p, path), 0.02)
            np.testing.assert_array_equal(_leaf(p, path), _leaf(plain, path))
        assert np.all(_leaf(p, f"blocks/{i}/ln1/scale") == 1) and np.all(_leaf(p, f"blocks/{i}/attn/q/b") == 0)
    for path in ("embed/token", "embed/pos", "readout/w"):
        _std_ok(_leaf(p, path), 0.02)
    assert np.all(_leaf(p, "readout/b") == 0) and np.all(_leaf(p, "ln_f/bias") == 0)


def test_t_fixup_constants():
    Lb, d = 3, 64
    p0 = _big("none", Lb)
    p = jaxnn.reinit(jax.random.key(1), p0, schemes.t_fixup(Lb, d))
    plain = jaxnn.reinit(jax.random.key(1), p0, {"w": initializers.xavier_uniform()})
    c = (9 * Lb) ** -0.25
    for i in range(Lb):
        for n, (fi, fo) in {"attn/v": (d, d), "attn/o": (d, d), "mlp/fc1": (d, 4 * d), "mlp/fc2": (4 * d, d)}.items():
            path = f"blocks/{i}/{n}/w"
            np.testing.assert_allclose(_leaf(p, path), c * _leaf(plain, path), rtol=1e-6)
            _std_ok(_leaf(p, path), c * math.sqrt(2 / (fi + fo)), "uniform")
        for n in ("attn/q", "attn/k"):
            np.testing.assert_array_equal(_leaf(p, f"blocks/{i}/{n}/w"), _leaf(plain, f"blocks/{i}/{n}/w"))
    np.testing.assert_array_equal(_leaf(p, "readout/w"), _leaf(plain, "readout/w"))
    for path in ("embed/token", "embed/pos"):
        _std_ok(_leaf(p, path), c / math.sqrt(d))
    # d_model inferred from the tables' last axis when not given
    q = jaxnn.reinit(jax.random.key(1), p0, schemes.t_fixup(Lb))
    np.testing.assert_array_equal(_leaf(q, "embed/token"), _leaf(p, "embed/token"))


def test_deepnorm_constants():
    Lb, d = 4, 64
    alpha, beta = schemes.deepnorm_constants(Lb)
    assert alpha == pytest.approx((2 * Lb) ** 0.25) and beta == pytest.approx((8 * Lb) ** -0.25)
    p0 = _big("deepnorm", Lb)
    p = jaxnn.reinit(jax.random.key(1), p0, schemes.deepnorm(Lb))
    plain = jaxnn.reinit(jax.random.key(1), p0, {"w": initializers.variance_scaling(1.0, "fan_avg", "normal")})
    for i in range(Lb):
        for n, (fi, fo) in {"attn/v": (d, d), "attn/o": (d, d), "mlp/fc1": (d, 4 * d), "mlp/fc2": (4 * d, d)}.items():
            path = f"blocks/{i}/{n}/w"
            np.testing.assert_allclose(_leaf(p, path), beta * _leaf(plain, path), rtol=1e-5)
            _std_ok(_leaf(p, path), beta * math.sqrt(2 / (fi + fo)))
        for n in ("attn/q", "attn/k"):
            path = f"blocks/{i}/{n}/w"
            np.testing.assert_allclose(_leaf(p, path), _leaf(plain, path), rtol=1e-6)
            _std_ok(_leaf(p, path), math.sqrt(2 / (2 * d)))
    _std_ok(_leaf(p, "embed/token"), d**-0.5)


def test_mup_transformer():
    p = jaxnn.reinit(jax.random.key(1), _big(), schemes.mup_transformer())
    assert np.all(_leaf(p, "blocks/0/attn/q/w") == 0) and np.all(_leaf(p, "readout/w") == 0)
    _std_ok(_leaf(p, "blocks/0/attn/k/w"), 64**-0.5)
    _std_ok(_leaf(p, "blocks/1/mlp/fc2/w"), 256**-0.5)
    _std_ok(_leaf(p, "embed/token"), 0.02)
    m = schemes.mup_transformer_lr_multipliers(p, base_width=16)
    assert jax.tree.structure(m) == jax.tree.structure(p)
    assert m["blocks"][0]["attn"]["q"]["w"] == 0.25 and m["readout"]["w"] == 0.25
    assert m["blocks"][0]["mlp"]["fc2"]["w"] == 0.25 and m["blocks"][0]["attn"]["q"]["b"] == 1.0
    assert m["embed"]["token"] == 1.0 and m["ln_f"]["scale"] == 1.0 and m["blocks"][0]["ln1"]["bias"] == 1.0
    assert set(jax.tree.leaves(schemes.mup_transformer_lr_multipliers(p, base_width=64))) == {1.0}
    g = jax.tree.map(lambda a: jnp.ones_like(a), p)
    opt = schemes.mup_transformer_optimizer(1e-3, base_width=16)
    u_mup, _ = opt.update(g, opt.init(p), p)
    u_sp, _ = optax.adam(1e-3).update(g, optax.adam(1e-3).init(p), p)
    np.testing.assert_allclose(u_mup["blocks"][0]["attn"]["k"]["w"], 0.25 * u_sp["blocks"][0]["attn"]["k"]["w"])
    np.testing.assert_allclose(u_mup["embed"]["pos"], u_sp["embed"]["pos"])


@pytest.mark.parametrize("name", ["xavier_uniform", "he_normal", "lecun_normal"])
def test_standard_schemes(name):
    init = getattr(initializers, name)()
    p = jaxnn.reinit(jax.random.key(1), _big(), schemes.transformer_standard(init))
    gain2 = {"xavier_uniform": None, "he_normal": 2.0, "lecun_normal": 1.0}[name]
    for path, (fi, fo) in {
        "blocks/0/attn/q/w": (64, 64),
        "blocks/1/mlp/fc2/w": (256, 64),
        "readout/w": (64, 64),
    }.items():
        want = math.sqrt(2 / (fi + fo)) if gain2 is None else math.sqrt(gain2 / fi)
        _std_ok(_leaf(p, path), want, "uniform" if gain2 is None else "normal")
    _std_ok(_leaf(p, "embed/token"), 0.02)


@pytest.mark.parametrize("norm", ["pre", "post", "deepnorm", "none"])
def test_schemes_train_one_step(norm):
    rules = {
        "pre": schemes.gpt2(2),
        "post": schemes.gpt2(2),
        "deepnorm": schemes.deepnorm(2),
        "none": schemes.t_fixup(2),
    }
    p = jaxnn.reinit(jax.random.key(0), _init(norm), rules[norm])
    x = _tokens((4, T))
    f = _apply(norm)

    def loss(params):
        return optax.softmax_cross_entropy_with_integer_labels(f(params, x[:, :-1]), x[:, 1:]).mean()

    assert abs(float(jax.jit(loss)(p)) - math.log(V)) < 0.5  # near-uniform predictions at init
    opt = optax.adam(1e-2)

    @jax.jit
    def step(p, state):
        u, state = opt.update(jax.grad(loss)(p), state, p)
        return optax.apply_updates(p, u), state

    l0, state = float(jax.jit(loss)(p)), opt.init(p)
    for _ in range(5):
        p, state = step(p, state)
    assert float(jax.jit(loss)(p)) < l0


# ------------------------------------------------------------------------------------------------ HMM data


def _tiny_hmm(seed=0, s=3, v=4):
    rng = np.random.default_rng(seed)
    trans = rng.dirichlet(np.ones(s) * 0.7, size=s)
    emit = rng.dirichlet(np.ones(v) * 0.7, size=s)
    init = rng.dirichlet(np.ones(s))
    return datasets.HMM(init, trans, emit)


def _brute_joint(hmm, x):
    """p(x_0..x_{n-1}) by enumerating every hidden path."""
    s = len(hmm.initial)
    total = 0.0
    for z in itertools.product(range(s), repeat=len(x)):
        pr = hmm.initial[z[0]] * hmm.emission[z[0], x[0]]
        for t in range(1, len(x)):
            pr *= hmm.transition[z[t - 1], z[t]] * hmm.emission[z[t], x[t]]
        total += pr
    return total


def test_forward_algorithm_against_brute_force():
    hmm = _tiny_hmm()
    seqs = np.array(list(itertools.product(range(4), repeat=4)))  # all 256 sequences of length 4
    lp = datasets.hmm_next_token_logprobs(hmm, seqs)
    assert lp.shape == (256, 4)
    for x, row in zip(seqs[::7], lp[::7]):
        joints = [_brute_joint(hmm, x[: t + 1]) for t in range(4)]
        want = np.log([joints[0]] + [joints[t] / joints[t - 1] for t in range(1, 4)])
        np.testing.assert_allclose(row, want, rtol=1e-12)
    # the probabilities of all length-4 sequences sum to one; the exact entropy rate is the expected floor
    joint = np.exp(lp.sum(1))
    assert joint.sum() == pytest.approx(1.0, abs=1e-12)
    exact = float(-(joint[:, None] * lp[:, 1:]).sum() / 3)
    ent = datasets.hmm_entropy_rate(hmm, seqs)  # the unweighted mean over all sequences: a different number
    assert ent != pytest.approx(exact)
    q = hmm.initial @ hmm.emission
    assert datasets.hmm_unigram_entropy(hmm) == pytest.approx(float(-(q * np.log(q)).sum()), rel=1e-12)


def test_hmm_language_floor_against_brute_force():
    lang = datasets.hmm_language(3, num_states=3, vocab_size=4, seq_len=4, num_train=16, num_test=64, concentration=0.5)
    test = np.asarray(lang.test)
    cond = []
    for x in test:
        joints = [_brute_joint(lang.hmm, x[: t + 1]) for t in range(4)]
        cond += [-math.log(joints[t] / joints[t - 1]) for t in range(1, 4)]
    assert lang.optimal_loss == pytest.approx(np.mean(cond), rel=1e-10)
    pi = lang.hmm.initial
    np.testing.assert_allclose(pi @ lang.hmm.transition, pi, atol=1e-10)  # stationary start
    for a in lang.hmm:
        np.testing.assert_allclose(np.asarray(a).sum(-1), 1.0, rtol=1e-12)


def test_hmm_language_deterministic_and_split():
    a = datasets.hmm_language(7, num_train=32, num_test=16)
    b = datasets.hmm_language(jax.random.key(7), num_train=32, num_test=16)
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.test, b.test)
    for x, y in zip(a.hmm, b.hmm):
        np.testing.assert_array_equal(x, y)
    assert a.optimal_loss == b.optimal_loss and a.unigram_entropy == b.unigram_entropy
    c = datasets.hmm_language(7, num_train=64, num_test=16)  # the test split does not move with num_train
    np.testing.assert_array_equal(c.test, a.test)
    d = datasets.hmm_language(8, num_train=32, num_test=16)
    assert not np.array_equal(d.train, a.train)
    assert a.train.shape == (32, 25) and a.train.dtype == jnp.int32 and a.test.shape == (16, 25)
    assert int(a.train.min()) >= 0 and int(a.train.max()) < 32


def test_hmm_default_floor_below_unigram_and_sampler_marginal():
    lang = datasets.hmm_language(0, num_train=2048, num_test=512)
    assert 0 < lang.optimal_loss < lang.unigram_entropy < math.log(32)
    q = lang.hmm.initial @ lang.hmm.emission
    freq = np.bincount(np.asarray(lang.train).ravel(), minlength=32) / lang.train.size
    assert np.abs(freq - q).max() < 0.01
    with pytest.raises(ValueError, match="seq_len"):
        datasets.hmm_language(0, seq_len=1)
