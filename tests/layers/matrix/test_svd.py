"""svd: values against SciPy, the wide-matrix branch of the backward, repeated and zero
singular values, and the Taylor-regularised backward against its gradient reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from funcnet.layers.matrix import svd_op, svd_taylor_reference


def vjp(fn, a, cotangents):
    return jax.jit(lambda a, c: jax.vjp(fn, a)[1](c)[0])(a, cotangents)


def values_and_vjp(fn, a, cotangents):
    def both(a, c):
        y, pullback = jax.vjp(fn, a)
        return y, pullback(c)[0]

    return jax.jit(both)(a, cotangents)


def cotangents_like(outputs, seed):
    rng = np.random.default_rng(seed)
    return tuple(jnp.asarray(rng.standard_normal(y.shape)) for y in outputs)


def test_values_match_scipy_and_reconstruct_the_input(x64):
    a = np.random.default_rng(0).standard_normal((2, 3, 5))
    u, s, vh = jax.jit(svd_op())(jnp.asarray(a))
    assert (u.shape, s.shape, vh.shape) == ((2, 3, 3), (2, 3), (2, 3, 5))
    for i in range(2):
        np.testing.assert_allclose(s[i], scipy.linalg.svd(a[i], compute_uv=False), atol=1e-14)
    np.testing.assert_allclose((u * s[..., None, :]) @ vh, a, atol=1e-14)
    columns = np.asarray(u).transpose(0, 2, 1).reshape(-1, 3)
    assert np.all(columns[np.arange(6), np.abs(columns).argmax(axis=1)] > 0)


def test_wide_matrix_gradient_matches_autodiff_and_finite_differences(x64):
    # The registry checks a tall matrix; this is the (I − VVᵀ) branch.
    a = jnp.asarray(np.random.default_rng(1).standard_normal((3, 5)))
    op = svd_op()
    cot = cotangents_like(op(a), seed=2)
    manual, autodiff = vjp(op.manual, a, cot), vjp(op.forward, a, cot)
    np.testing.assert_allclose(manual, autodiff, rtol=1e-12, atol=1e-12)
    u = jnp.asarray(np.random.default_rng(3).standard_normal(a.shape))
    value = jax.jit(lambda a: sum(jnp.vdot(c, y) for c, y in zip(cot, op(a), strict=True)))
    h = 1e-6
    numeric = (value(a + h * u) - value(a - h * u)) / (2 * h)
    np.testing.assert_allclose(jnp.vdot(manual, u), numeric, rtol=1e-7)


def test_repeated_and_zero_singular_values_give_finite_gradients(x64):
    # Singular values (2, 2, 0) of a tall matrix: a repeated pair and a zero one.
    q1, _ = np.linalg.qr(np.random.default_rng(4).standard_normal((4, 3)))
    q2, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((3, 3)))
    a = jnp.asarray(q1 @ np.diag([2.0, 2.0, 0.0]) @ q2.T)
    for op in (svd_op(), svd_op(num_taylor_terms=5)):
        cot = cotangents_like(op(a), seed=6)
        assert bool(jnp.all(jnp.isfinite(vjp(op.manual, a, cot))))
    # The singular values alone: ds ↦ U diag(ds) Vᵀ, exact even here.
    ds = jnp.array([1.0, -0.5, 0.25])
    u, _, vh = svd_op()(a)
    np.testing.assert_allclose(
        vjp(lambda a: svd_op()(a)[1], a, ds), (u * ds[None, :]) @ vh, atol=1e-14
    )


def test_taylor_backward_equals_the_autodiff_of_its_gradient_reference(x64):
    a = jnp.asarray(np.random.default_rng(7).standard_normal((2, 4, 3)))
    op, reference = svd_op(num_taylor_terms=9), svd_taylor_reference(9)
    shapes = ((2, 4, 3), (2, 3), (2, 3, 3))
    cot = cotangents_like([np.zeros(s) for s in shapes], seed=8)
    y, manual = values_and_vjp(op.manual, a, cot)
    y_ref, surrogate = values_and_vjp(reference, a, cot)
    for got, want in zip(y_ref, y, strict=True):
        np.testing.assert_array_equal(got, want)  # the reference has the forward's values
    np.testing.assert_allclose(manual, surrogate, atol=1e-12)


def test_bad_input_names_the_op():
    with pytest.raises(ValueError, match=r"svd: expected matrices \[\.\.\., m, n\], got .*\(4,\)"):
        svd_op()(jnp.ones(4))
    with pytest.raises(ValueError, match="svd: expected a floating-point matrix, got dtype int32"):
        svd_op()(jnp.ones((2, 2), jnp.int32))
    with pytest.raises(TypeError, match="svd: expected num_taylor_terms to be None or an int"):
        svd_op(num_taylor_terms="9")
