"""The architecture, checked: the library never imports the benchmark application, and `import jaxnn` stays lean."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "jaxnn"
LIBRARY = sorted(p for p in ROOT.rglob("*.py") if "bench" not in p.relative_to(ROOT).parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (function-local imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_library_never_imports_the_benchmark_application(path):
    bad = sorted(m for m in _imports(path) if m == "jaxnn.bench" or m.startswith("jaxnn.bench."))
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_checker_sees_a_bench_import(tmp_path):
    """The AST walk above is not vacuous: it finds a function-local import of the application."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from jaxnn.bench import sweep\n")
    assert "jaxnn.bench" in _imports(f)


def test_import_jaxnn_loads_neither_the_application_nor_its_extras():
    code = (
        "import sys, json, jaxnn; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sklearn', 'matplotlib', 'tqdm') or m.startswith('jaxnn.bench'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_bench_modules_each_import_only_downstream():
    """The application's flow is one way: config -> specs/experiment -> sweep -> execution/program -> summary.
    No module imports the CLI, and the engine never imports the configuration layer."""
    bench = ROOT / "bench"
    engine = ("scheme", "program", "execution", "summary", "stats", "sweep", "results")
    for name in engine:
        mods = _imports(bench / f"{name}.py")
        upstream = {f"jaxnn.bench.{m}" for m in ("config", "specs", "experiment", "cli")}
        assert not (mods & upstream), (name, sorted(mods & upstream))
    for path in bench.glob("*.py"):
        if path.name != "cli.py":
            assert "jaxnn.bench.cli" not in _imports(path), path.name


def test_bench_uses_the_library_through_its_public_names():
    """The application reaches the library only through public modules (and the package's shared toolbox)."""
    for path in (ROOT / "bench").glob("*.py"):
        private = sorted(m for m in _imports(path) if m.startswith("jaxnn._") and not m.startswith("jaxnn._util"))
        assert not private, (path.name, private)
