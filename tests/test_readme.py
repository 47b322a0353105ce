"""The README's quick start runs as written and learns; the docs match the committed results files."""

import importlib.util
import pathlib
import re

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _quick_start_code() -> str:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _make_docs():
    spec = importlib.util.spec_from_file_location("make_docs", ROOT / "benchmarks" / "make_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_start_runs_and_one_step_lowers_the_loss(capsys):
    code = _quick_start_code()
    namespace: dict = {}
    exec(compile(code, "README quick start", "exec"), namespace)
    printed = float(capsys.readouterr().out.strip())
    loss_fn, x, y = namespace["loss_fn"], namespace["x"], namespace["y"]
    import jax

    from jaxnn import initializers, models

    start = models.mlp_init(jax.random.split(jax.random.key(0))[0], (64, 128, 10), w_init=initializers.he_normal())
    before = float(loss_fn(start, x, y))
    assert np.isfinite(printed)
    assert printed < before, (printed, before)


def test_docs_match_the_committed_results_files():
    """``benchmarks/make_docs.py`` run on ``benchmarks/results/`` reproduces every generated block exactly."""
    make_docs = _make_docs()
    pages = make_docs.render_all()
    assert ROOT / "README.md" in pages and ROOT / "docs" / "benchmarks.md" in pages
    stale = [str(p.relative_to(ROOT)) for p, (old, new) in pages.items() if old != new]
    assert not stale, f"out of date (run `python benchmarks/make_docs.py`): {stale}"


def test_every_committed_preset_is_in_the_docs_and_every_block_is_filled():
    make_docs = _make_docs()
    text = "\n".join(old for old, _ in make_docs.render_all().values())
    for name in make_docs.available_presets():
        assert f"<!-- generated:preset:{name} -->" in text, name
    for m in re.finditer(r"<!-- generated:([\w.:-]+) -->\n(.*?)<!-- /generated:\1 -->", text, re.S):
        assert m.group(2).strip(), f"empty generated block {m.group(1)}"


def test_preset_tables_match_the_runs_own_summary_md():
    """The docs' renderer formats a summary.csv exactly as the benchmark's own summary.md does."""
    make_docs = _make_docs()
    for name in make_docs.available_presets():
        own = (make_docs.PRESETS_DIR / name / "summary.md").read_text()
        own_table = [line for line in own.splitlines() if line.startswith("|")]
        assert make_docs.Preset(name).table() == own_table, name


def test_readme_is_a_front_door_whose_links_resolve():
    text = README.read_text()
    assert len(text.encode()) < 14_000
    for page in ("docs/benchmarks.md", "docs/diagnostics.md", "docs/performance.md", "docs/catalogue.md"):
        assert page in text
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if not target.startswith("http"):
                assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"
