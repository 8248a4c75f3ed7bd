"""The binary models: bad widths, and their place in ``funcnet train`` (their shapes, jit, vmap
and gradients: the layer contract, tests/core/layer_contract.py)."""

import jax
import jax.numpy as jnp
import optax
import pytest

from funcnet.layers.binary import BinaryParams, ste_sign_op
from funcnet.models import binary_mlp
from funcnet.recipe_registry import OPTIMIZERS
from funcnet.recipes import adam, check_run, recipe_for


def kinds(model):
    _, params, _ = jax.eval_shape(lambda: model.init(jax.random.key(0), (2, 5)))
    return [type(p).__name__.removesuffix("Params") for p in params if p != ()]


def test_bnn_keeps_the_first_and_last_layer_real_binaryconnect_only_the_last():
    bnn = binary_mlp((4, 4, 4), 3, quantizer=ste_sign_op())
    assert kinds(bnn) == ["Dense", "BatchNorm", "Binary", "BatchNorm", "Binary", "BatchNorm",
                          "Dense"]  # fmt: skip
    assert kinds(binary_mlp((4, 4), 3)) == ["Binary", "BatchNorm", "Binary", "BatchNorm", "Dense"]
    with pytest.raises(ValueError, match=r"^binary_mlp: expected at least one hidden layer"):
        binary_mlp((), 3)
    with pytest.raises(ValueError, match=r"^binary_mlp: expected every hidden width"):
        binary_mlp((4, 0), 3)
    with pytest.raises(TypeError, match=r"^binary_mlp: expected quantizer to be an op or None"):
        binary_mlp((4,), 3, quantizer="sign")


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
