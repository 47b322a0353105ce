"""Package metadata stays consistent with pyproject.toml."""

import pathlib
import tomllib

import jaxnn


def test_version_matches_pyproject():
    root = pathlib.Path(__file__).resolve().parents[1]
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert jaxnn.__version__ == meta["project"]["version"]
