"""Results directories: atomic writes, per-chunk run storage for resuming, and the config guard.

Layout of a results directory (written by :mod:`jaxnn.bench.cli`)::

    config.json         everything needed to rerun (the resolved preset + overrides), plus versions and machine
    chunks/<phase>_<first-run>.npz   per-run arrays of one finished chunk (written atomically; what resume reads)
    runs.npz            all per-run arrays, stacked (schemes x seeds x ...), plus names, steps and learning rates
    summary.csv         one row per scheme: medians, bootstrap CIs, censoring, p-values, rank
    summary.md          the same as a ranked Markdown table
    *.png               plots (see jaxnn.bench.plot)

Every file is written to a temporary name in the same directory and moved into place with ``os.replace``, so
a killed process leaves either the old file or the new one, never half of one. A run restarted with the same
configuration loads the finished chunks and computes only the missing runs; a different configuration in the
same directory is refused (:class:`ConfigMismatchError`) unless ``overwrite=True``.
"""

from __future__ import annotations

import io
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ConfigMismatchError",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_savez",
    "ChunkStore",
    "prepare_dir",
    "environment",
]


def _umask() -> int:
    """The process umask (read by setting and restoring it: POSIX has no read-only call), at write time."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class ConfigMismatchError(ValueError):
    """The results directory holds results of a different configuration."""


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same directory + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_savez(path, **arrays) -> None:
    """``np.savez`` (uncompressed, lossless) written atomically."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    atomic_write_bytes(path, buf.getvalue())


class ChunkStore:
    """Per-chunk storage of finished runs under ``root/chunks``.

    A chunk file ``<phase>_<first run index>.npz`` holds ``run_index`` (the indices of the runs in it, along
    the phase's run axis) and one array per output with the same leading axis. :meth:`load` merges every chunk
    file of a phase into ``{run_index: {name: array}}``, so resuming does not depend on the chunk size used
    before. Phase names may contain ``/`` (mapped to ``__`` in file names).
    """

    def __init__(self, root):
        self.root = Path(root)
        self.dir = self.root / "chunks"

    def _prefix(self, phase: str) -> str:
        if not phase or any(c in phase for c in '\\:*?"<>| ') or "__" in phase:
            raise ValueError(f"bad phase name {phase!r}")
        return phase.replace("/", "__") + "_"

    def save(self, phase: str, run_index, arrays: Mapping[str, Any]) -> Path:
        run_index = np.asarray(run_index, dtype=np.int64)
        for k, v in arrays.items():
            if np.shape(v)[:1] != run_index.shape:
                raise ValueError(f"array {k!r} has leading shape {np.shape(v)[:1]}, expected {run_index.shape}")
        path = self.dir / f"{self._prefix(phase)}{int(run_index[0]):06d}.npz"
        atomic_savez(path, run_index=run_index, **arrays)
        return path

    def load(self, phase: str) -> dict[int, dict[str, np.ndarray]]:
        out: dict[int, dict[str, np.ndarray]] = {}
        if not self.dir.is_dir():
            return out
        prefix = self._prefix(phase)
        for path in sorted(self.dir.glob(f"{prefix}*.npz")):
            if not path.name[len(prefix) : -4].isdigit():
                continue
            with np.load(path) as z:
                idx = z["run_index"]
                arrays = {k: z[k] for k in z.files if k != "run_index"}
            for i, r in enumerate(idx):
                out[int(r)] = {k: v[i] for k, v in arrays.items()}
        return out


def environment() -> dict[str, Any]:
    """Versions and machine description recorded in ``config.json``."""
    import jax
    import optax

    import jaxnn

    env = {
        "jaxnn": getattr(jaxnn, "__version__", "?"),
        "jax": jax.__version__,
        "optax": optax.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "process_count": jax.process_count(),
    }
    for mod in ("scipy", "sklearn", "matplotlib"):
        try:
            env[mod] = __import__(mod).__version__
        except ImportError:
            env[mod] = None
    return env


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _diff(old: Mapping, new: Mapping, prefix="") -> list[str]:
    lines = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k, "<missing>"), new.get(k, "<missing>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            lines += _diff(a, b, f"{prefix}{k}.")
        elif _canonical(a) != _canonical(b):
            lines.append(f"  {prefix}{k}: {a!r} (in the directory) != {b!r} (now)")
    return lines


_OUTPUTS = ("runs.npz", "summary.csv", "summary.md")


def prepare_dir(root, config: Mapping[str, Any], *, overwrite: bool = False, extra: Mapping | None = None) -> Path:
    """Make ``root`` ready for ``config``: create it, or check that it holds the same configuration.

    ``config`` is the JSON-able experiment definition (what decides the results). If ``root/config.json``
    exists with a different ``config``, raise :class:`ConfigMismatchError` listing the differences, unless
    ``overwrite`` -- then the old chunks, outputs and plots are deleted first. Writes ``config.json`` as
    ``{"config": config, "environment": environment(), **extra}``.
    """
    root = Path(root)
    cfg_path = root / "config.json"
    config = json.loads(_canonical(config))  # normalize tuples -> lists etc.
    if cfg_path.exists():
        try:
            old = json.loads(cfg_path.read_text())["config"]
        except (ValueError, KeyError) as e:
            if not overwrite:
                raise ConfigMismatchError(
                    f"{cfg_path} is not a jaxnn results config ({e}); pass --overwrite to replace it"
                ) from e
            old = None
        if old is not None and _canonical(old) != _canonical(config):
            if not overwrite:
                diff = "\n".join(_diff(old, config))
                raise ConfigMismatchError(
                    f"{root} holds results of a different configuration:\n{diff}\n"
                    "Use another --out directory, or pass --overwrite to delete those results."
                )
            old = None
        if old is None:  # overwrite
            shutil.rmtree(root / "chunks", ignore_errors=True)
            for name in _OUTPUTS:
                (root / name).unlink(missing_ok=True)
            for png in root.glob("*.png"):
                png.unlink()
    root.mkdir(parents=True, exist_ok=True)
    doc = {"config": config, "environment": environment(), **dict(extra or {})}
    atomic_write_text(cfg_path, json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")
    return root


# ---------------------------------------------------------------------------------------------------- outputs


def _fmt(v, digits=3, inf="inf") -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    v = float(v)
    if np.isnan(v):
        return "–"
    if np.isinf(v):
        return inf if v > 0 else "-inf"
    if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-3):
        return f"{v:.{digits - 1}e}"
    if float(v).is_integer() and abs(v) >= 10:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def _ci(row, key, digits=3) -> str:
    v, lo, hi = row[key], row[f"{key}_lo"], row[f"{key}_hi"]
    if v is None or np.isnan(v):
        return "–"
    inf = "never" if key.startswith("steps") else "inf"
    return f"{_fmt(v, digits, inf)} [{_fmt(lo, digits, inf)}, {_fmt(hi, digits, inf)}]"


def summary_markdown(
    summary,
    *,
    settings: Mapping[str, Any],
    metric_name: str = "metric",
    compared: str = "scheme",
    title: str | None = None,
) -> str:
    """The ranked Markdown table of :func:`jaxnn.bench.sweep.summarize` rows (best first) with a legend."""
    on = settings["target_on"]
    cmp = "≥" if settings.get("higher_is_better") else "≤"
    target_desc = f"{on.replace('_', ' ')} {cmp} {settings['target']:g}"
    has_lr = any(r.get("learning_rate") is not None for r in summary)
    head = (
        ["rank", compared]
        + (["lr"] if has_lr else [])
        + [
            "reached",
            "steps to target (reached runs)",
            f"AUC of {on.replace('_', ' ')}",
            "final eval loss",
            f"final {metric_name}",
            "diverged",
            "p vs best (Holm)",
        ]
    )
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in summary:
        if r["best"]:
            sig = "best"
        else:
            sig = f"{_fmt(r['p_holm'], 2)}{' *' if r['significant'] else ''}"
        cells = (
            [str(r["rank"]), f"`{r['scheme']}`"]
            + ([_fmt(r["learning_rate"])] if has_lr else [])
            + [
                f"{r['n_reached']}/{r['n_seeds']}",
                _ci(r, "steps_to_target_reached"),
                _ci(r, "auc"),
                _ci(r, "final_eval_loss"),
                _ci(r, "final_eval_metric"),
                str(r["n_diverged"]),
                sig,
            ]
        )
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Target: {target_desc} within {settings['steps']} steps (evaluated every {settings['eval_every']}); "
        f"{settings['seeds']} seeds per {compared}. Cells: median over seeds [95% percentile-bootstrap CI].",
        "*reached*: seeds that reached the target (the others are right-censored); *steps to target* is the median "
        "over the seeds that reached it. Ranking: median steps-to-target with censored runs counted as "
        f"{settings['steps'] + settings['eval_every']} steps, ties broken by the median AUC (mean value of the "
        "curve over the budget). *p vs best*: two-sided paired Wilcoxon signed-rank test over seeds on the "
        f"censored steps-to-target against the best, Holm-adjusted; `*` = significant at {settings['alpha']:g}.",
    ]
    if all(r["n_reached"] == 0 for r in summary):
        lines += [
            "",
            f"**No run reached the target ({target_desc}).** Rankings fall back to the AUC; "
            "consider a looser target or a larger step budget.",
        ]
    return "\n".join(lines) + "\n"


def tuning_markdown(names, tuning, *, settings: Mapping[str, Any], compared: str = "scheme") -> str:
    """The fixed-learning-rate view of a learning-rate grid: median validation AUC per (entry, rate)."""
    lrs = np.asarray(tuning["learning_rates"])
    score = np.asarray(tuning["score"], dtype=np.float64)
    sign = -1.0 if settings.get("higher_is_better") else 1.0
    on = settings["target_on"].replace("_", " ")
    head = [compared] + [f"lr {v:g}" for v in lrs]
    lines = [
        f"Learning-rate tuning (validation split, {settings['tune_seeds']} tuning seeds): median AUC of the "
        f"validation {on} per learning rate; **bold** = chosen (reported above on fresh seeds).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for i, name in enumerate(names):
        cells = []
        for j in range(lrs.size):
            v = _fmt(sign * score[i, j])
            cells.append(f"**{v}**" if j == int(tuning["choice"][i]) else v)
        lines.append("| " + " | ".join([f"`{name}`", *cells]) + " |")
    return "\n".join(lines) + "\n"


def summary_csv(summary) -> str:
    import csv

    buf = io.StringIO()
    fields = list(summary[0].keys())
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in summary:
        w.writerow(
            {
                k: ("" if r[k] is None else (repr(float(r[k])) if isinstance(r[k], (float, np.floating)) else r[k]))
                for k in fields
            }
        )
    return buf.getvalue()


def write_outputs(
    root, result, *, metric_name: str = "metric", compared: str = "scheme", title: str | None = None
) -> dict[str, Path]:
    """Write ``runs.npz``, ``summary.csv`` and ``summary.md`` of a :class:`jaxnn.bench.sweep.SweepResult`."""
    root = Path(root)
    arrays = {f"run_{k}": v for k, v in result.arrays.items()}
    arrays.update({f"metric_{k}": v for k, v in result.metrics.items()})
    arrays.update(names=np.asarray(result.names), steps=result.steps, learning_rates=result.learning_rates)
    tuning = result.tuning
    parts = tuning.get("parts") if tuning is not None and "parts" in tuning else ([tuning] if tuning else [])
    for i, part in enumerate(parts):
        if part is None:
            continue
        pre = "tune_" if len(parts) == 1 else f"tune{i}_"
        arrays[pre + "learning_rates"] = part["learning_rates"]
        arrays[pre + "choice"] = part["choice"]
        arrays[pre + "score"] = part["score"]
        arrays.update({pre + "run_" + k: v for k, v in part["arrays"].items()})
    paths = {"runs": root / "runs.npz", "csv": root / "summary.csv", "md": root / "summary.md"}
    atomic_savez(paths["runs"], **arrays)
    atomic_write_text(paths["csv"], summary_csv(result.summary))
    md = summary_markdown(
        result.summary, settings=result.settings, metric_name=metric_name, compared=compared, title=title
    )
    if tuning is not None and "choice" in tuning:
        md += "\n" + tuning_markdown(result.names, tuning, settings=result.settings, compared=compared)
    atomic_write_text(paths["md"], md)
    return paths
