"""The README's quick start runs as written and learns."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _quick_start_code() -> str:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


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
