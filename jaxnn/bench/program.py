"""The compiled training program a sweep calls: :func:`jaxnn.train.fit` for a chunk of runs, traced once.

:class:`Program` holds everything that decides the compiled program (model, loss, optimizer, budget); the
learning rate, the initial parameters and the data-order keys are inputs, so the number of schemes, seeds or
learning rates never changes a traced shape and nothing recompiles (:func:`trace_count` lets a test check it).
One run per call (the CPU default) is traced without ``vmap``, so every matmul stays a plain GEMM; wider chunks
are ``vmap``-ped. On CPU the program is compiled at XLA backend optimization level 1 (its FLOPs are in GEMM
library calls).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn._util import CPU_COMPILER_OPTIONS, Array, layer_dicts
from jaxnn.rules import default_role, leaves_with_paths
from jaxnn.train import fit

__all__ = ["Program", "trace_count", "program_bytes"]


@dataclasses.dataclass(frozen=True)
class Program:
    """Everything that decides the compiled training program (hashable; a static argument of ``jit``).

    ``optimizer`` is either an optax ``GradientTransformation`` (fixed learning rate; the per-run ``lr`` input
    is ignored) or a factory ``optimizer(learning_rate) -> GradientTransformation`` (called inside the trace
    with a traced scalar, so the learning rate is data, not a compile-time constant). Functions compare by
    identity: reuse the same objects to reuse the compiled program.
    """

    apply_fn: Callable
    loss_fn: Callable
    optimizer: Any
    steps: int
    batch_size: int
    eval_every: int
    metric: Callable | None = None
    train_loss: str = "batch"  # fit's train_loss: "batch" (free running mean) or "full" (+1 forward pass/eval)
    grad0_rows: int | None = None  # step-0 gradient norms on the first rows of the training data (None: all)

    def make_optimizer(self, lr):
        return self.optimizer(lr) if callable(self.optimizer) else self.optimizer


_TRACES = {"program": 0}


def trace_count() -> int:
    """How many times the training program has been traced (compiled) in this process."""
    return _TRACES["program"]


def _layer_weight_grad_norms(grads) -> Array:
    """L2 norm of the gradient of each layer's weight ("w" leaf), layers in :func:`jaxnn.models.layers` order;
    for other pytrees (Flax, Haiku, Equinox, ...) one norm per weight leaf (:func:`jaxnn.rules.default_role`:
    ``w``, or ``kernel``/``weight`` of rank >= 2) in flatten order, else one per leaf."""
    found = layer_dicts(grads)
    if found:
        leaves = [layer["w"] for _, layer in found]
    else:
        leaves = [leaf for path, leaf in leaves_with_paths(grads) if default_role(path, leaf) == "weight"]
        leaves = leaves or jax.tree_util.tree_leaves(grads)
    return jnp.stack([jnp.sqrt(jnp.sum(jnp.square(g.astype(jnp.float32)))) for g in leaves])


def _program_body(program: Program, params, data_keys, lrs, train_data, eval_data):
    _TRACES["program"] += 1  # Python side effect: runs once per trace, never per call

    def one(p, key, lr):
        res = fit(
            p,
            train_data,
            key=key,
            apply_fn=program.apply_fn,
            loss_fn=program.loss_fn,
            optimizer=program.make_optimizer(lr),
            steps=program.steps,
            batch_size=program.batch_size,
            eval_data=eval_data,
            eval_every=program.eval_every,
            metric=program.metric,
            train_loss=program.train_loss,
        )
        x, y = train_data
        if program.grad0_rows is not None:
            x, y = x[: program.grad0_rows], y[: program.grad0_rows]
        grads = jax.grad(lambda q: program.loss_fn(program.apply_fn(q, x), y))(p)
        h = res.history
        return {
            "train_loss": h["train_loss"],
            "eval_loss": h["eval_loss"],
            "eval_metric": h["eval_metric"],
            "diverged_step": h["diverged_step"],
            "grad_norm0": _layer_weight_grad_norms(grads),
            "step": h["step"],
        }

    if lrs.shape[0] == 1:  # one run per call (the CPU default): no vmap, so every matmul stays a plain GEMM
        squeeze = functools.partial(jax.tree_util.tree_map, lambda a: a[0])
        return jax.tree_util.tree_map(lambda a: a[None], one(squeeze(params), data_keys[0], lrs[0]))
    return jax.vmap(one)(params, data_keys, lrs)


_program_jit = jax.jit(_program_body, static_argnums=0)

_program_jit_cpu = jax.jit(_program_body, static_argnums=0, compiler_options=CPU_COMPILER_OPTIONS)


def _compile(program, params, chunk_size, run_sh, train_g, eval_g):
    """The program for chunks of ``chunk_size`` runs, compiled ahead of time (what every call then runs)."""
    program_jit = _program_jit_cpu if next(iter(run_sh.device_set)).platform == "cpu" else _program_jit

    def spec(a):
        return jax.ShapeDtypeStruct((chunk_size, *np.shape(a)[1:]), a.dtype, sharding=run_sh)  # arrays or specs

    args = (
        jax.tree_util.tree_map(spec, params),
        jax.ShapeDtypeStruct((chunk_size, 2), np.uint32, sharding=run_sh),
        jax.ShapeDtypeStruct((chunk_size,), np.float32, sharding=run_sh),
        train_g,
        eval_g,
    )
    return program_jit.lower(program, *args).compile()


def program_bytes(compiled) -> int:
    """Per-device bytes of a compiled program call from XLA's memory analysis: its peak when XLA reports one,
    else arguments + outputs + temporaries - aliased buffers."""
    m = compiled.memory_analysis()
    peak = getattr(m, "peak_memory_in_bytes", 0) or 0
    total = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes
    return int(max(peak, total))
