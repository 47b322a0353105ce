"""Package metadata stays consistent with pyproject.toml."""

import pathlib
import tomllib

import jaxnn


def test_version_matches_pyproject():
    root = pathlib.Path(__file__).resolve().parents[1]
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert jaxnn.__version__ == meta["project"]["version"]


def test_library_modules_come_with_the_package_without_the_bench_extra():
    import subprocess
    import sys

    code = (
        "import sys, jaxnn; "
        "assert callable(jaxnn.losses.huber) and callable(jaxnn.initializers.he_normal()); "
        "heavy = [m for m in ('sklearn', 'matplotlib', 'tqdm') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_library_never_imports_the_benchmark_application():
    """Import graph: no module of the library (jaxnn/ outside jaxnn/bench/) imports jaxnn.bench, at the top or
    inside a function, and ``import jaxnn`` loads no part of it."""
    import ast
    import subprocess
    import sys

    root = pathlib.Path(jaxnn.__file__).resolve().parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if (root / "bench") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(n == "jaxnn.bench" or n.startswith("jaxnn.bench.") for n in names):
                offenders.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    assert not offenders, offenders
    code = (
        "import sys, jaxnn; loaded = [m for m in sys.modules if m.startswith('jaxnn.bench')]; assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
