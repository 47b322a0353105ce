"""Signal-propagation diagnostics: see, at step 0, whether an initialization lets a network learn.

An initialization "works" when the signal keeps its scale through the layers in both directions (Glorot &
Bengio 2010; He et al. 2015; Schoenholz et al. 2017) and when the input-output Jacobian is well conditioned
(dynamical isometry, Saxe et al. 2014; Pennington et al. 2017). :func:`signal_propagation` measures all of
this for any model whose apply function can return its per-layer activations:

* **forward**: per layer ``l``, the second moments ``E[z_l^2]`` (pre-activations) and ``E[h_l^2]``
  (activations), averaged over the batch and the units;
* **backward**: per layer, ``E[g_l^2]`` with ``g_l = (d f / d h_l)^T u`` the gradient of ``<u, f(x)>``
  with respect to the layer's activations for a random output cotangent ``u ~ N(0, I)`` -- the quantity
  that back-propagation multiplies layer by layer. It is computed with additive zero "taps": each
  recorded activation ``h_l`` is replaced by ``h_l + t_l`` inside the model and ``vjp`` is taken with
  respect to the taps at ``t = 0`` (see :func:`tapped_apply`), so no model has to be written specially;
* **unit health**: the fraction of dead units (zero derivative ``phi'(z)`` on every example of the batch,
  e.g. dead ReLUs) and of saturated entries (``|phi'(z)| <= 2%`` of ``max |phi'|``, e.g. ``|tanh z| > 0.99``),
  and whether all units of a layer are identical (unbroken symmetry, e.g. constant initializations);
* **Jacobian**: the singular values of the per-example input-output Jacobian ``J(x_i) = d f(x_i) / d x_i``
  for a few examples ``x_i`` of the batch -- exact (SVD of the full Jacobian) for small networks, or
  estimated by stochastic Lanczos quadrature for large ones (:func:`jacobian_spectrum`).

:func:`verdict` turns a report into one line ("forward signal shrinks 10^-9 over 30 layers: expect no
learning") and :func:`plot` draws per-layer forward / backward scales on a log axis next to a histogram of
the Jacobian singular values (matplotlib is imported only there).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import _trace
from jaxnn._util import Array, Params, positive_int
from jaxnn.models import get_activation

__all__ = [
    "SignalReport",
    "signal_propagation",
    "tapped_apply",
    "layer_moments",
    "jacobian_spectrum",
    "lanczos_singular_values",
    "summary",
    "verdict",
    "plot",
]

_SATURATION_THRESHOLD = 0.02


class SignalReport(NamedTuple):
    """What :func:`signal_propagation` measures (numpy arrays; ``L`` = number of recorded layers).

    Attributes:
      pre_moment: ``(L,)`` ``E[z_l^2]`` over batch and units.
      post_moment: ``(L,)`` ``E[h_l^2]``.
      grad_moment: ``(L,)`` ``E[g_l^2]``, ``g_l = (d<u, f>/d h_l)`` for one random cotangent ``u ~ N(0, I)``
        of the output's shape (so the last layer's value is ~1 when its ``post`` is the output).
      dead_fraction: ``(L,)`` fraction of units whose activation derivative is zero (``<= 1e-6`` of its
        peak) on every example; NaN where the layer's ``post`` is not ``phi(pre)`` (e.g. the linear output).
      saturated_fraction: ``(L,)`` fraction of (example, unit) entries with ``|phi'(z)| <= 0.02 max|phi'|``
        (for ReLU this is simply the fraction of inactive entries, ~0.5 when healthy); NaN where not applicable.
      identical_units: ``(L,)`` bool, every unit of the layer equals unit 0 on every example (symmetry).
      jacobian_sv: ``(E, k)`` singular values of ``J(x_i)`` for the first ``E`` examples (Ritz values when
        estimated), ``k = min(out_dim, in_dim)`` when exact.
      jacobian_weights: ``(E, k)`` the mass of each value in that example's spectral distribution (``1/k``
        when exact; Gauss-quadrature weights when estimated); each row sums to 1.
      jacobian_method: ``"exact"`` or ``"lanczos"``.
      activation: the activation name used for the unit statistics (``None`` if unknown).
      layer_names: for a model whose layers were found by tracing (a plain ``apply_fn(params, x)``), each
        layer's parameter leaf path (e.g. ``params/Dense_0/kernel``); ``None`` for ``return_activations`` models.
    """

    pre_moment: np.ndarray
    post_moment: np.ndarray
    grad_moment: np.ndarray
    dead_fraction: np.ndarray
    saturated_fraction: np.ndarray
    identical_units: np.ndarray
    jacobian_sv: np.ndarray
    jacobian_weights: np.ndarray
    jacobian_method: str
    activation: str | None
    layer_names: tuple[str, ...] | None = None

    @property
    def num_layers(self) -> int:
        return int(self.pre_moment.shape[0])


# --------------------------------------------------------------------------------------------- taps


def _call_jaxpr(eqn):
    """The closed jaxpr of a plain call (``jit``/``pjit``/``closed_call``), else None."""
    from jax.extend.core import ClosedJaxpr

    if eqn.primitive.name not in ("jit", "pjit", "closed_call", "core_call"):
        return None
    inner = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
    return inner if isinstance(inner, ClosedJaxpr) else None


def _bind(eqn, invals):
    params = eqn.primitive.get_bind_params(eqn.params)
    subfuns = []
    if isinstance(params, tuple):  # older jax: (subfuns, params)
        subfuns, params = params
    ans = eqn.primitive.bind(*subfuns, *invals, **params)
    return list(ans) if eqn.primitive.multiple_results else [ans]


def _eval_tapped(jaxpr, consts, args, taps):
    """Evaluate ``jaxpr`` adding ``taps[var]`` to each tapped variable as soon as it is defined.

    A tapped variable defined by a plain call (a ``jax.jit``-ed function) is tapped inside that call,
    so consumers inside the call see the tap too.
    """
    from jax.extend.core import Literal

    env = {}

    def read(v):
        return v.val if isinstance(v, Literal) else env[v]

    def write(v, val, tap=True):
        if tap and v in taps:
            val = val + taps[v]
        env[v] = val

    for v, c in zip(jaxpr.constvars, consts):
        write(v, c)
    for v, a in zip(jaxpr.invars, args):
        write(v, a)
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        inner = _call_jaxpr(eqn)
        hit = [v for v in eqn.outvars if v in taps]
        if inner is not None and hit:
            inner_taps = {}
            for ov, iv in zip(eqn.outvars, inner.jaxpr.outvars):
                if ov in taps and not isinstance(iv, Literal) and iv not in inner_taps:
                    inner_taps[iv] = taps[ov]
            outs = _eval_tapped(inner.jaxpr, inner.consts, invals, inner_taps)
            for v, o in zip(eqn.outvars, outs):
                write(v, o, tap=False)
        else:
            for v, o in zip(eqn.outvars, _bind(eqn, invals)):
                write(v, o)
    return [read(v) for v in jaxpr.outvars]


def _is_var(v) -> bool:
    from jax.extend.core import Literal

    return not isinstance(v, Literal)


def _consumed(jaxpr) -> set:
    return {v for eqn in jaxpr.eqns for v in eqn.invars if _is_var(v)}


def _tappable(jaxpr, v, live_outs) -> bool:
    """Whether a tap on ``v`` reaches something that matters: ``v`` is consumed in ``jaxpr``, is one of
    ``live_outs`` (values used by the caller / the model output), or is defined by a plain call inside
    which the same holds."""
    if v in _consumed(jaxpr) or v in live_outs or v in jaxpr.invars:
        return True
    for eqn in jaxpr.eqns:
        if v in eqn.outvars:
            inner = _call_jaxpr(eqn)
            if inner is None:
                return False
            used = _consumed(jaxpr) | live_outs
            inner_live = {iv for ov, iv in zip(eqn.outvars, inner.jaxpr.outvars) if ov in used and _is_var(iv)}
            return _tappable(inner.jaxpr, inner.jaxpr.outvars[eqn.outvars.index(v)], inner_live)
    return False


def tapped_apply(apply_fn: Callable, params: Params, x: Array):
    """``apply_fn`` with an additive tap on every recorded activation, for backward diagnostics.

    Returns ``(fn, tap_shapes)`` where ``fn(taps) -> (out, activations)`` computes the same as
    ``apply_fn(params, x, return_activations=True)`` except that layer ``l``'s activation ``h_l`` (its
    ``"post"`` entry) is replaced by ``h_l + taps[l]`` everywhere it is used. Hence
    ``vjp(fn, zeros)`` gives ``d out / d h_l`` for every layer in one backward pass.

    Mechanism: ``apply_fn`` is traced once to a jaxpr and re-evaluated with the taps added where the
    activation variables are defined (also inside ``jax.jit``-ed sub-functions). Activations computed
    inside ``lax.scan``/``while_loop`` bodies cannot be tapped; that is detected and raises ``ValueError``.
    """

    def f(p, xx):
        return apply_fn(p, xx, return_activations=True)

    closed, out_shape = jax.make_jaxpr(f, return_shape=True)(params, x)
    _check_act_structure(out_shape)
    n_flat = len(closed.jaxpr.outvars)
    out_tree = jax.tree.structure(out_shape)
    idx_out, idx_acts = jax.tree.unflatten(out_tree, list(range(n_flat)))
    post_vars = [closed.jaxpr.outvars[a["post"]] for a in idx_acts]
    out_vars = {closed.jaxpr.outvars[i] for i in jax.tree.leaves(idx_out)}
    for l, v in enumerate(post_vars):
        if not _is_var(v):
            raise ValueError(f"activation {l} returned by apply_fn is a constant; it cannot be tapped")
        if not _tappable(closed.jaxpr, v, out_vars):
            raise ValueError(
                f"activation {l} returned by apply_fn is not used by the rest of the computation at a level "
                "that can be tapped (is it computed inside lax.scan / while_loop?); signal_propagation needs "
                "activations computed at the top level or inside jax.jit-ed functions"
            )
    tap_shapes = [jax.ShapeDtypeStruct(a["post"].shape, a["post"].dtype) for a in out_shape[1]]
    flat_args = jax.tree.leaves((params, x))

    def fn(taps):
        if len(taps) != len(post_vars):
            raise ValueError(f"taps must have one entry per layer ({len(post_vars)}), got {len(taps)}")
        tapmap = {}
        for v, t in zip(post_vars, taps):
            tapmap[v] = tapmap[v] + t if v in tapmap else t
        outs = _eval_tapped(closed.jaxpr, closed.consts, flat_args, tapmap)
        return jax.tree.unflatten(out_tree, outs)

    return fn, tap_shapes


def _check_act_structure(out_shape):
    ok = (
        isinstance(out_shape, tuple)
        and len(out_shape) == 2
        and isinstance(out_shape[1], (list, tuple))
        and len(out_shape[1]) > 0
        and all(isinstance(a, Mapping) and "pre" in a and "post" in a for a in out_shape[1])
    )
    if not ok:
        raise ValueError(
            "apply_fn(params, x, return_activations=True) must return (out, [{'pre': z, 'post': h}, ...]) "
            f"with at least one layer; got a structure {jax.tree.structure(out_shape)}"
        )


# ------------------------------------------------------------------------------------------ Jacobian


def lanczos_singular_values(
    matvec: Callable[[Array], Array],
    rmatvec: Callable[[Array], Array],
    start: Array,
    num_steps: int,
) -> tuple[Array, Array]:
    """Stochastic Lanczos quadrature for the singular values of a linear operator ``A: R^n -> R^p``.

    Golub-Kahan bidiagonalization (with full re-orthogonalization) started from the unit vector
    ``q_1 = start/|start|`` builds ``A Q_m = P_m B_m`` with ``B_m`` upper bidiagonal; ``B_m^T B_m`` is the
    Lanczos tridiagonal matrix of ``A^T A`` for ``q_1``. With ``B_m = U diag(theta) V^T`` the discrete
    measure ``sum_k w_k delta(theta_k)``, ``w_k = V[0, k]^2``, is the m-point Gauss quadrature of the
    spectral measure ``sum_j (q_1 . v_j)^2 delta(sigma_j)`` (Golub & Meurant 2010; Ubaru, Chen & Saad 2017):

    * ``sum_k w_k theta_k^(2i) = q_1^T (A^T A)^i q_1`` exactly for ``i <= 2m - 1``; for ``q_1`` uniform on
      the sphere its expectation is ``tr((A^T A)^i) / n``, the i-th moment of the squared singular values;
    * the extreme Ritz values ``theta`` converge to the extreme singular values first;
    * at ``m = n`` the Ritz values are the singular values exactly.

    Each step costs one ``matvec`` (a jvp for a Jacobian) and one ``rmatvec`` (a vjp). On breakdown (an
    invariant subspace, e.g. an orthogonal ``A`` whose singular values all equal 1), the remaining
    coefficients are zero and the spurious Ritz values get zero weight.

    Returns:
      ``(theta, weights)`` of shape ``(num_steps,)`` each, theta in descending order, weights summing to 1.
    """
    n = start.shape[0]
    if not 1 <= num_steps <= n:
        raise ValueError(f"num_steps must be in [1, {n}] (the operator's input dimension), got {num_steps}")
    dtype = start.dtype
    q = start / jnp.linalg.norm(start)
    p = matvec(q)
    alpha = jnp.linalg.norm(p)
    scale = alpha
    tol = 1e-6 * scale + jnp.finfo(dtype).tiny

    def safe_div(v, nrm):
        ok = nrm > tol
        return jnp.where(ok, v / jnp.where(ok, nrm, 1.0), 0.0), jnp.where(ok, nrm, 0.0)

    p, alpha = safe_div(p, alpha)
    Q = jnp.zeros((num_steps, n), dtype).at[0].set(q)
    P = jnp.zeros((num_steps, p.shape[0]), dtype).at[0].set(p)

    def reorth(v, basis):
        for _ in range(2):  # classical Gram-Schmidt, twice
            v = v - basis.T @ (basis @ v)
        return v

    def step(carry, j):
        Q, P, alphas, betas = carry
        r = rmatvec(P[j]) - alphas[j] * Q[j]
        r = reorth(r, Q)
        q_next, beta = safe_div(r, jnp.linalg.norm(r))
        p_next = matvec(q_next) - beta * P[j]
        p_next = reorth(p_next, P)
        p_next, alpha_next = safe_div(p_next, jnp.linalg.norm(p_next))
        Q = Q.at[j + 1].set(q_next)
        P = P.at[j + 1].set(p_next)
        return (Q, P, alphas.at[j + 1].set(alpha_next), betas.at[j].set(beta)), None

    alphas = jnp.zeros((num_steps,), dtype).at[0].set(alpha)
    betas = jnp.zeros((max(num_steps - 1, 0),), dtype)
    if num_steps > 1:
        (Q, P, alphas, betas), _ = jax.lax.scan(step, (Q, P, alphas, betas), jnp.arange(num_steps - 1))
    B = jnp.diag(alphas) + jnp.diag(betas, 1) if num_steps > 1 else jnp.diag(alphas)
    _, theta, vt = jnp.linalg.svd(B)
    weights = vt[:, 0] ** 2
    return theta, weights / jnp.sum(weights)


def _spectrum_impl(fn, params, flat, keys, *, ex_shape, out_dim, method, m):
    in_dim = flat.shape[1]

    def g(v):
        y = fn(v.reshape(ex_shape)) if params is None else fn(params, v.reshape(ex_shape))
        return jnp.ravel(y).astype(jnp.float32)

    if method == "exact":
        jac = jax.jacrev(g) if out_dim <= in_dim else jax.jacfwd(g)
        sv = jax.vmap(lambda v: jnp.linalg.svd(jac(v).astype(jnp.float32), compute_uv=False))(flat)
        return sv, jnp.full_like(sv, 1.0 / sv.shape[1])

    def one(v, kk):
        _, vjp = jax.vjp(g, v)

        def jvp(t):
            return jax.jvp(g, (v,), (t.astype(v.dtype),))[1]

        def vjp1(u):
            return vjp(u)[0].astype(jnp.float32)

        if out_dim <= in_dim:  # A = J^T : R^out -> R^in, Gram J J^T
            return lanczos_singular_values(vjp1, jvp, jax.random.normal(kk, (out_dim,), jnp.float32), m)
        return lanczos_singular_values(jvp, vjp1, jax.random.normal(kk, (in_dim,), jnp.float32), m)

    return jax.vmap(one)(flat, keys)


_spectrum = jax.jit(_spectrum_impl, static_argnames=("fn", "ex_shape", "out_dim", "method", "m"))


def jacobian_spectrum(
    fn: Callable,
    xs: Array,
    key: Array | None = None,
    *,
    params: Params = None,
    method: str = "auto",
    num_steps: int = 32,
    max_exact_dim: int = 256,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Singular values of the per-example Jacobians ``J_i = d fn(x) / d x`` at each ``x = xs[i]``.

    ``fn(x)`` (or ``fn(params, x)`` when ``params`` is given; then the compiled computation is reused
    for the same ``fn`` object and shapes) maps one example (any shape) to one output (any shape); both
    are flattened, so ``J_i`` is ``(out_dim, in_dim)``. Let ``k = min(out_dim, in_dim)``.

    * ``method="exact"``: the full Jacobian (``jacrev`` when ``out_dim <= in_dim``, else ``jacfwd``: ``k``
      passes) and its SVD; ``weights = 1/k``.
    * ``method="lanczos"``: :func:`lanczos_singular_values` on the smaller Gram matrix (``J J^T`` when
      ``out_dim <= in_dim``, else ``J^T J``) with ``min(num_steps, k)`` jvp/vjp pairs per example from a random
      start: the Gauss-quadrature estimate of the spectral distribution; unbiased for its moments up to order
      ``2 num_steps - 1``, extreme values accurate first, exact at ``num_steps >= k``.
    * ``"auto"``: exact when ``k <= max_exact_dim``, else lanczos.

    Returns ``(sv, weights, method)``, numpy arrays of shape ``(E, k')``, each row's weights summing to 1.
    """
    xs = jnp.asarray(xs)
    if xs.ndim < 1 or xs.shape[0] < 1:
        raise ValueError(f"xs must hold at least one example along axis 0, got shape {xs.shape}")
    if method not in ("auto", "exact", "lanczos"):
        raise ValueError(f"method must be 'auto', 'exact' or 'lanczos', got {method!r}")
    positive_int(num_steps, "num_steps")
    ex_shape = tuple(xs.shape[1:])
    in_dim = int(np.prod(ex_shape, dtype=int))
    ex = jax.ShapeDtypeStruct(ex_shape, xs.dtype)
    out = jax.eval_shape(fn, ex) if params is None else jax.eval_shape(fn, params, ex)
    out_dim = int(np.prod(out.shape, dtype=int))
    k = min(in_dim, out_dim)
    if method == "auto":
        method = "exact" if k <= max_exact_dim else "lanczos"
    if method == "lanczos" and key is None:
        raise ValueError("method='lanczos' needs a PRNG key for its random start vectors")
    flat = xs.reshape(xs.shape[0], in_dim)
    keys = jax.random.split(key if key is not None else jax.random.PRNGKey(0), flat.shape[0])
    sv, w = _spectrum(fn, params, flat, keys, ex_shape=ex_shape, out_dim=out_dim, method=method, m=min(num_steps, k))
    return np.asarray(sv), np.asarray(w), method


@dataclasses.dataclass(frozen=True)
class _PerExample:
    """``(params, x) -> apply_fn(params, x[None])[0]``; hashable (by ``apply_fn``) so compilations are reused."""

    apply_fn: Callable

    def __call__(self, params, v):
        return self.apply_fn(params, v[None])[0]


# ------------------------------------------------------------------------------------------ the report


def _activation_fn(activation):
    if callable(activation):
        return getattr(activation, "__name__", "custom"), activation
    return activation, get_activation(activation)


_CANDIDATES = ("relu", "tanh", "sigmoid", "gelu", "selu", "silu", "elu", "softplus", "leaky_relu")


def _infer_activation(acts):
    """The first known activation ``phi`` with ``post == phi(pre)`` on the first non-linear layer (checked on
    up to 256 entries)."""
    for a in acts:
        if a["pre"].shape != a["post"].shape:
            continue
        pre = np.asarray(a["pre"], np.float32).ravel()[:256]
        post = np.asarray(a["post"], np.float32).ravel()[:256]
        if np.allclose(pre, post):
            continue
        for name in _CANDIDATES:
            try:
                _, phi = _activation_fn(name)
            except (ValueError, KeyError):
                continue
            if np.allclose(np.asarray(phi(pre), np.float64), post, rtol=1e-4, atol=1e-6):
                return name
        return None
    return None


def _derivative(phi):
    """Elementwise ``phi'(z)`` (``phi`` acts elementwise, so the gradient of the sum is the derivative)."""
    return jax.grad(lambda z: jnp.sum(phi(z)))


@functools.lru_cache(maxsize=64)
def _peak_derivative(phi) -> float:
    grid = jnp.linspace(-8.0, 8.0, 4001, dtype=jnp.float32)
    return float(jnp.max(jnp.abs(_derivative(phi)(grid))))


@functools.partial(jax.jit, static_argnums=0)
def _unit_derivatives(phi, acts):
    """Per layer: ``|phi'(pre)|`` and ``max |phi(pre) - post| / (1e-6 + max |post|)``."""
    out = []
    for a in acts:
        pre, post = a["pre"].astype(jnp.float32), a["post"].astype(jnp.float32)
        if pre.shape != post.shape:
            out.append((jnp.zeros(pre.shape), jnp.inf))
            continue
        d = jnp.abs(_derivative(phi)(pre))
        mismatch = jnp.max(jnp.abs(phi(pre) - post)) / (1e-6 + jnp.max(jnp.abs(post)))
        out.append((d, mismatch))
    return out


def _unit_stats(acts, phi, threshold):
    """(dead_fraction, saturated_fraction) per layer; NaN where post != phi(pre)."""
    if phi is None:
        nan = np.full(len(acts), np.nan)
        return nan, nan.copy()
    peak = _peak_derivative(phi)
    dead, sat = [], []
    for (d, mismatch), a in zip(_unit_derivatives(phi, acts), acts):
        if not float(mismatch) <= 1e-4:
            dead.append(np.nan)
            sat.append(np.nan)
            continue
        d = np.asarray(d).reshape(-1, a["pre"].shape[-1])
        dead.append(float(np.mean(np.all(d <= 1e-6 * peak, axis=0))))
        sat.append(float(np.mean(d <= threshold * peak)))
    return np.asarray(dead), np.asarray(sat)


def _forward_backward_impl(params, apply_fn, x, key):
    fn, tap_shapes = tapped_apply(apply_fn, params, x)
    zeros = [jnp.zeros(s.shape, s.dtype) for s in tap_shapes]
    (out, acts), vjp = jax.vjp(fn, zeros)
    u = jax.random.normal(key, out.shape, jnp.float32).astype(out.dtype)
    (grads,) = vjp((u, jax.tree.map(jnp.zeros_like, acts)))
    return acts, grads


@functools.partial(jax.jit, static_argnums=1)
def _forward_backward(params, apply_fn, x, key):
    """Activations plus the per-layer statistics, in one compiled computation."""
    acts, grads = _forward_backward_impl(params, apply_fn, x, key)

    def m(a):
        a = a.astype(jnp.float32)
        return jnp.mean(a * a)

    stats = {
        "pre": jnp.stack([m(a["pre"]) for a in acts]),
        "post": jnp.stack([m(a["post"]) for a in acts]),
        "grad": jnp.stack([m(g) for g in grads]),
        "identical": jnp.stack([jnp.all(a["post"] == a["post"][..., :1]) & (a["post"].shape[-1] > 1) for a in acts]),
    }
    return acts, stats


def layer_moments(params: Params, apply_fn: Callable, x: Array, key: Array) -> dict[str, Array]:
    """The forward and backward second moments of :func:`signal_propagation`, as a pure function.

    Returns ``{"pre": (L,), "post": (L,), "grad": (L,)}`` float32 arrays: ``E[z_l^2]``, ``E[h_l^2]`` and
    ``E[g_l^2]`` (``g_l`` the gradient of ``<u, f(x)>`` with respect to ``h_l``, ``u ~ N(0, I)`` from
    ``key``). jit- and vmap-clean (e.g. ``jax.vmap`` over stacked parameters of several seeds) with
    ``apply_fn`` static.
    """
    x = jnp.asarray(x)
    if not _trace.has_return_activations(apply_fn, params, x):  # any framework: find the layers by tracing
        traced = _trace.trace_layers(apply_fn, params, x)
        params, apply_fn = traced.arrays(params), traced.on_arrays
    acts, grads = _forward_backward_impl(params, apply_fn, x, key)

    def m(a):
        a = a.astype(jnp.float32)
        return jnp.mean(a * a)

    return {
        "pre": jnp.stack([m(a["pre"]) for a in acts]),
        "post": jnp.stack([m(a["post"]) for a in acts]),
        "grad": jnp.stack([m(g) for g in grads]),
    }


def signal_propagation(
    params: Params,
    apply_fn: Callable,
    batch,
    key: Array,
    *,
    activation: str | Callable | None = None,
    jacobian: str = "auto",
    num_jacobian_examples: int = 4,
    num_lanczos_steps: int = 32,
    max_exact_dim: int = 256,
    saturation_threshold: float = _SATURATION_THRESHOLD,
) -> SignalReport:
    """Forward and backward signal scales per layer, unit health and the Jacobian spectrum at ``params``.

    Args:
      params: the model's parameters (any pytree).
      apply_fn: ``apply_fn(params, x, return_activations=True) -> (out, [{"pre": z, "post": h}, ...])``
        (``jaxnn.models.mlp_apply``, ``resmlp_apply``, ``conv_apply`` and any function with that contract;
        bind the activation with ``functools.partial``). ``apply_fn(params, x)`` must return ``out``.
        Or a plain ``apply_fn(params, x) -> out`` from any framework (Flax ``lambda p, x: model.apply(p, x)``,
        Haiku ``transformed.apply`` without rng, ``lambda m, x: jax.vmap(m)(x)`` for an Equinox module): its
        layers -- the dense/conv contractions with a parameter leaf, their outputs after the bias and the
        nonlinearity that follows -- are found by tracing it (:mod:`jaxnn._trace`); ``layer_names`` then holds
        their parameter paths.
      batch: inputs ``x`` of shape ``(B, ...)``, or an ``(x, y)`` tuple (``y`` is ignored).
      key: PRNG key for the output cotangent ``u ~ N(0, I)`` and the Lanczos start vectors.
      activation: name or callable ``phi`` for the dead / saturated statistics; ``None`` infers it from the
        first layer with ``post != pre`` among common names (statistics are NaN if none matches).
      jacobian: ``"auto"`` / ``"exact"`` / ``"lanczos"`` / ``"none"`` (see :func:`jacobian_spectrum`).
      num_jacobian_examples: ``E``, the Jacobian is computed at the first ``E`` examples of the batch.
      num_lanczos_steps, max_exact_dim: see :func:`jacobian_spectrum`.
      saturation_threshold: an entry is saturated when ``|phi'(z)| <= threshold * max|phi'|``.

    The backward moments come from one ``vjp`` of the tapped model (:func:`tapped_apply`) with the same
    cotangent ``u`` for the whole batch output, so ``E[g_l^2] = mean over batch and units of
    ((d<u, f(x)>/d h_l))^2``; for a network with scale-preserving backward pass it is constant in ``l``.
    """
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    x = jnp.asarray(x)
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(f"batch must hold at least 2 examples along axis 0 (shape (B, ...)), got {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"batch inputs must be floating point, got {x.dtype}")
    if jacobian not in ("auto", "exact", "lanczos", "none"):
        raise ValueError(f"jacobian must be 'auto', 'exact', 'lanczos' or 'none', got {jacobian!r}")
    positive_int(num_jacobian_examples, "num_jacobian_examples")
    if not 0.0 < saturation_threshold < 1.0:
        raise ValueError(f"saturation_threshold must be in (0, 1), got {saturation_threshold!r}")
    k_cot, k_jac = jax.random.split(key)

    acts_fn, jac_fn, layer_names = apply_fn, apply_fn, None
    if not _trace.has_return_activations(apply_fn, params, x):  # any framework: find the layers by tracing
        traced = _trace.trace_layers(apply_fn, params, x)
        params, acts_fn, jac_fn = traced.arrays(params), traced.on_arrays, traced.apply_arrays
        layer_names = tuple(layer.path for layer in traced.layers)
    acts, stats = _forward_backward(params, acts_fn, x, k_cot)
    stats = jax.device_get(stats)
    pre, post, grad = (np.asarray(stats[k], np.float64) for k in ("pre", "post", "grad"))
    identical = np.asarray(stats["identical"], bool)
    if activation is None:
        act_name = _infer_activation(acts)
        phi = _activation_fn(act_name)[1] if act_name is not None else None
    else:
        act_name, phi = _activation_fn(activation)
    dead, sat = _unit_stats(acts, phi, saturation_threshold)

    if jacobian == "none":
        sv = np.zeros((0, 0))
        w = np.zeros((0, 0))
        method = "none"
    else:
        xs = x[: min(num_jacobian_examples, x.shape[0])]
        sv, w, method = jacobian_spectrum(
            _PerExample(jac_fn),
            xs,
            k_jac,
            params=params,
            method=jacobian,
            num_steps=num_lanczos_steps,
            max_exact_dim=max_exact_dim,
        )
    return SignalReport(pre, post, grad, dead, sat, identical, sv, w, method, act_name, layer_names)


# --------------------------------------------------------------------------------------- summary & verdict


def _log10_ratio(a, b) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.log10(a) - np.log10(b))


def _weighted_quantile(values, weights, q):
    v, w = np.ravel(values), np.ravel(weights)
    if v.size == 0:
        return np.nan
    order = np.argsort(v)
    cw = np.cumsum(w[order])
    cw = cw / cw[-1]
    return float(v[order][np.searchsorted(cw, q, side="left").clip(0, v.size - 1)])


def summary(report: SignalReport) -> dict[str, float]:
    """The numbers :func:`verdict` reasons on, as a flat dict (one row of a table).

    * ``forward_log10``: ``log10(E[z^2]_last hidden / E[z^2]_first)`` over the hidden layers (all layers but
      the output; all layers when there is only one);
    * ``backward_log10``: ``log10(E[g^2]_first / E[g^2]_last hidden)``: how the gradient scale changes from
      the last hidden layer back to the first;
    * ``jac_sigma_median``, ``jac_sigma_max``, ``jac_sigma_q10``, ``jac_sigma_q90`` (weighted quantiles over
      examples), ``jac_mean_sq`` (weighted ``E[sigma^2]``), ``jac_spread_log10 = log10(q90 / q10)``;
    * ``max_dead_fraction``, ``max_saturated_fraction`` over layers (NaN if not applicable);
    * ``first_identical_layer``: index of the first layer whose units are all identical, -1 if none.
    """
    L = report.num_layers
    hidden = slice(0, L - 1) if L > 1 else slice(0, 1)
    pre_h, grad_h = report.pre_moment[hidden], report.grad_moment[hidden]
    sv, w = report.jacobian_sv, report.jacobian_weights
    if sv.size:
        ww = w / w.shape[0]
        q10, q50, q90 = (_weighted_quantile(sv, ww, q) for q in (0.1, 0.5, 0.9))
        mean_sq = float(np.sum(ww * sv**2))
        smax = float(np.max(sv))
    else:
        q10 = q50 = q90 = mean_sq = smax = np.nan
    if not np.isfinite(q10):
        spread = np.nan  # no Jacobian computed
    elif q10 > 0:
        spread = float(np.log10(q90 / q10))
    else:
        spread = np.inf
    ident = np.flatnonzero(report.identical_units)
    nan_max = lambda a: float(np.nanmax(a)) if np.any(np.isfinite(a)) else np.nan  # noqa: E731
    return {
        "num_layers": L,
        "forward_log10": _log10_ratio(pre_h[-1], pre_h[0]),
        "backward_log10": _log10_ratio(grad_h[0], grad_h[-1]),
        "jac_sigma_median": q50,
        "jac_sigma_q10": q10,
        "jac_sigma_q90": q90,
        "jac_sigma_max": smax,
        "jac_mean_sq": mean_sq,
        "jac_spread_log10": spread,
        "max_dead_fraction": nan_max(report.dead_fraction),
        "max_saturated_fraction": nan_max(report.saturated_fraction),
        "first_identical_layer": int(ident[0]) if ident.size else -1,
    }


def _orders(x: float) -> str:
    return f"10^{x:+.0f}" if abs(x) >= 1 else f"x{10**x:.2g}"


def verdict(report: SignalReport, name: str | None = None) -> str:
    """One line saying what the step-0 diagnostics predict for training.

    Rules, first match wins (``F``/``B`` = forward/backward log10 ratios of :func:`summary` over the
    ``L`` layers; the Jacobian spread is ``log10(q90/q10)`` of its singular values):

    1. non-finite moments -> "non-finite signal: diverges at step 0";
    2. all units of a hidden layer identical (and non-zero) -> "symmetry never breaks";
    3. a layer with exactly zero forward signal, or exactly zero gradient (float underflow) -> "no learning";
    4. ``F < -3`` or ``B < -3`` -> "... shrinks 10^F over L layers: expect no learning";
       ``F > 3`` or ``B > 3`` -> "... grows 10^F ...: expect divergence or saturation";
    5. dead fraction > 50% in some layer -> dead units (deep narrow ReLU nets at He init routinely have
       10-40% of units inactive on a whole batch, and still train); saturated fraction > 75% (bounded
       activations) -> saturation;
    6. ``|F|`` or ``|B|`` > 1 -> "expect slow learning"; Jacobian with >= 10% zero singular values ->
       "rank-deficient"; spread ``log10(q90/q10)`` > 2 -> "ill-conditioned: expect learning, but slowly";
    7. otherwise "signal preserved ...: expect learning".
    """
    s = summary(report)
    L = s["num_layers"]
    F, B = s["forward_log10"], s["backward_log10"]
    head = f"{name}: " if name else ""
    stats = f"forward {_orders(F)}, backward {_orders(B)} over {L} layers"
    if np.isfinite(s["jac_sigma_median"]):
        stats += (
            f", Jacobian sigma median {s['jac_sigma_median']:.2g} (q10-q90 {s['jac_sigma_q10']:.2g}-"
            f"{s['jac_sigma_q90']:.2g})"
        )
    moments = np.concatenate([report.pre_moment, report.post_moment, report.grad_moment])
    if not np.all(np.isfinite(moments)):
        return f"{head}non-finite signal at step 0: expect immediate divergence"
    symmetric = np.flatnonzero(report.identical_units[:-1] & (report.post_moment[:-1] > 0))
    if symmetric.size:
        return (
            f"{head}all units of layer {symmetric[0] + 1} are identical: symmetry never breaks, each layer "
            f"acts as one unit ({stats})"
        )
    zero = np.flatnonzero(report.pre_moment == 0)
    if zero.size:
        return f"{head}forward signal is exactly zero from layer {zero[0] + 1}: no learning before it ({stats})"
    zero_grad = np.flatnonzero(report.grad_moment == 0)
    if zero_grad.size:
        return (
            f"{head}gradient is exactly zero (underflow) at layer {zero_grad[-1] + 1} and below: those layers "
            f"cannot learn ({stats})"
        )
    if F < -3 or B < -3:
        what, x = ("forward signal", F) if F <= B else ("gradient", B)
        return f"{head}{what} shrinks 10^{x:.0f} over {L} layers: expect no learning ({stats})"
    if F > 3 or B > 3:
        what, x = ("forward signal", F) if F >= B else ("gradient", B)
        return f"{head}{what} grows 10^{x:+.0f} over {L} layers: expect divergence or saturation ({stats})"
    if s["max_dead_fraction"] > 0.5:
        return f"{head}{100 * s['max_dead_fraction']:.0f}% dead units in some layer: capacity lost ({stats})"
    if s["max_saturated_fraction"] > 0.75 and report.activation not in ("relu", "leaky_relu", None):
        return (
            f"{head}{100 * s['max_saturated_fraction']:.0f}% of {report.activation} units saturated: "
            f"expect slow learning ({stats})"
        )
    if abs(F) > 1 or abs(B) > 1:
        return f"{head}signal scale drifts by more than 10x: expect slow learning ({stats})"
    if s["jac_sigma_q10"] == 0:
        return (
            f"{head}signal scale preserved, but the Jacobian is rank-deficient (10% of its singular values "
            f"are 0): expect learning, some input directions unused at first ({stats})"
        )
    if s["jac_spread_log10"] > 2:
        return (
            f"{head}signal scale preserved, Jacobian ill-conditioned (q90/q10 = "
            f"10^{s['jac_spread_log10']:.1f}): expect learning, but slowly ({stats})"
        )
    return f"{head}signal preserved ({stats}): expect learning"


# ------------------------------------------------------------------------------------------------ plot


def plot(reports: Mapping[str, SignalReport] | SignalReport, path: str | None = None, *, title: str | None = None):
    """Three panels: forward ``E[z_l^2]`` and backward ``E[g_l^2]`` per layer (log axis), and a histogram of
    the Jacobian singular values (log-spaced bins, weighted so each scheme's histogram has unit mass).

    How to read it: a flat forward line means the scale is preserved; a straight sloped line on the log
    axis means a constant per-layer factor (e.g. ``1/2`` per layer for Glorot + ReLU); the backward panel is
    read from right (output) to left (input) -- what reaches the first layers is what trains them. A narrow
    histogram around 1 is dynamical isometry; a wide one (decades) means some input directions are
    amplified and others lost.

    ``reports``: one report or a ``{label: report}`` dict. Saves to ``path`` when given and returns the
    ``matplotlib.figure.Figure`` (built without pyplot, so no global figure state is touched).
    """
    from matplotlib.figure import Figure

    if isinstance(reports, SignalReport):
        reports = {"": reports}
    if not reports:
        raise ValueError("reports must hold at least one SignalReport")
    fig = Figure(figsize=(15, 4.2))
    axes = fig.subplots(1, 3)
    all_sv = np.concatenate([r.jacobian_sv.ravel() for r in reports.values()] + [np.zeros(0)])
    all_sv = all_sv[np.isfinite(all_sv) & (all_sv > 0)]
    bins = None
    if all_sv.size:
        lo, hi = np.log10(all_sv.min()), np.log10(all_sv.max())
        lo = max(lo, hi - 12.0)  # at most 12 decades; mass below is reported in the legend
        if hi - lo < 0.5:
            lo, hi = lo - 0.25, hi + 0.25
        bins = np.logspace(lo, hi, 40)
    for label, r in reports.items():
        layers = np.arange(1, r.num_layers + 1)
        note = ""
        zero = np.flatnonzero(r.pre_moment == 0)
        if zero.size:
            note = f" (exactly 0 from layer {zero[0] + 1})"
        # zeros cannot be drawn on a log axis: the line stops where the signal underflows to 0
        axes[0].plot(layers, np.where(r.pre_moment > 0, r.pre_moment, np.nan), marker=".", label=label + note)
        axes[1].plot(layers, np.where(r.grad_moment > 0, r.grad_moment, np.nan), marker=".", label=label)
        if bins is not None and r.jacobian_sv.size:
            sv = r.jacobian_sv.ravel()
            w = (r.jacobian_weights / r.jacobian_weights.shape[0]).ravel()
            shown = sv >= bins[0]
            below = float(np.sum(w[~shown]))
            axes[2].hist(
                sv[shown],
                bins=bins,
                weights=w[shown],
                histtype="step",
                linewidth=1.5,
                label=label + (f" ({100 * below:.0f}% below {bins[0]:.0e})" if below > 0 else ""),
            )
    axes[0].set(yscale="log", xlabel="layer", ylabel="E[z^2] (pre-activation)", title="forward signal")
    axes[1].set(yscale="log", xlabel="layer", ylabel="E[(df/dh)^2]", title="backward signal (random cotangent)")
    axes[2].set(
        xscale="log", xlabel="singular value of input-output Jacobian", ylabel="mass", title="Jacobian spectrum"
    )
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    if any(reports.keys()):
        axes[0].legend(fontsize=8)
        if axes[2].get_legend_handles_labels()[0]:
            axes[2].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
