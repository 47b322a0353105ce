"""Ready rule sets for :func:`jaxnn.reinit`: which leaves of a model's parameters are weights, biases, embeddings
or normalization scales, by the names Flax, Haiku, Equinox, torch and jaxnn give them.

Each entry returns a rule ``(path, leaf) -> initializer | None``; a list of rules is tried in order, so they
combine: ``jaxnn.reinit(key, params, [{"head/kernel": zeros}, rules.standard(he_normal())])``.
:func:`leaves_with_paths` lists a tree's array leaves with the paths the rules see; :func:`default_role` says
which of them is a weight or a bias (what regularizers and the monitor use by default).
"""

from jaxnn._reinit import (
    LAYOUTS,
    biases,
    default_role,
    embeddings,
    kernels,
    leaves_with_paths,
    scales,
    standard,
    with_layout,
)

__all__ = [
    "LAYOUTS",
    "biases",
    "default_role",
    "embeddings",
    "kernels",
    "leaves_with_paths",
    "scales",
    "standard",
    "with_layout",
]
