"""Binary layers: what they compute, their bad input, and a model check through them (shapes,
jit, vmap and gradients of the registered configurations: tests/core/layer_contract.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers import DenseParams, dense, serial
from funcnet.layers.binary import BinaryParams, binary_dense, latent_weight_mask, ste_sign_op
from funcnet.losses import mean_squared_error
from funcnet.verify import verify_model
from tests.layers.forward_mode import assert_manual_jvp_path_matches_autodiff

W = jnp.array([[0.3, -0.2], [-0.7, 0.0], [0.5, -1.4]])
X = jnp.array([[0.5, -2.0, 0.1]])


def test_binary_dense_computes_with_signs_and_the_xnor_scale():
    params = BinaryParams(W, None)
    y, _ = binary_dense(2).apply(params, (), X)
    np.testing.assert_allclose(y, X @ jnp.where(W >= 0, 1.0, -1.0))
    y, _ = binary_dense(2, input_quantizer=ste_sign_op(), xnor_scale=True).apply(params, (), X)
    alpha = jnp.mean(jnp.abs(W), axis=0, keepdims=True)
    np.testing.assert_allclose(y, (jnp.array([[1.0, -1, 1]]) @ jnp.sign(W + 1e-9)) * alpha)


def test_bad_options_and_weights_name_the_layer():
    with pytest.raises(ValueError, match=r"^binary_dense: expected floating-point latent weights"):
        binary_dense(2).apply(BinaryParams(W.astype(jnp.int32), None), (), X)
    with pytest.raises(ValueError, match=r"^binary_dense: expected a floating-point input"):
        binary_dense(2).apply(BinaryParams(W, None), (), jnp.ones((1, 3), jnp.int32))
    with pytest.raises(ValueError, match=r"^binary_dense: expected either xnor_scale=True or a"):
        binary_dense(2, weight_quantizer=ste_sign_op(), xnor_scale=True)
    with pytest.raises(TypeError, match=r"^binary_dense: expected input_quantizer to be an op"):
        binary_dense(2, input_quantizer="sign")


def test_the_latent_weight_mask_marks_binary_weights_only():
    params = (BinaryParams(W, jnp.zeros(2)), DenseParams(W, jnp.zeros(2)))
    mask = latent_weight_mask(params)
    assert jax.tree.leaves(mask) == [True, False, False, False]


def test_a_model_through_a_surrogate_is_checked_against_autodiff_and_says_why_not_fd():
    model = serial(dense(3), binary_dense(2, input_quantizer=ste_sign_op()))
    _, params, state = model.init(jax.random.key(0), (4, 3))
    x = jax.random.normal(jax.random.key(1), (4, 3))
    report = verify_model(model, params, state, (x, jnp.ones((4, 2))), mean_squared_error())
    report.raise_if_failed()
    case = report.cases[0]
    assert {e.check for e in case.errors} == {"forward", "autodiff"}
    assert case.notes == ("finite differences do not apply: the loss's gradient runs through "
                          "ste_sign",)  # fmt: skip
    assert case.gradient.startswith("surrogate: ")
    unmasked = ste_sign_op().with_bwd(lambda res, dy: (dy,))  # the STE without its mask
    planted = serial(dense(3), binary_dense(2, input_quantizer=unmasked))
    failed = verify_model(planted, params, state, (x, jnp.ones((4, 2))), mean_squared_error())
    assert [e.path for e in failed.cases[0].errors if not e.passed] == ["[0].w", "[0].b"]


def test_balanced_weights_are_standardised_per_output_before_the_sign():
    w = jnp.array([[0.3, 0.1], [0.5, 0.2], [0.35, 0.6]])  # every sign +1 before balancing
    y, _ = binary_dense(2, balance_weights=True).apply(BinaryParams(w, None), (), jnp.eye(3))
    np.testing.assert_array_equal(y, [[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])  # w − mean


def test_manual_jvp_path_matches_autodiff():
    # ste_sign on the input, magnitude_aware_sign on the kernel: the intended JVPs
    layer = binary_dense(2, input_quantizer=ste_sign_op(), xnor_scale=True, dtype=jnp.float64)
    assert_manual_jvp_path_matches_autodiff(layer, (1, 3))
