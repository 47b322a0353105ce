"""Ready rule sets for :func:`jaxnn.reinit`: which leaves of a model's parameters are weights, biases, embeddings
or normalization scales, by the names Flax, Haiku, Equinox, torch and jaxnn give them.

Each entry returns a rule ``(path, leaf) -> initializer | None``; a list of rules is tried in order, so they
combine: ``jaxnn.reinit(key, params, [{"head/kernel": zeros}, rules.standard(he_normal())])``.
"""

from jaxnn._reinit import LAYOUTS, biases, embeddings, kernels, scales, standard, with_layout

__all__ = ["LAYOUTS", "biases", "embeddings", "kernels", "scales", "standard", "with_layout"]
