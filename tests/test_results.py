"""Tests for jaxnn.bench.results: the directory lock, path checks, overwrite that deletes only once the new run
has started, and chunks checked on load (damaged, foreign, hand-edited chunks are named and recomputed)."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from jaxnn.bench import results
from jaxnn.bench.results import ChunkStore, ConfigMismatchError, DirectoryLockedError

CFG = {"steps": 30, "schemes": ["he_normal"]}


def test_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    with results.lock_dir(tmp_path / "r", command="jaxnn-bench --first"):
        holder = json.loads((tmp_path / "r" / ".lock").read_text())
        assert holder["pid"] == os.getpid() and holder["command"] == "jaxnn-bench --first"
        with pytest.raises(DirectoryLockedError, match=rf"in use by pid {os.getpid()} on .*jaxnn-bench --first"):
            with results.lock_dir(tmp_path / "r"):
                pass
    with results.lock_dir(tmp_path / "r"):  # released at the end of the block
        pass


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    code = (
        "import sys, time; from jaxnn.bench import results\n"
        "with results.lock_dir(sys.argv[1], command='holder'):\n"
        "    print('locked', flush=True); time.sleep(60)\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = p.stdout.readline().strip()
        assert line == "locked", p.stderr.read() if p.poll() is not None else line
        with pytest.raises(DirectoryLockedError, match=f"pid {p.pid}"):
            with results.lock_dir(tmp_path):
                pass
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == p.pid  # the dead holder's file is still there
    with results.lock_dir(tmp_path):  # ... but the OS released its lock
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()


def test_check_out_path_creates_nothing(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    for bad, msg in [(f, "not a directory"), (f / "sub", "not a directory"), ("/proc/jaxnn-results", "cannot create")]:
        with pytest.raises(ValueError, match=msg):
            results.check_out_path(bad)
    assert results.check_out_path(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("text", ['{"config": 5}', "[1, 2]", "{not json", '{"other": {}}'])
def test_a_foreign_config_json_is_refused_in_one_line(tmp_path, text):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ConfigMismatchError, match="not a jaxnn results config") as e:
        results.prepare_dir(tmp_path, CFG)
    assert "\n" not in str(e.value)
    assert (tmp_path / "config.json").read_text() == text


def _finished(root):
    results.prepare_dir(root, CFG)
    ChunkStore(root, "old").save("main", [0], {"a": np.ones((1, 2))})
    (root / "runs.npz").write_bytes(b"old runs")
    (root / "loss_curves.png").write_bytes(b"png")


def test_mismatch_is_refused_and_overwrite_moves_aside_until_discarded_or_restored(tmp_path):
    _finished(tmp_path)
    new = {**CFG, "steps": 40}
    with pytest.raises(ConfigMismatchError, match="different configuration .*steps: 30 .* != 40") as e:
        results.prepare_dir(tmp_path, new)
    assert "\n" not in str(e.value) and (tmp_path / "runs.npz").read_bytes() == b"old runs"
    results.prepare_dir(tmp_path, new, overwrite=True)
    assert not (tmp_path / "runs.npz").exists() and not (tmp_path / "chunks").exists()
    assert (tmp_path / ".replaced" / "runs.npz").read_bytes() == b"old runs"
    assert results.restore_replaced(tmp_path)  # the new run failed before its first chunk
    assert json.loads((tmp_path / "config.json").read_text())["config"] == CFG
    assert (tmp_path / "runs.npz").read_bytes() == b"old runs" and (tmp_path / "loss_curves.png").exists()
    assert not (tmp_path / ".replaced").exists()
    results.prepare_dir(tmp_path, new, overwrite=True)
    results.discard_replaced(tmp_path)  # the new run saved its first chunk
    assert not (tmp_path / ".replaced").exists() and not (tmp_path / "runs.npz").exists()


def test_an_overwrite_killed_before_its_first_chunk_is_undone_by_the_next_run(tmp_path):
    _finished(tmp_path)
    results.prepare_dir(tmp_path, {**CFG, "steps": 40}, overwrite=True)  # ... then killed
    results.prepare_dir(tmp_path, CFG)  # the old command resumes its results
    assert (tmp_path / "runs.npz").read_bytes() == b"old runs" and not (tmp_path / ".replaced").exists()


# ------------------------------------------------------------------------------------------- chunk checks


def _store(root, warnings, fp="cfg"):
    return ChunkStore(root, fp, warn=warnings.append)


def _save_two(root):
    store = ChunkStore(root, "cfg")
    store.save("main", [0, 1], {"loss": np.arange(6.0).reshape(2, 3), "step": np.ones((2, 3), np.int32)})
    store.save("main", [2], {"loss": np.full((1, 3), 7.0), "step": np.ones((1, 3), np.int32)})
    store.save("main", [3, 4], {"loss": np.full((2, 3), 8.0), "step": np.ones((2, 3), np.int32)})
    return root / "chunks" / "main_000000.npz", root / "chunks" / "main_000002.npz"


def test_valid_chunks_load_with_their_execution(tmp_path):
    _save_two(tmp_path)
    store = ChunkStore(tmp_path, "cfg")
    store.save("main", [5], {"loss": np.zeros((1, 3)), "step": np.ones((1, 3), np.int32)}, execution={"w": 1})
    warnings = []
    loaded = _store(tmp_path, warnings).load("main")
    assert sorted(loaded) == [0, 1, 2, 3, 4, 5] and warnings == []
    np.testing.assert_array_equal(loaded[1]["loss"], [3.0, 4.0, 5.0])
    assert [c[3] for c in _store(tmp_path, warnings).chunks("main")][-1] == {"w": 1}


def _rewrite(path, edit):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _truncate(path):
    path.write_bytes(path.read_bytes()[:100])


def _junk(path):
    path.write_text("not a chunk\n")


def _missing_array(path):
    _rewrite(path, lambda a: a.pop("step"))


def _no_fingerprint(path):
    _rewrite(path, lambda a: a.pop("__fingerprint__"))


def _edited_value(path):
    _rewrite(path, lambda a: a["loss"].__setitem__((0, 0), 0.5))


def _pickled(path):
    with open(path, "wb") as f:
        np.savez(f, run_index=np.array([0, 1]), loss=np.array([{}, {}], dtype=object))


def _wrong_shapes_with_a_valid_hash(path):
    def edit(a):
        a.update(loss=np.zeros((2, 5)), run_index=np.array([0, 1]))
        data = {k: v for k, v in a.items() if k != "__fingerprint__"}
        meta = json.loads(str(a["__fingerprint__"]))
        a["__fingerprint__"] = np.asarray(json.dumps({**meta, "content": results.content_hash(data)}))

    _rewrite(path, edit)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (_truncate, "is unreadable"),
        (_junk, "is unreadable"),
        (_pickled, "is unreadable"),
        (_missing_array, "content hash"),
        (_no_fingerprint, "no fingerprint"),
        (_edited_value, "content hash"),
        (_wrong_shapes_with_a_valid_hash, "other names or shapes"),
    ],
)
def test_a_damaged_chunk_is_named_moved_aside_and_its_runs_left_to_recompute(tmp_path, damage, reason):
    first, second = _save_two(tmp_path)
    damage(first)
    warnings = []
    loaded = _store(tmp_path, warnings).load("main")
    assert sorted(loaded) == [2, 3, 4]  # runs 0 and 1 are missing: the sweep recomputes them
    assert len(warnings) == 1 and str(first) in warnings[0] and reason in warnings[0], warnings
    assert "\n" not in warnings[0]
    assert not first.exists() and first.with_name(first.name + ".rejected").exists()
    assert _store(tmp_path, warnings).load("main").keys() == {2, 3, 4} and len(warnings) == 1  # rejected once


def test_a_chunk_of_another_configuration_is_rejected(tmp_path):
    first, _ = _save_two(tmp_path)
    warnings = []
    assert _store(tmp_path, warnings, fp="other").load("main") == {}
    assert len(warnings) == 3 and "another configuration" in warnings[0] and str(first) in warnings[0]


def test_damage_reasons_do_not_leak_tracebacks(tmp_path):
    first, _ = _save_two(tmp_path)
    with zipfile.ZipFile(first, "w") as z:
        z.writestr("loss.npy", b"\x93NUMPY garbage")
    warnings = []
    _store(tmp_path, warnings).load("main")
    assert len(warnings) == 1 and "unreadable" in warnings[0] and "\n" not in warnings[0]


def test_warning_goes_to_stderr_in_one_line(tmp_path, capsys):
    first, _ = _save_two(tmp_path)
    _junk(first)
    ChunkStore(tmp_path, "cfg").load("main")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("jaxnn-bench: warning: chunk ") and str(first) in err


def test_lock_wait_is_not_needed_for_sequential_runs(tmp_path):
    t = time.perf_counter()
    for _ in range(3):
        with results.lock_dir(tmp_path):
            pass
    assert time.perf_counter() - t < 5
