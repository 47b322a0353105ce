"""Results directories: atomic writes, per-chunk run storage for resuming, and the config guard.

Layout of a results directory (written by :mod:`jaxnn.bench.cli`)::

    .lock               the exclusive lock of the run writing here (``flock``; pid, host and command inside)
    config.json         everything needed to rerun (the resolved preset + overrides), plus versions and machine
    chunks/<phase>_<first-run>.npz   per-run arrays of one finished chunk (written atomically; what resume reads),
                        with a fingerprint of the configuration, of the execution and of its own content
    runs.npz            all per-run arrays, stacked (schemes x seeds x ...), plus names, steps and learning rates
    summary.csv         one row per scheme: medians, bootstrap CIs, censoring, p-values, rank
    summary.md          the same as a ranked Markdown table
    *.png               plots (see jaxnn.bench.plot)

Every file is written to a temporary name in the same directory and moved into place with ``os.replace``, so
a killed process leaves either the old file or the new one, never half of one. A run restarted with the same
configuration loads the finished chunks and computes only the missing runs; a different configuration in the
same directory is refused (:class:`ConfigMismatchError`) unless ``overwrite=True``.

Trust: one run at a time holds the directory (:func:`lock_dir`; a second run is refused naming the holder, a
lock left by a killed process is released by the OS). ``overwrite`` moves the old results aside (``.replaced/``)
and deletes them only once the new run has saved its first chunk (:func:`discard_replaced`); a run that fails
before that puts them back (:func:`restore_replaced`). Every chunk is checked on load (:meth:`ChunkStore.chunks`):
a damaged one (unreadable, missing arrays, inconsistent shapes, edited values: its content hash), one of another
configuration or computed with other numerics-relevant execution settings is named in a one-line warning,
moved aside (``*.rejected``) and recomputed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ConfigMismatchError",
    "DirectoryLockedError",
    "check_out_path",
    "lock_dir",
    "config_fingerprint",
    "content_hash",
    "restore_replaced",
    "discard_replaced",
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


class DirectoryLockedError(ValueError):
    """Another run holds the results directory."""


def _warn(msg: str) -> None:
    print(f"jaxnn-bench: warning: {msg}", file=sys.stderr, flush=True)


def check_out_path(root) -> Path:
    """``root`` as a Path if a results directory can be created (or used) there; else a one-line ``ValueError``.

    Creates nothing: checks that ``root`` is a directory or does not exist, that its nearest existing ancestor
    is a directory, and that it is writable.
    """
    root = Path(root)
    if root.exists():
        if not root.is_dir():
            raise ValueError(f"--out {root} is not a directory")
        if not os.access(root, os.W_OK | os.X_OK):
            raise ValueError(f"--out {root} is not writable")
        return root
    parent = root.absolute().parent
    while not parent.exists() and parent != parent.parent:
        if parent.is_symlink() or os.path.lexists(parent):
            raise ValueError(f"--out {root}: {parent} is a broken link")
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"--out {root}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK) or str(parent.resolve()).split(os.sep)[1:2] in (["proc"], ["sys"]):
        raise ValueError(f"--out {root}: cannot create a directory in {parent}")
    return root


@contextlib.contextmanager
def lock_dir(root, command: str | None = None) -> Iterator[Path]:
    """Hold ``root/.lock`` exclusively (``flock``) for the ``with`` block; ``root`` is created if needed.

    The lock file records the holder (pid, host, command, start time). A second run is refused with
    :class:`DirectoryLockedError` naming it; the OS releases the lock of a process that dies (even by SIGKILL),
    so a lock left behind is taken over by the next run.
    """
    import fcntl

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            try:
                holder = json.loads(path.read_text() or "{}")
                who = f"pid {holder['pid']} on {holder['host']} since {holder['started']} ({holder['command']})"
            except (OSError, ValueError, KeyError, TypeError):
                who = "another process"
            raise DirectoryLockedError(
                f"{root} is in use by {who}; wait for it to finish or use another --out"
            ) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command or " ".join(sys.argv),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        yield root
    finally:
        os.close(fd)  # releases the flock


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


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_fingerprint(config: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``config`` (what ``config.json`` records under ``"config"``)."""
    return hashlib.sha256(_canonical(json.loads(_canonical(config))).encode()).hexdigest()


def content_hash(arrays: Mapping[str, Any]) -> str:
    """sha256 over the names, dtypes, shapes and bytes of ``arrays`` (sorted by name)."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


_META = "__fingerprint__"


class ChunkStore:
    """Per-chunk storage of finished runs under ``root/chunks``.

    A chunk file ``<phase>_<first run index>.npz`` holds ``run_index`` (the indices of the runs in it, along
    the phase's run axis), one array per output with the same leading axis, and ``__fingerprint__``: a JSON
    string with the ``config`` fingerprint given to the store (:func:`config_fingerprint`), the phase, the
    ``execution`` settings that decide the numbers (see :func:`jaxnn.bench.execution.run_program`) and the
    :func:`content_hash` of the other arrays. :meth:`chunks` checks all of it; a chunk that fails is named in
    a one-line warning on stderr (``warn``) and moved aside to ``<name>.rejected`` so its runs are recomputed.
    :meth:`load` merges the valid chunks of a phase into ``{run_index: {name: array}}``, so resuming does not
    depend on how the runs were cut into chunks before. Phase names may contain ``/`` (mapped to ``__``).
    """

    def __init__(self, root, fingerprint: str = "", warn: Callable[[str], None] | None = None):
        self.root = Path(root)
        self.dir = self.root / "chunks"
        self.fingerprint = fingerprint
        self.warn = _warn if warn is None else warn
        self.rejected: list[Path] = []

    def _prefix(self, phase: str) -> str:
        if not phase or any(c in phase for c in '\\:*?"<>| ') or "__" in phase:
            raise ValueError(f"bad phase name {phase!r}")
        return phase.replace("/", "__") + "_"

    def save(self, phase: str, run_index, arrays: Mapping[str, Any], execution: Mapping | None = None) -> Path:
        run_index = np.asarray(run_index, dtype=np.int64)
        for k, v in arrays.items():
            if k in ("run_index", _META):
                raise ValueError(f"array name {k!r} is reserved")
            if np.shape(v)[:1] != run_index.shape:
                raise ValueError(f"array {k!r} has leading shape {np.shape(v)[:1]}, expected {run_index.shape}")
        arrays = {"run_index": run_index, **{k: np.asarray(v) for k, v in arrays.items()}}
        meta = {
            "config": self.fingerprint,
            "phase": phase,
            "execution": json.loads(_canonical(dict(execution or {}))),
            "content": content_hash(arrays),
        }
        path = self.dir / f"{self._prefix(phase)}{int(run_index[0]):06d}.npz"
        atomic_savez(path, **arrays, **{_META: np.asarray(_canonical(meta))})
        return path

    def reject(self, path: Path, reason: str) -> None:
        """Warn that chunk ``path`` is not used (``reason``) and move it aside to ``<name>.rejected``."""
        self.warn(f"chunk {path} {reason}; moved aside to {path.name}.rejected, its runs are recomputed")
        self.rejected.append(path)
        try:
            os.replace(path, path.with_name(path.name + ".rejected"))
        except OSError:
            pass

    def _read(self, path: Path, phase: str):
        """``(run_index, arrays, execution)`` of a valid chunk, else the reason it is not valid (a str)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as e:  # truncated, junk, not a zip, pickled objects, ...
            return f"is unreadable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        if _META not in data or "run_index" not in data:
            return "has no fingerprint (written by another version or by hand)"
        try:
            meta = json.loads(str(data.pop(_META)))
            cfg, ph, execution, content = meta["config"], meta["phase"], meta["execution"], meta["content"]
        except (ValueError, KeyError, TypeError):
            return "has an unreadable fingerprint"
        if cfg != self.fingerprint or ph != phase:
            return "belongs to another configuration"
        if content != content_hash(data):
            return "was modified after it was written (its content hash does not match)"
        idx = data.pop("run_index")
        if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
            return f"has a bad run_index of shape {idx.shape}"
        if not data or any(v.shape[:1] != idx.shape for v in data.values()):
            return "has arrays of inconsistent shapes"
        return idx, data, execution

    def chunks(self, phase: str) -> list[tuple[Path, np.ndarray, dict[str, np.ndarray], dict]]:
        """The valid chunks of ``phase`` as ``(path, run_index, arrays, execution)``; invalid ones are rejected."""
        out = []
        if not self.dir.is_dir():
            return out
        prefix = self._prefix(phase)
        valid = []
        for path in sorted(self.dir.glob(f"{prefix}*.npz")):
            if not path.name[len(prefix) : -4].isdigit():
                continue
            got = self._read(path, phase)
            if isinstance(got, str):
                self.reject(path, got)
            else:
                idx, arrays, execution = got
                sig = _canonical({k: [v.dtype.str, list(v.shape[1:])] for k, v in arrays.items()})
                valid.append((sig, path, idx, arrays, execution))
        runs: dict[str, int] = {}
        for sig, _, idx, _, _ in valid:
            runs[sig] = runs.get(sig, 0) + idx.size
        best = max(runs, key=runs.get, default=None)  # the signature most runs have (the first on a tie)
        for sig, path, idx, arrays, execution in valid:
            if sig != best:
                self.reject(path, "has arrays of other names or shapes than the phase's other chunks")
            else:
                out.append((path, idx, arrays, execution))
        return out

    def load(self, phase: str) -> dict[int, dict[str, np.ndarray]]:
        out: dict[int, dict[str, np.ndarray]] = {}
        for _, idx, arrays, _ in self.chunks(phase):
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
    for mod, dist in (("scipy", "scipy"), ("sklearn", "scikit-learn"), ("matplotlib", "matplotlib")):
        try:  # the installed version, without paying for the import
            env[mod] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            env[mod] = None
    return env


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
_REPLACED = ".replaced"


def _results_files(root: Path) -> list[Path]:
    """What a results directory holds besides its lock: config, chunks, outputs, plots."""
    names = ["config.json", "chunks", *_OUTPUTS]
    return [root / n for n in names if os.path.lexists(root / n)] + sorted(root.glob("*.png"))


def restore_replaced(root) -> bool:
    """Undo an ``overwrite`` that never saved a chunk: put the results in ``root/.replaced`` back. True if done."""
    root = Path(root)
    old = root / _REPLACED
    if not old.is_dir():
        return False
    for path in _results_files(root):
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    for path in old.iterdir():
        os.replace(path, root / path.name)
    old.rmdir()
    return True


def discard_replaced(root) -> None:
    """Delete the results an ``overwrite`` moved aside (once the new run has saved a chunk)."""
    shutil.rmtree(Path(root) / _REPLACED, ignore_errors=True)


def _old_config(cfg_path: Path):
    """The ``"config"`` mapping of an existing config.json, or the reason it is not one (a str)."""
    try:
        doc = json.loads(cfg_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    if not isinstance(doc, dict) or "config" not in doc:
        return "no 'config' entry"
    if not isinstance(doc["config"], dict):
        return f"'config' is {type(doc['config']).__name__}, not a mapping"
    return doc["config"]


def prepare_dir(root, config: Mapping[str, Any], *, overwrite: bool = False, extra: Mapping | None = None) -> Path:
    """Make ``root`` ready for ``config``: create it, or check that it holds the same configuration.

    Call it while holding :func:`lock_dir`. ``config`` is the JSON-able experiment definition (what decides
    the results). If ``root/config.json`` exists with a different ``config`` (or is not a results config),
    raise :class:`ConfigMismatchError` listing the differences, unless ``overwrite`` -- then the old config,
    chunks, outputs and plots are moved aside to ``root/.replaced`` (deleted by :func:`discard_replaced` once
    the new run has saved its first chunk, put back by :func:`restore_replaced` if it fails before). Results
    moved aside by an earlier overwrite that never saved a chunk are put back first. Writes ``config.json`` as
    ``{"config": config, "environment": environment(), **extra}``.
    """
    root = Path(root)
    cfg_path = root / "config.json"
    config = json.loads(_canonical(config))  # normalize tuples -> lists etc.
    if (root / _REPLACED).is_dir():
        if (root / "chunks").is_dir() and any((root / "chunks").glob("*.npz")):
            discard_replaced(root)  # the overwriting run had started cleanly
        else:
            restore_replaced(root)
    replace = False
    if cfg_path.exists():
        old = _old_config(cfg_path)
        if isinstance(old, str):
            if not overwrite:
                raise ConfigMismatchError(
                    f"{cfg_path} is not a jaxnn results config ({old}); pass --overwrite to replace it"
                )
            replace = True
        elif _canonical(old) != _canonical(config):
            if not overwrite:
                diff = " ".join(line.strip() + ";" for line in _diff(old, config)).rstrip(";")
                raise ConfigMismatchError(
                    f"{root} holds results of a different configuration ({diff}); "
                    "use another --out directory, or pass --overwrite to replace those results"
                )
            replace = True
    elif any(_results_files(root)):
        if not overwrite:
            raise ConfigMismatchError(
                f"{root} holds results files but no config.json; pass --overwrite to replace them"
            )
        replace = True
    if replace:
        aside = root / _REPLACED
        aside.mkdir()
        for path in _results_files(root):
            os.replace(path, aside / path.name)
    root.mkdir(parents=True, exist_ok=True)
    doc = {"config": config, "environment": environment(), **dict(extra or {})}
    atomic_write_text(cfg_path, json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")
    return root


# ---------------------------------------------------------------------------------------------------- outputs


def format_number(v, digits: int = 3, inf: str = "inf") -> str:
    """How every number of a summary is written: ``digits`` significant digits, scientific outside [1e-3, 1e4),
    integers >= 10 without decimals, ``inf`` for +inf (``"never"`` for steps), ``–`` for NaN, "" for None."""
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


def format_ci(row, key: str, digits: int = 3) -> str:
    """``row[key]`` with its CI (``row[key + "_lo"]``, ``row[key + "_hi"]``) as ``"v [lo, hi]"``."""
    v, lo, hi = row[key], row[f"{key}_lo"], row[f"{key}_hi"]
    if v is None or np.isnan(v):
        return "–"
    inf = "never" if key.startswith("steps") else "inf"
    return f"{format_number(v, digits, inf)} [{format_number(lo, digits, inf)}, {format_number(hi, digits, inf)}]"


def summary_table(summary, *, target_on: str, metric_name: str = "metric", compared: str = "scheme") -> list[str]:
    """The ranked Markdown table (header, rule, one line per row, best first) of :func:`jaxnn.bench.summary.summarize`
    rows, or of the same rows read back from ``summary.csv``: the one place a summary's numbers are formatted."""
    on = target_on.replace("_", " ")
    has_lr = any(r.get("learning_rate") is not None for r in summary)
    head = ["rank", compared] + (["lr"] if has_lr else [])
    head += ["reached", "steps to target (reached runs)", f"AUC of {on}", "final eval loss", f"final {metric_name}"]
    head += ["diverged", "p vs best (Holm)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in summary:
        sig = "best" if r["best"] else f"{format_number(r['p_holm'], 2)}{' *' if r['significant'] else ''}"
        cells = [str(r["rank"]), f"`{r['scheme']}`"] + ([format_number(r["learning_rate"])] if has_lr else [])
        cells += [f"{r['n_reached']}/{r['n_seeds']}", format_ci(r, "steps_to_target_reached"), format_ci(r, "auc")]
        cells += [format_ci(r, "final_eval_loss"), format_ci(r, "final_eval_metric"), str(r["n_diverged"]), sig]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


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
    lines = [f"### {title}", ""] if title else []
    lines += summary_table(summary, target_on=on, metric_name=metric_name, compared=compared)
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
            v = format_number(sign * score[i, j])
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
