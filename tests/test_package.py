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
