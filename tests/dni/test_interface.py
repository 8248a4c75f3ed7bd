"""The decoupling interface op: BP(λ) values of its backward, exactness at λ = 1, bad input.
(The registry contract, tests/core/test_registry.py, verifies its sample cases.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.dni import decoupling_interface_op
from tests.core.manual_jvp_path import assert_manual_jvp_matches_autodiff

H = jnp.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
G_HAT = jnp.array([[0.5, 0.25, -1.0], [2.0, -0.5, 0.125]])
DY = jnp.array([[3.0, 1.0, -2.0], [-1.0, 0.5, 4.0]])
DZ = jnp.array([2.0, -3.0])


@pytest.mark.parametrize("bp_lambda", [0.0, 0.25, 1.0])
def test_backward_mixes_true_and_synthetic_gradients(bp_lambda):
    op = decoupling_interface_op(bp_lambda)
    (y, z), pullback = jax.vjp(op, H, G_HAT)
    dh, dg = pullback((DY, DZ))
    np.testing.assert_array_equal(y, H)
    np.testing.assert_array_equal(z, jnp.zeros(2))
    synthetic = DZ[:, None] * G_HAT
    np.testing.assert_allclose(dh, bp_lambda * DY + (1 - bp_lambda) * synthetic, rtol=1e-6)
    # the predictor's regression gradient onto the incoming gradient, none under backprop
    np.testing.assert_allclose(dg, 0.0 * DY if bp_lambda == 1 else synthetic - DY, rtol=1e-6)


def test_backprop_is_exact_and_synthetic_declares_its_reference():
    assert decoupling_interface_op(1.0).gradient == "exact"
    mixed = decoupling_interface_op(0.5)
    assert mixed.gradient.startswith("surrogate: synthetic gradient")
    assert isinstance(mixed.finite_differences, str)
    (_, _), pull_manual = jax.vjp(mixed, H, G_HAT)
    (_, _), pull_autodiff = jax.vjp(lambda h, g: mixed(h, g, backward="autodiff"), H, G_HAT)
    for a, b in zip(pull_manual((DY, DZ)), pull_autodiff((DY, DZ)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_bad_input_names_the_interface():
    with pytest.raises(ValueError, match=r"decoupling_interface: expected bp_lambda in \[0, 1\]"):
        decoupling_interface_op(1.5)
    with pytest.raises(ValueError, match="decoupling_interface"):
        decoupling_interface_op(-0.1)
    with pytest.raises(TypeError, match="decoupling_interface: expected bp_lambda"):
        decoupling_interface_op(True)
    with pytest.raises(ValueError, match=r"activation's shape \(2, 3\).*got shape \(2, 4\)"):
        decoupling_interface_op(0.0)(H, jnp.zeros((2, 4)))


def test_nan_in_gives_nan_out():
    y, _ = decoupling_interface_op(0.0)(H.at[0, 0].set(jnp.nan), G_HAT)
    assert bool(jnp.isnan(y[0, 0])) and not bool(jnp.isnan(y[1]).any())


@pytest.mark.parametrize("bp_lambda", [0.25, 1.0])
def test_manual_jvp_path_matches_autodiff(x64, bp_lambda):
    # λ < 1: the intended JVP (the transpose of BP(λ)) against autodiff of the reference
    h, g_hat = (jnp.asarray(a, jnp.float64) for a in (H, G_HAT))
    assert_manual_jvp_matches_autodiff(decoupling_interface_op(bp_lambda), h, g_hat)
