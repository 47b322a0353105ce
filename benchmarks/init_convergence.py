#!/usr/bin/env python
"""Which initialization converges fastest? -- a thin wrapper over ``jaxnn-bench`` (:mod:`jaxnn.bench.cli`).

python benchmarks/init_convergence.py --preset default --out results/default
python benchmarks/init_convergence.py --list-presets
python benchmarks/init_convergence.py --help
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from jaxnn.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
