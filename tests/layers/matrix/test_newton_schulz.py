"""Newton–Schulz square root: convergence to SciPy's sqrtm, the trace normalisation, bad input."""

import re

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from funcnet.layers.matrix import newton_schulz_sqrt_op


def spd(seed, eigenvalues):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    a = q @ np.diag(eigenvalues) @ q.T
    return (a + a.T) / 2


def test_converges_to_the_square_root_as_iterations_grow(x64):
    a = spd(0, [0.5, 1.0, 2.0, 4.0])
    exact = np.real(scipy.linalg.sqrtm(a))
    errors = [
        float(np.max(np.abs(newton_schulz_sqrt_op(k)(jnp.asarray(a)) - exact)))
        for k in (1, 3, 5, 10)
    ]
    assert errors == sorted(errors, reverse=True)
    assert errors[0] > 1e-2 and errors[-1] < 1e-12


def test_scale_invariant_batched_and_zero_matrix_maps_to_zero(x64):
    a = np.stack([spd(1, [0.3, 1.0, 2.0]), 100 * spd(1, [0.3, 1.0, 2.0])])
    y = np.asarray(newton_schulz_sqrt_op(8)(jnp.asarray(a)))
    np.testing.assert_allclose(y[1], 10 * y[0], rtol=1e-12)  # √(100 A) = 10 √A, exactly so
    np.testing.assert_array_equal(newton_schulz_sqrt_op()(jnp.zeros((2, 2))), np.zeros((2, 2)))


def test_bad_input_names_the_op():
    positive = "newton_schulz_sqrt: expected num_iterations to be a positive integer, got"
    with pytest.raises(ValueError, match=f"{positive} 0"):
        newton_schulz_sqrt_op(0)
    with pytest.raises(TypeError, match=re.escape(f"{positive} 2.5")):  # not an int
        newton_schulz_sqrt_op(2.5)
    with pytest.raises(ValueError, match=r"newton_schulz_sqrt: expected square .*\(2, 3\)"):
        newton_schulz_sqrt_op()(jnp.ones((2, 3)))
