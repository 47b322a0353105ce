"""Spec strings (schemes, losses, optimizers) use one small grammar, ``name`` or ``name(arg, key=value)``, with
Python literals as arguments, passed straight to the factory:

* scheme: ``WEIGHT`` or ``WEIGHT/BIAS`` with ``jaxnn.initializers`` names, e.g. ``he_normal``,
  ``normal(0.01)``, ``uniform(-0.05, 0.05)``, ``orthogonal(scale=1.414)``, ``glorot_uniform/normal(0.01)``.
  The bias defaults to ``zeros``, except for ``torch_linear_default``, whose bias (like torch's ``nn.Linear``)
  is ``U(+-1/sqrt(fan_in))`` with each layer's own fan-in; a bias spec ``torch_linear_default`` means the same.
  Named whole-network schemes (:mod:`jaxnn.schemes`, applied as a :class:`jaxnn.bench.scheme.Scheme` ``transform``
  after the model's init; no ``/BIAS`` part):

  - ``lsuv`` / ``lsuv(tol=0.1, max_iters=10)``: LSUV (Mishkin & Matas 2016), orthogonal start rescaled layer by
    layer to unit pre-activation variance on a fixed batch, the first :data:`LSUV_BATCH` training rows.
    Data-dependent and *not free*: it costs up to ``L * (max_iters + 1) + 1`` forward passes of that batch per
    run (``2L + 1`` with zero biases) before training, which the step counts of the comparison do not include
    -- so it is not an equal-compute comparison with the per-leaf schemes (the extra cost is small next to
    the training steps: a few dozen forward passes of 256 rows). Models: mlp, resmlp, conv.
  - ``fixup``: Fixup (Zhang et al. 2019): classifier and last layer of every residual branch zero, other branch
    layers He-normal scaled by ``L^(-1/(2m-2))``, zero biases. Model: resmlp only.
  - ``zero``: ZerO (Zhao et al. 2022), deterministic identity / Hadamard weights (residual branches end in
    zero), zero biases. Models: mlp, resmlp.
* loss: ``jaxnn.losses`` names, e.g. ``categorical_cross_entropy``, ``mse``, ``huber(delta=1.0)``. On a
  multiclass task a regression loss (mse, mae, huber, smooth_l1, log_cosh) is applied to one-hot targets.
* optimizer: an ``optax`` optimizer that takes ``learning_rate`` first, e.g. ``sgd(momentum=0.9)``,
  ``adam``, ``adamw(weight_decay=1e-4)``; the learning rate is given separately (``learning_rates``), and a
  warmup (Config ``warmup``) turns it into :class:`WarmupSchedule` inside the compiled program.
* transformer scheme (model ``transformer``): ``NORM/INIT`` (:func:`transformer_scheme`), e.g.
  ``post/xavier_uniform``, ``pre/gpt2``, ``deepnorm/deepnorm``, ``none/t_fixup``, ``pre/mup``.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import optax

from jaxnn import initializers, losses, schemes
from jaxnn._util import positive_int
from jaxnn.bench.scheme import Scheme

__all__ = [
    "split_specs",
    "parse_spec",
    "scheme",
    "loss",
    "optimizer",
    "Bound",
    "bind",
    "fn_name",
    "probe",
    "NAMED_SCHEMES",
    "WarmupSchedule",
    "warmup_steps",
    "TransformerOptimizer",
    "TransformerScheme",
    "transformer_scheme",
]

NAMED_SCHEMES = {"lsuv": ("mlp", "resmlp", "conv"), "fixup": ("resmlp",), "zero": ("mlp", "resmlp")}

LSUV_BATCH = 256  # LSUV calibrates on the first LSUV_BATCH rows of the training data

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "lion", "nadam", "adabelief")

_REGRESSION_LOSSES = ("mean_squared_error", "mean_absolute_error", "huber", "smooth_l1", "log_cosh")


def _snake(names) -> list[str]:
    """The jaxnn-style names of a registry (its Keras class-name aliases resolve too, but would crowd a message)."""
    return [n for n in names if n == n.lower()]


def split_specs(text: str, sep: str = ",") -> list[str]:
    """Split ``"he_normal, uniform(-0.05, 0.05)"`` at top-level separators (not inside parentheses)."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [s for s in out if s]


def parse_spec(spec: str, what: str = "spec") -> tuple[str, tuple, dict]:
    """``"name(1, k=2)"`` -> ``("name", (1,), {"k": 2})``; arguments must be Python literals."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{what} must be a non-empty string like 'name' or 'name(arg, key=value)', got {spec!r}")
    try:
        node = ast.parse(spec.strip(), mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"cannot parse {what} {spec!r}: expected 'name' or 'name(arg, key=value)'") from e
    if isinstance(node, ast.Name):
        return node.id, (), {}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        try:
            args = tuple(ast.literal_eval(a) for a in node.args)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except ValueError as e:
            raise ValueError(f"{what} {spec!r}: arguments must be Python literals") from e
        return node.func.id, args, kwargs
    raise ValueError(f"cannot parse {what} {spec!r}: expected 'name' or 'name(arg, key=value)'")


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def probe(what: str, spec: str, fn: Callable, *args) -> None:
    """Trace ``fn(*args)`` once (``jax.eval_shape``: no computation); any failure becomes a one-line
    ``ValueError`` naming ``what`` and ``spec`` -- so arguments that are accepted when a spec is resolved but
    fail when it is used (wrong keyword, wrong type) are refused before a benchmark starts."""
    try:
        jax.eval_shape(fn, *args)
    except Exception as e:  # whatever it raises, the user needs the spec named
        raise ValueError(f"{what} {spec!r} fails on a tiny input: {_reason(e)}") from e


def initializer(spec: str, scheme: str | None = None):
    """The initializer of ``spec`` (part of the scheme spec ``scheme``); bad names and arguments raise a
    one-line ``ValueError`` naming both."""
    scheme = spec if scheme is None else scheme
    where = f"scheme {scheme!r}" if scheme == spec else f"initializer {spec!r} of scheme {scheme!r}"
    name, args, kwargs = parse_spec(spec, "initializer")
    try:
        factory = initializers.get(name)
    except ValueError as e:
        raise ValueError(
            f"unknown initializer in {where}; valid names: "
            f"{', '.join(_snake(initializers.names()))}; named schemes: {', '.join(NAMED_SCHEMES)}"
        ) from e
    try:
        return factory(*args, **kwargs)
    except (TypeError, ValueError, ArithmeticError) as e:
        raise ValueError(f"{where}: {_reason(e)}") from e


@dataclasses.dataclass(frozen=True, eq=False)
class _LSUV:
    """LSUV bound to the model's apply function and a fixed calibration batch (a Scheme ``transform``)."""

    apply_fn: Callable
    batch: Any
    tol: float = 0.1
    max_iters: int = 10

    def __call__(self, key, params):
        return schemes.lsuv(key, params, self.apply_fn, self.batch, tol=self.tol, max_iters=self.max_iters)


def _named_scheme(spec: str, name: str, args: tuple, kwargs: dict, *, model: str, apply_fn, batch):
    models_ok = NAMED_SCHEMES[name]
    if model not in models_ok:
        raise ValueError(
            f"scheme {spec!r} does not support model {model!r}; {name} supports models: "
            f"{', '.join(models_ok)}" + (" (use --model resmlp)" if models_ok == ("resmlp",) else "")
        )
    zeros = jax.nn.initializers.zeros  # placeholder weights: every named scheme overwrites them
    if name == "lsuv":
        unknown = set(kwargs) - {"tol", "max_iters"}
        if args or unknown:
            raise ValueError(
                f"scheme {spec!r}: lsuv takes only keyword options tol and max_iters, e.g. lsuv(tol=0.1, max_iters=10)"
            )
        tol, max_iters = kwargs.get("tol", 0.1), kwargs.get("max_iters", 10)
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0.0 < tol < 1.0:
            raise ValueError(f"scheme {spec!r}: tol must be a number in (0, 1), got {tol!r}")
        max_iters = positive_int(max_iters, f"scheme {spec!r}: max_iters")
        if apply_fn is None or batch is None:
            raise ValueError(f"scheme {spec!r} is data-dependent: it needs the model's apply_fn and a batch")
        return Scheme(spec, zeros, zeros, _LSUV(apply_fn, batch, float(tol), int(max_iters)))
    if args or kwargs:
        raise ValueError(f"scheme {spec!r}: {name} takes no arguments")
    if name == "fixup":
        return Scheme(spec, zeros, zeros, schemes.fixup)
    # zero: a plain initializer on an MLP, the whole-network version (zero branch ends) on a residual MLP
    if model == "mlp":
        return Scheme(spec, schemes.zero_initializer(), zeros)
    return Scheme(spec, zeros, zeros, schemes.zero_init)


def scheme(spec: str, fan_ins: Sequence[int], *, model: str = "mlp", apply_fn: Callable | None = None, batch=None):
    """A :class:`jaxnn.bench.scheme.Scheme` from a spec (see the module docstring); ``fan_ins`` per layer (bias rule).

    Named schemes (``lsuv``, ``fixup``, ``zero``; :data:`NAMED_SCHEMES`) depend on ``model``; ``lsuv`` also
    needs ``apply_fn`` and a calibration ``batch`` of inputs. Unsupported combinations raise ``ValueError``.
    """
    parts = split_specs(spec, "/")
    if len(parts) not in (1, 2):
        raise ValueError(f"scheme {spec!r} must be 'WEIGHT' or 'WEIGHT/BIAS'")
    name, args, kwargs = parse_spec(parts[0], "scheme")
    if name in NAMED_SCHEMES:
        if len(parts) != 1:
            raise ValueError(f"scheme {spec!r}: the named scheme {name!r} sets the biases itself; drop the /BIAS part")
        return _named_scheme(spec, name, args, kwargs, model=model, apply_fn=apply_fn, batch=batch)
    w = initializer(parts[0], spec)
    b_spec = (
        parts[1]
        if len(parts) == 2
        else ("torch_linear_default" if parse_spec(parts[0])[0] == "torch_linear_default" else "zeros")
    )
    if b_spec == "torch_linear_default":
        b = tuple(initializers.torch_linear_default(fan_in=int(f)) for f in fan_ins)
    else:
        b = initializer(b_spec, spec)
    return Scheme(spec, w, b)


@dataclasses.dataclass(frozen=True)
class Bound:
    """``functools.partial`` with value equality: ``Bound(f, (("k", v),))(*a) == f(*a, k=v)``.

    Two builds of the same config give *equal* functions, so ``jit`` reuses the compiled training program
    (a ``functools.partial`` compares by identity and would recompile).
    """

    fn: Callable
    kwargs: tuple = ()

    def __call__(self, *args, **kw):
        return self.fn(*args, **dict(self.kwargs), **kw)


def bind(fn, **kwargs) -> Bound:
    return Bound(fn, tuple(sorted(kwargs.items())))


def loss(spec: str, task: str, num_classes: int | None):
    name, args, kwargs = parse_spec(spec, "loss")
    try:
        fn = losses.get(name)
    except ValueError as e:
        raise ValueError(f"unknown loss {spec!r}; valid losses: {', '.join(_snake(losses.names()))}") from e
    if args:
        raise ValueError(f"loss {spec!r}: give loss options as keywords, e.g. huber(delta=1.0)")
    fn = bind(fn, **kwargs) if kwargs else fn
    if task == "multiclass" and fn_name(fn) in _REGRESSION_LOSSES:
        return _OneHotLoss(fn, num_classes)
    return fn


def fn_name(fn) -> str:
    while isinstance(fn, (functools.partial, Bound)):
        fn = fn.func if isinstance(fn, functools.partial) else fn.fn
    return getattr(fn, "__name__", "")


@dataclasses.dataclass(frozen=True)
class _OneHotLoss:
    """A regression loss applied to one-hot targets of integer labels (loss-choice: MSE on one-hot)."""

    fn: Callable
    num_classes: int

    def __call__(self, predictions, labels):
        return self.fn(predictions, jax.nn.one_hot(labels, self.num_classes, dtype=predictions.dtype))


def optimizer(spec: str):
    name, args, kwargs = parse_spec(spec, "optimizer")
    if name not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {spec!r}; valid optimizers: {', '.join(OPTIMIZERS)} "
            "(any optax optimizer taking learning_rate, given as e.g. 'sgd(momentum=0.9)')"
        )
    if args:
        raise ValueError(
            f"optimizer {spec!r}: give options as keywords (the learning rate comes from --lr/learning_rates)"
        )
    return bind(getattr(optax, name), **kwargs)


# ------------------------------------------------------------------------------------------------ warmup


@dataclasses.dataclass(frozen=True)
class WarmupSchedule:
    """Linear warmup then constant: ``lr * min(1, (count + 1) / warmup_steps)``; step ``t`` (0-based) trains at
    ``lr * (t + 1) / warmup_steps`` until ``t = warmup_steps - 1`` reaches the full ``lr``. ``lr`` may be a traced
    scalar (the sweep's learning rate stays an input of the compiled program)."""

    lr: Any
    warmup_steps: int

    def __call__(self, count):
        frac = jax.numpy.minimum(1.0, (count + 1).astype(jax.numpy.float32) / self.warmup_steps)
        return self.lr * frac


def warmup_steps(fraction: float, steps: int) -> int:
    """Steps of a warmup over ``fraction`` of ``steps`` (0 for no warmup, else at least 1)."""
    return 0 if fraction <= 0 else max(1, round(fraction * steps))


@dataclasses.dataclass(frozen=True)
class TransformerOptimizer:
    """``lr -> GradientTransformation`` for one compiled program: ``base`` (an :func:`optimizer` factory) with the
    learning rate warmed up linearly over ``warmup_steps`` (0: constant), followed by muP's per-layer Adam
    multipliers when ``mup_base_width`` is set (:func:`jaxnn.schemes.scale_by_mup_transformer`). Hashable, so two
    builds of a config share the compiled program."""

    base: Callable
    warmup_steps: int = 0
    mup_base_width: int | None = None

    def __call__(self, lr):
        sched = lr if self.warmup_steps <= 0 else WarmupSchedule(lr, self.warmup_steps)
        opt = self.base(sched)
        if self.mup_base_width is not None:
            opt = optax.chain(opt, schemes.scale_by_mup_transformer(base_width=self.mup_base_width))
        return opt


# ------------------------------------------------------------------------------------------------ transformer

TRANSFORMER_INITS = ("gpt2", "t_fixup", "deepnorm", "mup")


class TransformerScheme(NamedTuple):
    """A transformer variant from a ``NORM/INIT`` spec: the normalization placement, the attention-logit scale
    and the reinit rules at a given depth and width, plus muP's base width (``None`` unless ``INIT`` is mup)."""

    name: str
    norm: str
    attn_scale: str
    rules: Any
    mup_base_width: int | None
    warmup: float | None = None  # the spec's own warmup fraction (NORM/INIT/warmup(0.1)); None: the config's


def transformer_scheme(spec: str, *, num_layers: int, d_model: int, base_width: int) -> TransformerScheme:
    """``NORM/INIT`` -> :class:`TransformerScheme`. ``NORM``: ``pre``, ``post``, ``deepnorm`` or ``none`` (the
    placement of :func:`jaxnn.models.transformer_apply`). ``INIT``: ``gpt2``, ``t_fixup``, ``deepnorm``,
    ``mup`` / ``mup(base_width=32)`` (muP: also 1/d_head attention and per-layer Adam learning rates relative to
    ``base_width``, default the smallest compared width), or any initializer spec applied to every kernel with
    :func:`jaxnn.schemes.transformer_standard` (``xavier_uniform``, ``he_normal``, ``lecun_normal``, ...)."""
    from jaxnn.bench.config import TRANSFORMER_NORMS

    parts = split_specs(spec, "/")
    if len(parts) not in (2, 3):
        raise ValueError(
            f"transformer scheme {spec!r} must be NORM/INIT or NORM/INIT/warmup(FRACTION), e.g. post/xavier_uniform, "
            f"post/xavier_uniform/warmup(0.1), pre/gpt2, deepnorm/deepnorm, none/t_fixup, pre/mup "
            f"(NORM: {', '.join(TRANSFORMER_NORMS)})"
        )
    norm, init = parts[:2]
    warm = None
    if len(parts) == 3:
        wname, wargs, wkw = parse_spec(parts[2], "warmup")
        if wname != "warmup" or wkw or len(wargs) != 1:
            raise ValueError(f"transformer scheme {spec!r}: the third part must be warmup(FRACTION), e.g. warmup(0.1)")
        warm = wargs[0]
        if isinstance(warm, bool) or not isinstance(warm, (int, float)) or not 0.0 <= warm < 1.0:
            raise ValueError(f"transformer scheme {spec!r}: the warmup fraction must be in [0, 1), got {warm!r}")
        warm = float(warm)
    if norm not in TRANSFORMER_NORMS:
        raise ValueError(f"transformer scheme {spec!r}: NORM must be one of {', '.join(TRANSFORMER_NORMS)}")
    name, args, kwargs = parse_spec(init, "initializer")
    if name in TRANSFORMER_INITS:
        unknown = set(kwargs) - ({"base_width"} if name == "mup" else set())
        if args or unknown:
            extra = " (mup takes base_width=, e.g. mup(base_width=32))" if name == "mup" else ""
            raise ValueError(f"transformer scheme {spec!r}: {name} takes no such arguments{extra}")
        if name == "gpt2":
            return TransformerScheme(spec, norm, "sqrt", schemes.gpt2(num_layers), None, warm)
        if name == "t_fixup":
            return TransformerScheme(spec, norm, "sqrt", schemes.t_fixup(num_layers, d_model), None, warm)
        if name == "deepnorm":
            return TransformerScheme(spec, norm, "sqrt", schemes.deepnorm(num_layers), None, warm)
        base = positive_int(kwargs.get("base_width", base_width), f"transformer scheme {spec!r}: base_width")
        return TransformerScheme(spec, norm, "mup", schemes.mup_transformer(), int(base), warm)
    rules = schemes.transformer_standard(initializer(init, spec))
    return TransformerScheme(spec, norm, "sqrt", rules, None, warm)
