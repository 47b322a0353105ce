"""Per-layer statistics computed inside ``fit``'s compiled loop, and the bias-drift check.

Build a :class:`Monitor` with :func:`monitor` and pass it to ``jaxnn.train.fit(..., monitor=m)``. At every
evaluation (steps ``0, eval_every, ...``; no host round trip in between) ``fit`` records, per layer (see
:func:`layers`: for jaxnn models a dict holding ``"w"``, in :func:`jaxnn.models.layers` order; for any other
pytree (Flax, Haiku, Equinox, ...) each weight leaf with the bias beside it, chosen by role or by ``roles=``):

* ``history["monitor"]["weights"|"biases"|"weight_grads"|"bias_grads"]`` - dicts of ``"mean"``, ``"std"``,
  ``"max_abs"``, ``"norm"`` (Frobenius) arrays of shape ``(n_eval, n_layers)``. Gradients are those of the
  training objective on the fixed probe batch at the evaluated parameters.
* ``history["monitor"]["activations"]`` - ``"mean"``, ``"std"``, ``"max_abs"``, ``"norm"`` of each layer's
  ``post`` activation on the probe inputs, plus ``"dead_fraction"`` (fraction of units - every non-batch
  position - whose ``pre``-activation is ``<= 0`` on *every* probe example: dead ReLUs) and
  ``"saturated_fraction"`` (fraction of probe entries with ``|tanh| > saturation`` or sigmoid outside
  ``[1 - saturation, saturation]``; NaN for other activations). Shape ``(n_eval, n_activation_layers)``;
  the last entry is the output layer (logits). Only when ``activations_fn`` is given.
* ``history["monitor"]["bias_flag"]`` bool ``(n_eval, n_layers)`` and ``history["monitor"]["lr_scale"]``
  ``(n_eval,)``.

Bias drift (the check from the source article: biases that keep growing signal a too-high learning rate or
a badly scaled input): layer ``l`` is flagged at evaluation ``i`` when ``max|b_l| > bias_threshold`` or when
``(max|b_l|_i - max|b_l|_{i-1}) / eval_every > bias_rate`` (growth per step). Then, per ``on_bias_drift``:

* ``"warn"``: flags are recorded; ``fit`` emits a ``BiasDriftWarning`` after it returns when its results are
  concrete (outside ``jit``/``vmap``); under ``jit`` call :func:`check` on the returned history.
* ``"scale_lr"``: in-graph, every evaluation with a flagged layer multiplies an update scale held in the
  optimizer state by ``lr_factor`` (not below ``min_lr_scale``). ``fit`` chains the optimizer with
  :func:`scale_by_factor`; for optimizers whose update is proportional to the learning rate (sgd, momentum,
  adam, ...) this is exactly a learning-rate scale. Also warns like ``"warn"``.
* ``"ignore"``: record only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn._reinit import role_fn, role_layers
from jaxnn.models import layers as _model_layers

__all__ = [
    "Monitor",
    "monitor",
    "BiasDriftWarning",
    "ScaleState",
    "scale_by_factor",
    "wrap_optimizer",
    "init_state",
    "observe",
    "layers",
    "layer_stats",
    "check",
    "plot_monitor",
]

_ACTIONS = ("warn", "scale_lr", "ignore")
STATS = ("mean", "std", "max_abs", "norm")


class BiasDriftWarning(UserWarning):
    """A layer's biases exceeded the monitor's threshold or grew faster than its rate."""


class Monitor(NamedTuple):
    """Configuration (static; build it with :func:`monitor`)."""

    probe: tuple[Any, Any]
    activations_fn: Callable | None
    activation: str
    bias_threshold: float
    bias_rate: float
    on_bias_drift: str
    lr_factor: float
    min_lr_scale: float
    saturation: float
    roles: Any = None


def monitor(
    probe: tuple[Any, Any],
    *,
    activations_fn: Callable | None = None,
    activation: str = "relu",
    bias_threshold: float = math.inf,
    bias_rate: float = math.inf,
    on_bias_drift: str = "warn",
    lr_factor: float = 0.5,
    min_lr_scale: float = 1e-3,
    saturation: float = 0.99,
    roles=None,
) -> Monitor:
    """Configure per-layer monitoring for :func:`jaxnn.train.fit`.

    Args:
      probe: a fixed ``(x, y)`` batch: activations are measured on ``x``, gradients of the training objective
        on ``(x, y)``.
      activations_fn: ``activations_fn(params, x) -> (predictions, [{"pre", "post"}, ...])``, e.g.
        ``partial(jaxnn.models.mlp_apply, activation="relu", return_activations=True)``. ``None`` skips
        activation statistics.
      activation: the hidden activation's name, for ``saturated_fraction`` (``"tanh"`` / ``"sigmoid"``).
      bias_threshold: flag a layer when ``max|b| > bias_threshold`` (``inf``: off).
      bias_rate: flag a layer when ``max|b|`` grows by more than ``bias_rate`` per step between two
        evaluations (``inf``: off).
      on_bias_drift: ``"warn"``, ``"scale_lr"`` or ``"ignore"``.
      lr_factor: multiplier applied to the update scale at each flagged evaluation (``0 < lr_factor <= 1``).
      min_lr_scale: floor of the update scale.
      saturation: threshold in ``(0, 1)`` for ``saturated_fraction``.
      roles: which leaves are the layers' weights and biases on any pytree (see :func:`layers`): a mapping
        ``pattern -> "weight" | "bias" | None`` (the pattern syntax of :func:`jaxnn.reinit`), a callable
        ``(path, leaf) -> role | None`` or a list of these; None: jaxnn layer dicts, else leaves named
        ``w``/``kernel``/``weight`` (rank >= 2) and ``b``/``bias``.
    """
    if not isinstance(probe, (tuple, list)) or len(probe) != 2:
        raise TypeError(f"probe must be an (x, y) tuple of arrays, got {type(probe).__name__}")
    px, py = probe
    if not hasattr(px, "shape") or not hasattr(py, "shape") or px.shape[:1] != py.shape[:1] or px.ndim < 1:
        raise ValueError("probe x and y must be arrays with the same leading dimension")
    if activations_fn is not None and not callable(activations_fn):
        raise TypeError(f"activations_fn must be callable or None, got {activations_fn!r}")
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a name, got {activation!r}")
    if on_bias_drift not in _ACTIONS:
        raise ValueError(f"on_bias_drift={on_bias_drift!r}; expected one of {_ACTIONS}")
    for nm, v in (("bias_threshold", bias_threshold), ("bias_rate", bias_rate)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
            raise ValueError(f"{nm} must be a positive number (inf to disable), got {v!r}")
    if not isinstance(lr_factor, (int, float)) or not 0 < lr_factor <= 1:
        raise ValueError(f"lr_factor must be in (0, 1], got {lr_factor!r}")
    if not isinstance(min_lr_scale, (int, float)) or not 0 <= min_lr_scale <= 1:
        raise ValueError(f"min_lr_scale must be in [0, 1], got {min_lr_scale!r}")
    if not isinstance(saturation, (int, float)) or not 0 < saturation < 1:
        raise ValueError(f"saturation must be in (0, 1), got {saturation!r}")
    if roles is not None:
        role_fn(roles, "monitor")  # bad rules fail here, not inside fit's trace
    return Monitor(
        (jnp.asarray(px), jnp.asarray(py)),
        activations_fn,
        activation.lower(),
        float(bias_threshold),
        float(bias_rate),
        on_bias_drift,
        float(lr_factor),
        float(min_lr_scale),
        float(saturation),
        roles,
    )


# ------------------------------------------------------------------------------------ LR scale transform


class ScaleState(NamedTuple):
    scale: jax.Array  # float32 scalar


def scale_by_factor(initial: float = 1.0) -> optax.GradientTransformation:
    """Multiply updates by ``state.scale`` (initially ``initial``); whoever owns the state may change it
    in-graph (the monitor does, to scale the learning rate down)."""

    def init_fn(params):
        del params
        return ScaleState(jnp.asarray(initial, jnp.float32))

    def update_fn(updates, state, params=None):
        del params
        updates = jax.tree_util.tree_map(lambda u: (u * state.scale).astype(u.dtype), updates)
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


def wrap_optimizer(m: Monitor, optimizer: optax.GradientTransformation) -> optax.GradientTransformation:
    """``optax.chain(optimizer, scale_by_factor())`` when ``m.on_bias_drift == "scale_lr"``, else unchanged."""
    if m.on_bias_drift == "scale_lr":
        return optax.chain(optimizer, scale_by_factor())
    return optimizer


def _get_scale(m: Monitor, opt_state):
    if m.on_bias_drift == "scale_lr":
        return opt_state[-1].scale
    return jnp.ones((), jnp.float32)


def _set_scale(m: Monitor, opt_state, scale):
    if m.on_bias_drift == "scale_lr":
        return (*opt_state[:-1], ScaleState(scale))
    return opt_state


# ------------------------------------------------------------------------------------ statistics


def _summary(x) -> dict[str, jax.Array]:
    x = jnp.asarray(x, jnp.float32)
    return {"mean": jnp.mean(x), "std": jnp.std(x), "max_abs": jnp.max(jnp.abs(x)), "norm": jnp.linalg.norm(x.ravel())}


def _stack(dicts: Sequence[dict]) -> dict[str, jax.Array]:
    if not dicts:
        return {k: jnp.zeros((0,), jnp.float32) for k in STATS}
    return {k: jnp.stack([d[k] for d in dicts]) for k in dicts[0]}


def _nan_summary():
    return {k: jnp.full((), jnp.nan, jnp.float32) for k in STATS}


def layers(params, roles=None) -> list[tuple[str, dict]]:
    """The monitored layers as ``(name, {"w": W, "b": b})`` pairs (``"b"`` absent without a bias).

    ``roles=None``: :func:`jaxnn.models.layers` when ``params`` holds jaxnn layer dicts; otherwise (any pytree:
    Flax, Haiku, Equinox, ...) every weight leaf (``w``, or ``kernel`` / ``weight`` of rank >= 2) with the bias
    (``b`` / ``bias``) under the same parent path, in flatten order, named by that path (``params/Dense_0``).
    Other ``roles`` (see :func:`jaxnn.regularizers.kind`) choose the weight and bias leaves by rules."""
    if roles is None:
        found = _model_layers(params)
        if found:
            return found
    return role_layers(params, roles)


def layer_stats(tree, roles=None) -> tuple[dict, dict]:
    """``(weight_stats, bias_stats)``: each a dict of ``STATS`` arrays of shape ``(n_layers,)`` over
    :func:`layers` of ``tree`` (params or gradients). Missing biases give NaN."""
    ls = [layer for _, layer in layers(tree, roles)]
    if not ls:
        raise ValueError(
            "params contain no layers (dicts with a 'w' leaf, or leaves named 'kernel'/'weight'/'w' of rank >= 2); "
            "pass monitor(..., roles=...) to choose them"
        )
    return (
        _stack([_summary(layer["w"]) for layer in ls]),
        _stack([_summary(layer["b"]) if "b" in layer else _nan_summary() for layer in ls]),
    )


def _activation_stats(m: Monitor, acts) -> dict[str, jax.Array]:
    out = []
    for a in acts:
        pre, post = jnp.asarray(a["pre"], jnp.float32), jnp.asarray(a["post"], jnp.float32)
        s = _summary(post)
        s["dead_fraction"] = jnp.mean(jnp.all(pre <= 0, axis=0))
        if m.activation == "tanh":
            s["saturated_fraction"] = jnp.mean(jnp.abs(post) > m.saturation)
        elif m.activation == "sigmoid":
            s["saturated_fraction"] = jnp.mean((post > m.saturation) | (post < 1 - m.saturation))
        else:
            s["saturated_fraction"] = jnp.full((), jnp.nan, jnp.float32)
        out.append(s)
    return _stack(out)


class MonitorState(NamedTuple):
    prev_bias_max: jax.Array  # (n_layers,) max|b| at the previous evaluation (NaN before the first)


def init_state(m: Monitor, params) -> MonitorState:
    n = len(layers(params, m.roles))
    return MonitorState(jnp.full((n,), jnp.nan, jnp.float32))


def observe(m: Monitor, state: MonitorState, params, opt_state, *, grad_fn: Callable, eval_every: int):
    """One evaluation's statistics (called by ``fit`` inside its scan).

    Returns ``(stats, new_state, new_opt_state)``; ``new_opt_state`` carries the reduced update scale when
    ``on_bias_drift == "scale_lr"`` and a layer was flagged.
    """
    grads = grad_fn(params, m.probe)
    w_stats, b_stats = layer_stats(params, m.roles)
    gw_stats, gb_stats = layer_stats(grads, m.roles)
    bias_max = b_stats["max_abs"]
    growth = jnp.where(jnp.isnan(state.prev_bias_max), 0.0, (bias_max - state.prev_bias_max) / eval_every)
    flag = (bias_max > m.bias_threshold) | (growth > m.bias_rate)
    scale = _get_scale(m, opt_state)
    if m.on_bias_drift == "scale_lr":
        new_scale = jnp.where(jnp.any(flag), jnp.maximum(scale * m.lr_factor, m.min_lr_scale), scale)
        new_scale = new_scale.astype(scale.dtype)
    else:
        new_scale = scale
    stats = {
        "weights": w_stats,
        "biases": b_stats,
        "weight_grads": gw_stats,
        "bias_grads": gb_stats,
        "bias_flag": flag,
        "lr_scale": new_scale,
    }
    if m.activations_fn is not None:
        _, acts = m.activations_fn(params, m.probe[0])
        stats["activations"] = _activation_stats(m, acts)
    return stats, MonitorState(bias_max), _set_scale(m, opt_state, new_scale)


# ------------------------------------------------------------------------------------ after fit


def check(history: dict, names: Sequence[str] | None = None, *, warn: bool = True, stacklevel: int = 2) -> list[str]:
    """Messages for every layer flagged by the bias-drift check in ``history`` (from ``fit``; may be batched
    over runs by ``vmap``: leading axes are run indices); emits them as ``BiasDriftWarning`` when ``warn``."""
    if "monitor" not in history:
        raise ValueError("history has no 'monitor' entry; pass monitor=... to fit")
    flags = np.asarray(history["monitor"]["bias_flag"])
    bias_max = np.asarray(history["monitor"]["biases"]["max_abs"])
    steps = np.asarray(history["step"])
    messages = []
    for run in np.ndindex(flags.shape[:-2]):
        f = flags[run]
        for layer in np.flatnonzero(f.any(axis=0)):
            first = int(np.flatnonzero(f[:, layer])[0])
            name = names[layer] if names is not None else str(layer)
            where = f" (run {run})" if run else ""
            messages.append(
                f"bias drift{where} in layer {name!r}: max|b| = {bias_max[run][first, layer]:.4g} at step "
                f"{int(steps[run][first])}, flagged at {int(f[:, layer].sum())} evaluation(s)"
            )
    if warn:
        for msg in messages:
            warnings.warn(msg, BiasDriftWarning, stacklevel=stacklevel)
    return messages


def maybe_warn(m: Monitor, history: dict, names: Sequence[str] | None = None) -> None:
    """Called by ``fit``: warn now if the history is concrete (not inside ``jit`` / ``vmap``)."""
    if m.on_bias_drift == "ignore":
        return
    if isinstance(history["monitor"]["bias_flag"], jax.core.Tracer):
        return
    check(history, names, warn=True, stacklevel=4)  # check <- maybe_warn <- fit <- the caller


def plot_monitor(history: dict, path, *, names: Sequence[str] | None = None, run: int | tuple = ()):
    """Plot every monitored statistic against the step and save the figure to ``path`` (matplotlib, imported
    lazily; Agg backend). ``run`` picks one run of a vmapped history. Returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "monitor" not in history:
        raise ValueError("history has no 'monitor' entry; pass monitor=... to fit")
    run = run if isinstance(run, tuple) else (run,)
    mon = jax.tree_util.tree_map(lambda a: np.asarray(a)[run], history["monitor"])
    steps = np.asarray(history["step"])[run]
    groups = [g for g in ("weights", "biases", "weight_grads", "bias_grads", "activations") if g in mon]
    cols = max(len(mon[g]) for g in groups)
    fig, axes = plt.subplots(len(groups) + 1, cols, figsize=(3.2 * cols, 2.4 * (len(groups) + 1)), squeeze=False)
    for r, g in enumerate(groups):
        order = [k for k in (*STATS, "dead_fraction", "saturated_fraction") if k in mon[g]]
        for c, (stat, values) in enumerate((k, mon[g][k]) for k in order):
            ax = axes[r, c]
            for layer in range(values.shape[-1]):
                label = names[layer] if names is not None and layer < len(names) else str(layer)
                ax.plot(steps, values[:, layer], label=label)
            ax.set_title(f"{g}: {stat}", fontsize=8)
            if stat in ("norm", "max_abs") and np.all(values[np.isfinite(values)] > 0):
                ax.set_yscale("log")
        for c in range(len(mon[g]), cols):
            axes[r, c].axis("off")
    axes[-1, 0].plot(steps, mon["lr_scale"])
    axes[-1, 0].set_title("lr_scale", fontsize=8)
    axes[-1, 1 % cols].imshow(np.asarray(mon["bias_flag"]).T, aspect="auto", interpolation="nearest")
    axes[-1, 1 % cols].set_title("bias_flag (layer x eval)", fontsize=8)
    for c in range(2, cols):
        axes[-1, c].axis("off")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
