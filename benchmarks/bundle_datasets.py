#!/usr/bin/env python
"""Rebuild ``jaxnn/data/*.npz``, the bundled copies of scikit-learn's small real data sets.

``jaxnn.datasets.load`` reads these arrays so that a run never pays for importing scikit-learn; the arrays are
exactly what ``sklearn.datasets.load_*`` returns (``tests/test_datasets.py`` checks them bitwise against it)::

    python benchmarks/bundle_datasets.py          # rewrite the three files
    python benchmarks/bundle_datasets.py --check  # exit 1 if a file differs from scikit-learn's copy

The data: the UCI optical digits (Alpaydin & Kaynak 1998, CC BY 4.0), the Wisconsin diagnostic breast cancer
data (Wolberg et al. 1995, CC BY 4.0) and the diabetes data of Efron et al. (2004).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "jaxnn" / "data"


def arrays(name: str) -> dict[str, np.ndarray]:
    """The arrays of one data set as scikit-learn returns them: ``x``, ``y``, ``feature_names``,
    ``target_names`` (empty for regression)."""
    import sklearn.datasets as sk

    if name == "digits":
        b = sk.load_digits()
    elif name == "breast_cancer":
        b = sk.load_breast_cancer()
    elif name == "diabetes":
        b = sk.load_diabetes(scaled=False)  # the scaled copy was centred with statistics of all rows
    else:
        raise ValueError(f"unknown dataset {name!r}")
    target_names = np.asarray(getattr(b, "target_names", []), dtype=str) if name != "diabetes" else np.asarray([], str)
    return {
        "x": np.asarray(b.data),
        "y": np.asarray(b.target),
        "feature_names": np.asarray(b.feature_names, dtype=str),
        "target_names": target_names,
    }


def encode(a: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **a)
    return buf.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    bad = []
    for name in ("digits", "breast_cancer", "diabetes"):
        path = OUT / f"{name}.npz"
        a = arrays(name)
        if args.check:
            with np.load(path) as f:
                same = set(f.files) == set(a) and all(
                    f[k].dtype == v.dtype and np.array_equal(f[k], v) for k, v in a.items()
                )
            if not same:
                bad.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode(a))
            print(f"{path.relative_to(OUT.parents[1])}: {path.stat().st_size:,} bytes")
    if bad:
        print(f"differs from scikit-learn's copy: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
