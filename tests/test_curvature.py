"""Curvature helpers: Hessian–vector products forward-over-reverse (exact on a quadratic, equal
to autodiff's through a model with hand-written JVPs), Hutchinson's trace, power iteration."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core import ForwardModeError
from funcnet.curvature import hessian_vector_product, hutchinson_trace, top_hessian_eigenvalue
from funcnet.layers import dense, gelu, serial

RNG = np.random.default_rng(0)
B = RNG.standard_normal((6, 6))
A = B @ B.T + np.diag([20.0, 1, 1, 1, 1, 1])  # symmetric, one eigenvalue well above the rest


def quadratic(p):
    return 0.5 * p["w"] @ A @ p["w"] + jnp.sum(p["b"] ** 2)  # H = blockdiag(A, 2 I)


def test_hvp_of_a_quadratic_is_the_matrix_product():
    with jax.enable_x64(True):
        v = {"w": jnp.asarray(RNG.standard_normal(6)), "b": jnp.ones(2)}
        hv = hessian_vector_product(quadratic, {"w": jnp.zeros(6), "b": jnp.zeros(2)}, v)
        np.testing.assert_allclose(hv["w"], A @ v["w"], rtol=1e-13)
        np.testing.assert_allclose(hv["b"], 2 * v["b"], rtol=1e-13)


def test_hvp_through_a_model_equals_autodiff_on_both_manual_paths():
    model = serial(dense(5, dtype=jnp.float64), gelu(), dense(1, dtype=jnp.float64))
    with jax.enable_x64(True):
        x = jnp.asarray(RNG.standard_normal((3, 4)))
        _, params, state = model.init(jax.random.key(0), x.shape)
        v = jax.tree.map(lambda p: jnp.asarray(RNG.standard_normal(p.shape)), params)

        def loss(backward):
            return lambda p: jnp.sum(model.apply(p, state, x, backward=backward)[0] ** 2)

        reference = hessian_vector_product(loss("autodiff"), params, v)
        # manual_jvp: JVP of the transposed hand-written JVPs; manual: JVP of the hand-written
        # backward (forward mode of the gradient, which a custom VJP admits)
        for backward in ("manual_jvp", "manual"):
            hv = hessian_vector_product(loss(backward), params, v)
            for a, b in zip(jax.tree.leaves(hv), jax.tree.leaves(reference), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
        with pytest.raises(ForwardModeError, match="manual_jvp"):  # forward mode of the value
            jax.jvp(loss("manual"), (params,), (v,))


def test_hutchinson_trace_is_unbiased_within_its_standard_error():
    with jax.enable_x64(True):
        p = {"w": jnp.zeros(6), "b": jnp.zeros(2)}
        estimate = hutchinson_trace(quadratic, p, jax.random.key(1), num_samples=64)
        exact = np.trace(A) + 4.0
        assert estimate.samples.shape == (64,) and estimate.standard_error > 0
        assert abs(estimate.trace - exact) < 4 * estimate.standard_error
        diagonal = hutchinson_trace(lambda q: jnp.sum(q**2), jnp.ones(5), jax.random.key(2), 3)
        assert float(diagonal.trace) == 10.0 and float(diagonal.standard_error) == 0.0


def test_power_iteration_finds_the_top_eigenpair():
    with jax.enable_x64(True):
        p = {"w": jnp.zeros(6), "b": jnp.zeros(2)}
        pair = top_hessian_eigenvalue(quadratic, p, jax.random.key(3), num_iterations=200)
        top = np.linalg.eigvalsh(A)[-1]
        np.testing.assert_allclose(pair.eigenvalue, top, rtol=1e-10)
        assert pair.residual < 1e-6 * top


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_sample_counts_must_be_positive_ints(bad):
    with pytest.raises(ValueError, match=f"hutchinson_trace: expected num_samples .*got {bad!r}"):
        hutchinson_trace(quadratic, {"w": jnp.zeros(6), "b": jnp.zeros(2)}, jax.random.key(0), bad)


def test_a_vector_not_shaped_like_params_is_rejected():
    with pytest.raises(ValueError, match="hessian_vector_product: expected a vector shaped like"):
        hessian_vector_product(quadratic, {"w": jnp.zeros(6), "b": jnp.zeros(2)}, jnp.zeros(8))
