"""The binary models in ``funcnet train``: ``--model bnn`` (binary weights and activations) and
``--model binaryconnect`` (binary weights) on digits and MNIST-1D, trained by Adam on the latent
weights clipped to [−1, 1] after each step (BinaryConnect), or ``--optimizer bop`` (Bop on the
binary weights, the recipe's Adam on the rest)."""

from __future__ import annotations

import optax

from funcnet.layers.binary import bop_with, clip_latent_weights, ste_sign_op
from funcnet.models.binary import binary_mlp
from funcnet.recipe_registry import (
    OPTIMIZERS,
    Recipe,
    register_model,
    register_optimizer,
    register_recipe,
)

LATENT_CLIP = {"after_update": clip_latent_weights(1.0)}
BOP = {"threshold": 1e-6, "gamma": 1e-3}  # Bop's; a shorter run than the paper's wants a larger γ


def bop(recipe: Recipe, epochs: int, steps_per_epoch: int) -> optax.GradientTransformation:
    """Bop on the binary layers' weights, the recipe's Adam (unclipped) on the other params."""
    options = dict(BOP, **{k: v for k, v in (recipe.options or {}).items() if k in BOP})
    real = OPTIMIZERS["adam"].make(recipe._replace(options=None), epochs, steps_per_epoch)
    return bop_with(real, options["threshold"], options["gamma"])


register_model("bnn", lambda r, d, n: binary_mlp(r.hidden_features, n, quantizer=ste_sign_op()))
register_model("binaryconnect", lambda r, d, n: binary_mlp(r.hidden_features, n))
register_optimizer(
    "bop", bop, help="Bop on the binary weights of bnn and binaryconnect, Adam on the rest"
)
for _dataset, _epochs in (("digits", 40), ("mnist1d", 60)):
    for _model in ("bnn", "binaryconnect"):
        register_recipe(_dataset, _model, Recipe((512, 512), 1e-2, epochs=_epochs, batch_size=32,
                                                 options=LATENT_CLIP))  # fmt: skip
