"""The binary models: bad widths, and their place in ``funcnet train`` (their shapes, jit, vmap
and gradients: the layer contract, tests/core/layer_contract.py)."""

import jax
import jax.numpy as jnp
import optax
import pytest

from funcnet.layers.binary import BinaryParams
from funcnet.models import binaryconnect_mlp, bnn_mlp
from funcnet.recipe_registry import OPTIMIZERS
from funcnet.recipes import adam, check_run, recipe_for


def test_bnn_keeps_the_first_and_last_layer_real():
    _, params, _ = jax.eval_shape(lambda: bnn_mlp((4, 4, 4), 3).init(jax.random.key(0), (2, 5)))
    kinds = [type(p).__name__ for p in params if p != ()]
    assert kinds == ["DenseParams", "BatchNormParams", "BinaryParams", "BatchNormParams",
                     "BinaryParams", "BatchNormParams", "DenseParams"]  # fmt: skip
    with pytest.raises(ValueError, match=r"^bnn_mlp: expected at least one hidden layer"):
        bnn_mlp((), 3)
    with pytest.raises(ValueError, match=r"^binaryconnect_mlp: expected every hidden width"):
        binaryconnect_mlp((4, 0), 3)


def test_the_train_recipes_clip_latent_weights_and_offer_bop():
    for model in ("bnn", "binaryconnect"):
        check_run("digits", model, "bop")
    recipe = recipe_for("digits", "bnn")
    params = (BinaryParams(jnp.array([0.995]), None), jnp.array([0.995]))
    # Adam's first step is the learning rate (1e-2) against the gradient's sign; Bop's average
    # (γ = 1e-3) of a gradient against the weight's sign never flips it and sets it to sign(w)
    for make, expected in ((adam, (1.0, 1.005)), (OPTIMIZERS["bop"].make, (1.0, 1.005))):
        opt = make(recipe, 1, 10)
        grads = (BinaryParams(jnp.array([-1.0]), None), jnp.array([-1.0]))
        updates, _ = opt.update(grads, opt.init(params), params)
        new = optax.apply_updates(params, updates)
        assert float(new[0].w[0]) == pytest.approx(expected[0], abs=1e-6)
        assert float(new[1][0]) == pytest.approx(expected[1], abs=1e-6)
