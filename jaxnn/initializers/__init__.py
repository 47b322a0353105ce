r"""Weight and bias initializers, in the :mod:`jax.nn.initializers` convention.

Every entry is an *initializer* ``init(key, shape, dtype=jnp.float32) -> Array``
or a *factory* returning one, so each works unchanged as
``flax.linen.Dense(kernel_init=jaxnn.initializers.he_normal())``. ``zeros`` and
``ones`` are initializers themselves (as in jax); every other name is a factory
(``he_normal()`` returns the initializer).

One mechanism, thin named entries: every fan-based scheme is
:func:`variance_scaling` with a fixed ``scale``/``mode``/``distribution``
(Glorot & Bengio 2010; He et al. 2015; LeCun et al. 1998), exactly as
:mod:`jax.nn.initializers` and Keras build theirs.

Where jaxnn differs from the anchors (jax 0.10, Keras 3, torch 2):

* **Low precision is unbiased.** Random draws are made in float32 (float64 when
  asked for float64 with x64 enabled) and then cast. jax samples directly in
  bfloat16/float16 and its ``uniform(-1, 1)`` in bf16 has mean about -1/128.
* **Clear errors instead of ZeroDivisionError / NaN**: rank < 2 or a zero fan for
  a fan-based scheme, non-float dtypes for random schemes, negative
  stddev/scale, ``minval > maxval``, unknown mode/distribution, sparsity outside
  [0, 1), ``orthogonal`` on rank < 2 -- each a ``ValueError``/``TypeError``
  naming the argument and its value.
* **Truncated normal keeps the requested std**: :func:`truncated_normal` divides
  by the closed-form std of the truncated standard normal (0.87962566103423978
  for +-2), so the *resulting* std is ``stddev`` (jax's ``truncated_normal``
  leaves the correction to the caller; torch's bounds are absolute values).
* **torch's truncated normal too**: :func:`trunc_normal` ``(mean, std, a, b)``
  has torch's semantics (absolute bounds, ``std`` of the untruncated normal).
* **uniform is symmetric** ``U(minval, maxval)`` (Keras), not jax's ``[0, scale)``.
* **Overflow and NaN are refused**: parameters whose draws cannot fit the dtype
  (``normal(1e39)``: when built, for float32; ``normal(1e5)`` in float16: when
  called) and ``constant(nan)``/``constant(inf)`` raise a one-line ``ValueError``.
* **A seed's draw does not depend on the batch**: ``jax.vmap(init)(keys)[i]`` is
  bitwise ``init(keys[i])`` for every random initializer and any number of keys
  (``orthogonal`` runs its draw key by key under ``vmap``).
* **orthogonal is fast**: the Householder reflectors that a QR of a Gaussian
  matrix would produce are drawn directly (Stewart 1980) and accumulated in
  blocks of GEMMs, half the flops of jax's QR route (LAPACK ``geqrf`` +
  ``orgqr``), from normals made by XLA's native threefry generator. Same Haar
  distribution as jax's, not the same numbers for a key. Measurements
  (``benchmarks/initializers.py``): ``docs/performance.md``.

Fans (:func:`compute_fans`, jax's rule): with ``rf`` the product of the axes that
are neither ``in_axis``, ``out_axis`` nor ``batch_axis`` (the receptive field),
``fan_in = prod(shape[in_axis]) * rf`` and ``fan_out = prod(shape[out_axis]) * rf``.
Dense ``(in, out)``; conv ``HWIO``: ``(3, 3, 64, 128)`` -> ``(576, 1152)``;
attention ``(512, 8, 64)`` with ``out_axis=(1, 2)`` -> ``(512, 512)``.

Gains: to use the gain ``g`` of any activation (``jaxnn.activations.gain`` or
``jaxnn.activations.numerical_gain``), pass ``variance_scaling(g**2, "fan_in",
...)`` or ``he_normal(gain=g)``.

Names and storage: :func:`get` resolves jaxnn names and Keras class names
(``"HeNormal"``, ``"TruncatedNormal"``, ...: :func:`keras_names`), with Keras's
defaults. :func:`serialize` turns any initializer a jaxnn factory built into a
JSON-able ``{"name": ..., "kwargs": {...}}`` and :func:`deserialize` rebuilds it
(same values for the same key): every factory's initializer remembers its
registry name and arguments.

Sharding: every random initializer accepts ``out_sharding=None``; given a
:class:`jax.sharding.Sharding`, the array is created already sharded (the draw is
jitted with ``out_shardings``). Values equal the unsharded draw for the same key
as long as ``jax_threefry_partitionable`` is on (the default since jax 0.5);
``orthogonal`` and ``delta_orthogonal`` raise ``NotImplementedError`` for it.

References:
  LeCun, Bottou, Orr, Mueller (1998), Efficient BackProp.
  Glorot & Bengio (2010), Understanding the difficulty of training deep
    feedforward neural networks.
  Martens (2010), Deep learning via Hessian-free optimization (sparse init).
  Saxe, McClelland, Ganguli (2014), Exact solutions to the nonlinear dynamics of
    learning in deep linear neural networks (orthogonal init).
  He, Zhang, Ren, Sun (2015), Delving Deep into Rectifiers.
  Xiao et al. (2018), Dynamical Isometry and a Mean Field Theory of CNNs
    (delta-orthogonal).
  Mezzadri (2007), How to generate random matrices from the classical compact
    groups (sign correction for Haar-distributed Q).

Layout (private modules; everything public is re-exported here): ``_checks``
(argument checks), ``_fans`` (:func:`compute_fans`, :func:`truncated_normal_std`),
``_draw`` (the jitted draw every random initializer goes through), ``_basic``
(constants, biases, plain distributions), ``_variance_scaling`` (it and the named
fan-based schemes), ``_orthogonal`` (orthogonal, delta-orthogonal),
``_structured`` (identity, dirac, sparse), ``_registry`` (:func:`names`, :func:`get`, Keras names,
:func:`serialize`, :func:`deserialize`).
"""

from jaxnn._util import Initializer
from jaxnn.initializers._basic import (
    constant,
    normal,
    ones,
    prior_bias,
    trunc_normal,
    truncated_normal,
    uniform,
    zeros,
)
from jaxnn.initializers._fans import compute_fans, truncated_normal_std
from jaxnn.initializers._orthogonal import delta_orthogonal, orthogonal
from jaxnn.initializers._registry import deserialize, get, keras_names, names, serialize
from jaxnn.initializers._structured import dirac, identity, sparse
from jaxnn.initializers._variance_scaling import (
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    kaiming_normal,
    kaiming_uniform,
    lecun_normal,
    lecun_uniform,
    torch_linear_default,
    variance_scaling,
    xavier_normal,
    xavier_uniform,
)

__all__ = [
    "Initializer",
    "compute_fans",
    "truncated_normal_std",
    # constants / bias
    "zeros",
    "ones",
    "constant",
    "prior_bias",
    # plain distributions
    "normal",
    "uniform",
    "truncated_normal",
    "trunc_normal",
    # variance scaling family
    "variance_scaling",
    "glorot_normal",
    "glorot_uniform",
    "xavier_normal",
    "xavier_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "torch_linear_default",
    # structured
    "orthogonal",
    "delta_orthogonal",
    "identity",
    "dirac",
    "sparse",
    # lookup, serialization
    "get",
    "names",
    "keras_names",
    "serialize",
    "deserialize",
]
