"""A seeded synthetic language from a random hidden Markov model, with its Bayes-optimal loss (re-exported by
:mod:`jaxnn.datasets`).

A hidden state ``z_t`` in ``{0..S-1}`` follows a Markov chain (``z_0 ~ initial``, ``z_{t+1} ~ transition[z_t]``)
and emits a token ``x_t ~ emission[z_t]`` in ``{0..V-1}``. The rows of ``transition`` and ``emission`` are drawn
from a symmetric Dirichlet(``concentration``); a small concentration (0.05) makes them sparse, so the next token
is predictable from the context but not from the last token alone. ``initial`` is the chain's stationary
distribution, so every position has the same token marginal.

Losses are per-token natural-log cross-entropies (nats). The **floor** no model can beat in expectation is the
Bayes-optimal next-token loss ``-log p(x_t | x_<t)`` under the true HMM, computed exactly by the forward
algorithm (:func:`hmm_next_token_logprobs`); a model that ignores the context does no better than the
**unigram entropy** ``H(stationary @ emission)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn._util import positive_int

__all__ = [
    "HMM",
    "HMMLanguage",
    "hmm_language",
    "hmm_sample",
    "hmm_next_token_logprobs",
    "hmm_entropy_rate",
    "hmm_unigram_entropy",
]


class HMM(NamedTuple):
    """A hidden Markov model's probabilities (float64 numpy arrays, rows sum to 1).

    Attributes:
      initial: ``(S,)`` distribution of ``z_0``.
      transition: ``(S, S)``, ``transition[i, j] = p(z_{t+1} = j | z_t = i)``.
      emission: ``(S, V)``, ``emission[i, v] = p(x_t = v | z_t = i)``.
    """

    initial: np.ndarray
    transition: np.ndarray
    emission: np.ndarray


class HMMLanguage(NamedTuple):
    """What :func:`hmm_language` returns.

    Attributes:
      train: int32 ``(num_train, seq_len)`` token sequences.
      test: int32 ``(num_test, seq_len)`` token sequences (drawn with their own key: independent of
        ``num_train``).
      hmm: the generating :class:`HMM`.
      optimal_loss: the Bayes floor on ``test`` for next-token training (inputs ``x[:, :-1]``, targets
        ``x[:, 1:]``): the mean of ``-log p(x_t | x_<t)`` over ``t = 1..T-1``, nats/token
        (:func:`hmm_entropy_rate`).
      unigram_entropy: ``H(initial @ emission)`` in nats, the loss of the best context-free predictor
        (:func:`hmm_unigram_entropy`).
    """

    train: jax.Array
    test: jax.Array
    hmm: HMM
    optimal_loss: float
    unigram_entropy: float


def _as_key(key_or_seed):
    if isinstance(key_or_seed, (int, np.integer)) and not isinstance(key_or_seed, bool):
        return jax.random.key(int(key_or_seed))
    if isinstance(key_or_seed, jax.Array):
        return key_or_seed
    raise TypeError(f"key must be a jax PRNG key or an int seed, got {type(key_or_seed).__name__}")


def _stationary(transition: np.ndarray) -> np.ndarray:
    """A stationary distribution ``pi = pi @ transition``: the Cesaro mean of the chain started uniform (exists
    and is stationary even for reducible or periodic chains)."""
    s = transition.shape[0]
    p = np.full(s, 1.0 / s)
    acc = np.zeros(s)
    n = 4096
    for _ in range(n):
        acc += p
        p = p @ transition
    pi = acc / n
    for _ in range(64):  # polish: a fixed point to float64 precision for the (typical) aperiodic chain
        nxt = pi @ transition
        if np.max(np.abs(nxt - pi)) < 1e-15:
            break
        pi = nxt
    return pi / pi.sum()


def _dirichlet_rows(key, rows: int, cols: int, concentration: float) -> np.ndarray:
    """Rows of a symmetric Dirichlet(``concentration``), float64, from a numpy generator seeded by ``key``.

    Drawn in log space so that small concentrations never underflow to an all-zero row: ``log G = log G' +
    log(U) / a`` with ``G' ~ Gamma(a + 1)`` and ``U ~ U(0, 1]`` is a log-Gamma(a) draw, and the row is
    ``softmax(log G)``."""
    rng = np.random.default_rng(np.asarray(jax.random.bits(key, (4,), jnp.uint32)).tolist())
    a = concentration
    logg = np.log(rng.gamma(a + 1.0, size=(rows, cols))) + np.log1p(-rng.random((rows, cols))) / a
    logg -= logg.max(axis=1, keepdims=True)
    p = np.exp(logg)
    return p / p.sum(axis=1, keepdims=True)


def _inverse_cdf(cdf_rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index ``k`` with ``cdf[k-1] < u <= cdf[k]`` for each row (zero-probability entries are never chosen)."""
    return np.minimum((cdf_rows < u[:, None]).sum(axis=1), cdf_rows.shape[1] - 1)


def hmm_sample(key, hmm: HMM, num: int, seq_len: int) -> jax.Array:
    """``num`` token sequences of length ``seq_len`` from ``hmm``, int32 ``(num, seq_len)``, deterministic in
    ``key``: uniforms ``u ~ U(0, 1]`` of shape ``(num, seq_len, 2)`` from ``key``, then inverse-CDF sampling of
    the state and the token at each step (vectorized over the sequences, float64)."""
    positive_int(num, "num")
    positive_int(seq_len, "seq_len")
    u = 1.0 - np.asarray(jax.random.uniform(key, (num, seq_len, 2)), np.float64)
    initial, transition, emission = (np.cumsum(np.asarray(a, np.float64), axis=-1) for a in hmm)
    z = _inverse_cdf(np.broadcast_to(initial, (num, initial.shape[0])), u[:, 0, 0])
    out = np.empty((num, seq_len), np.int32)
    for t in range(seq_len):
        out[:, t] = _inverse_cdf(emission[z], u[:, t, 1])
        if t + 1 < seq_len:
            z = _inverse_cdf(transition[z], u[:, t + 1, 0])
    return jnp.asarray(out)


def hmm_next_token_logprobs(hmm: HMM, tokens) -> np.ndarray:
    """``log p(x_t | x_<t)`` under ``hmm`` for every position of every sequence, float64 ``(N, T)`` (position 0:
    ``log p(x_0)``).

    The scaled forward algorithm (Rabiner 1989): with the filtered belief ``b_t(z) = p(z_t = z | x_<t)`` (``b_0 =
    initial``), ``p(x_t | x_<t) = sum_z b_t(z) emission[z, x_t]``, then ``b_{t+1} = (b_t * emission[:, x_t]) @
    transition / p(x_t | x_<t)``. Exact up to float64 rounding; ``O(N T S^2)``.
    """
    x = np.asarray(tokens)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"tokens must be an integer array (N, T), got {x.dtype} {x.shape}")
    initial, transition, emission = (np.asarray(a, np.float64) for a in hmm)
    if x.size and (x.min() < 0 or x.max() >= emission.shape[1]):
        raise ValueError(f"tokens must lie in [0, {emission.shape[1]}), got range [{x.min()}, {x.max()}]")
    n, t = x.shape
    belief = np.broadcast_to(initial, (n, initial.shape[0])).copy()
    out = np.empty((n, t))
    for i in range(t):
        joint = belief * emission[:, x[:, i]].T  # (N, S): p(z_t, x_t | x_<t)
        p = joint.sum(axis=1)
        with np.errstate(divide="ignore"):
            out[:, i] = np.log(p)
        belief = (joint / np.where(p > 0, p, 1.0)[:, None]) @ transition
    return out


def hmm_entropy_rate(hmm: HMM, tokens) -> float:
    """The Bayes-optimal next-token cross-entropy on ``tokens`` (N, T), nats/token: the mean of ``-log p(x_t |
    x_<t)`` over ``t = 1..T-1`` (the targets of next-token training, inputs ``x[:, :-1]``, targets ``x[:, 1:]``).
    An estimate of the HMM's conditional entropy at these context lengths; no model's expected loss is lower."""
    lp = hmm_next_token_logprobs(hmm, tokens)
    if lp.shape[1] < 2:
        raise ValueError("tokens need at least 2 positions (one next-token target)")
    return float(-lp[:, 1:].mean())


def hmm_unigram_entropy(hmm: HMM) -> float:
    """Entropy (nats) of the token marginal ``initial @ emission``: the best loss without context."""
    q = np.asarray(hmm.initial, np.float64) @ np.asarray(hmm.emission, np.float64)
    q = q[q > 0]
    return float(-(q * np.log(q)).sum())


def hmm_language(
    key=0,
    *,
    num_states: int = 16,
    vocab_size: int = 32,
    seq_len: int = 25,
    num_train: int = 4096,
    num_test: int = 1024,
    concentration: float = 0.05,
) -> HMMLanguage:
    """A seeded synthetic language: token sequences from a random HMM (module docstring), with its floor.

    ``key`` (a PRNG key or an int seed) is split four ways: transition rows, emission rows, training and test
    sequences, so the split is deterministic and the test set does not change with ``num_train``. The defaults
    are the setting in which a small decoder-only transformer (d = 64) was measured: 16 states, 32 tokens,
    Dirichlet(0.05) rows, length 25.

    Returns:
      :class:`HMMLanguage` ``(train, test, hmm, optimal_loss, unigram_entropy)``; losses in nats/token.
    """
    for name, v in (
        ("num_states", num_states),
        ("vocab_size", vocab_size),
        ("seq_len", seq_len),
        ("num_train", num_train),
        ("num_test", num_test),
    ):
        positive_int(v, name)
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2 (one next-token target), got {seq_len}")
    if not (isinstance(concentration, (int, float)) and concentration > 0):
        raise ValueError(f"concentration must be a positive float, got {concentration!r}")
    k_trans, k_emit, k_train, k_test = jax.random.split(_as_key(key), 4)
    transition = _dirichlet_rows(k_trans, num_states, num_states, float(concentration))
    emission = _dirichlet_rows(k_emit, num_states, vocab_size, float(concentration))
    hmm = HMM(_stationary(transition), transition, emission)
    train = hmm_sample(k_train, hmm, num_train, seq_len)
    test = hmm_sample(k_test, hmm, num_test, seq_len)
    return HMMLanguage(train, test, hmm, hmm_entropy_rate(hmm, test), hmm_unigram_entropy(hmm))
