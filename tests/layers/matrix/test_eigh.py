"""eigh: values against SciPy, the sign convention, what the backward returns at repeated
eigenvalues, and the Taylor-regularised backward against its gradient reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from funcnet.layers.matrix import eigh_op, eigh_taylor_reference, matrix_log_op


def rotated(eigenvalues, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    a = q @ np.diag(eigenvalues) @ q.T
    return (a + a.T) / 2


def vjp(fn, a, cotangents):
    return jax.jit(lambda a, c: jax.vjp(fn, a)[1](c)[0])(a, cotangents)


def values_and_vjp(fn, a, cotangents):
    def both(a, c):
        y, pullback = jax.vjp(fn, a)
        return y, pullback(c)[0]

    return jax.jit(both)(a, cotangents)


def test_values_match_scipy_and_signs_are_canonical(x64):
    a = np.stack([rotated([-1.0, 0.5, 2.0], s) for s in range(2)])
    w, v = eigh_op()(jnp.asarray(a))
    for i in range(2):
        w_ref, v_ref = scipy.linalg.eigh(a[i])
        np.testing.assert_allclose(w[i], w_ref, atol=1e-14)
        np.testing.assert_allclose(np.abs(v[i]), np.abs(v_ref), atol=1e-14)
    columns = np.asarray(v).transpose(0, 2, 1).reshape(-1, 3)
    largest = columns[np.arange(len(columns)), np.abs(columns).argmax(axis=1)]
    assert np.all(largest > 0)
    # The op reads (a + aᵀ)/2: an antisymmetric part changes nothing.
    skew = np.triu(np.ones((3, 3)), 1)
    w2, v2 = eigh_op()(jnp.asarray(a + skew - skew.T))
    np.testing.assert_allclose(w2, w, atol=1e-14)
    np.testing.assert_allclose(v2, v, atol=1e-14)


def test_at_repeated_eigenvalues_the_gradient_is_finite_and_drops_in_eigenspace_rotations(x64):
    # L = ⟨G, V log(Λ) Vᵀ⟩ through eigh: the exact gradient (the matrix log's) has a term
    # f′(λ)·M_01 in the degenerate block that eigenvectors cannot carry. eigh returns the exact
    # gradient with exactly that block entry (in its own basis) removed.
    a = jnp.asarray(rotated([1.0, 1.0, 2.0]))
    g = jnp.asarray(np.random.default_rng(1).standard_normal((3, 3)))

    def loss(a, backward):
        w, v = eigh_op()(a, backward=backward)
        return jnp.sum(g * ((v * jnp.log(w)[None, :]) @ v.T))

    manual = jax.jit(jax.grad(lambda a: loss(a, "manual")))(a)
    exact = jax.jit(jax.grad(lambda a: jnp.sum(g * matrix_log_op()(a))))(a)
    assert bool(jnp.all(jnp.isfinite(manual)))
    _, v = eigh_op()(a)
    in_basis, exact_in_basis = v.T @ manual @ v, np.array(v.T @ exact @ v)
    exact_in_basis[0, 1] = exact_in_basis[1, 0] = 0.0
    np.testing.assert_allclose(in_basis, exact_in_basis, atol=1e-12)
    assert abs(float((v.T @ exact @ v)[0, 1])) > 0.1  # the dropped term is not zero here


def test_eigenvalue_only_gradient_is_exact_at_repeats(x64):
    # dλ = diag(Vᵀ dA V) needs no gap: the eigenvalue cotangent alone gives V diag(dw) Vᵀ.
    a = jnp.eye(3)
    dw = jnp.array([0.5, -1.0, 2.0])
    da = vjp(lambda a: eigh_op()(a)[0], a, dw)
    v = eigh_op()(a)[1]
    np.testing.assert_allclose(da, (v * dw[None, :]) @ v.T, atol=1e-15)


def test_taylor_backward_equals_the_autodiff_of_its_gradient_reference(x64):
    # A batch of two: well-separated eigenvalues, and a repeated pair.
    a = jnp.asarray(np.stack([rotated([0.5, 1.0, 3.0], 3), rotated([1.0, 1.0, 2.0], 3)]))
    rng = np.random.default_rng(4)
    cotangents = (jnp.asarray(rng.standard_normal((2, 3))),
                  jnp.asarray(rng.standard_normal((2, 3, 3))))  # fmt: skip
    op, reference = eigh_op(num_taylor_terms=9), eigh_taylor_reference(9)
    (w, v), manual = values_and_vjp(op.manual, a, cotangents)
    (w_ref, v_ref), surrogate = values_and_vjp(reference, a, cotangents)
    np.testing.assert_array_equal(w_ref, w)  # the reference has the forward's values
    np.testing.assert_array_equal(v_ref, v)
    assert bool(jnp.all(jnp.isfinite(manual)))
    np.testing.assert_allclose(manual, surrogate, rtol=1e-12, atol=1e-12)


def test_taylor_bias_is_the_truncated_tail_of_the_series(x64):
    # For positive λ_i < λ_j, F̃/F = 1 − (λ_i/λ_j)^K: an eigenvector cotangent on the pair
    # gives a gradient scaled by exactly that factor.
    a = jnp.diag(jnp.array([1.0, 2.0]))
    dv = jnp.array([[0.0, 1.0], [0.0, 0.0]])
    exact = vjp(lambda a: eigh_op()(a)[1], a, dv)
    assert abs(float(exact[0, 1])) > 0.1
    for k in (1, 9):
        taylor = vjp(lambda a, k=k: eigh_op(num_taylor_terms=k)(a)[1], a, dv)
        np.testing.assert_allclose(taylor, (1 - 0.5**k) * exact, rtol=1e-15, atol=1e-15)


def test_bad_input_names_the_op():
    with pytest.raises(
        ValueError, match=r"eigh: expected square matrices \[\.\.\., n, n\], got shape \(2, 3\)"
    ):
        eigh_op()(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"eigh: expected square matrices .*, got shape \(3,\)"):
        eigh_op()(jnp.ones(3))
    with pytest.raises(TypeError, match="eigh: expected num_taylor_terms to be None or an int"):
        eigh_op(num_taylor_terms=2.5)
    with pytest.raises(ValueError, match="eigh: expected num_taylor_terms to be positive, got 0"):
        eigh_op(num_taylor_terms=0)
    with pytest.raises(ValueError, match="eigh_taylor_reference: expected a number of terms"):
        eigh_taylor_reference(None)
