"""Matrix log, square root and power: values against SciPy, gradients at exactly repeated
eigenvalues against central differences of SciPy's functions, the clamp, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from funcnet.layers.matrix import matrix_log_op, matrix_power_op, matrix_sqrt_op

OPS = {
    "log": (matrix_log_op, scipy.linalg.logm, np.log),
    "sqrt": (matrix_sqrt_op, scipy.linalg.sqrtm, np.sqrt),
    "power-0.5": (lambda **kw: matrix_power_op(-0.5, **kw),
                  lambda a: scipy.linalg.fractional_matrix_power(a, -0.5), lambda x: x**-0.5),
}  # fmt: skip


def numpy_function(f):
    """``a -> V f(Λ) Vᵀ`` by NumPy's eigh (LAPACK, independent of JAX; SciPy's logm costs 80 ms
    a call, too slow for entry-by-entry differences)."""

    def apply(a):
        lam, v = np.linalg.eigh(a)
        return (v * f(lam)) @ v.T

    return apply


def rotated(eigenvalues, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    a = q @ np.diag(eigenvalues) @ q.T
    return (a + a.T) / 2


def rank_deficient_covariance(eps=0.1):
    x = np.random.default_rng(1).standard_normal((2, 4))  # 2 positions, 4 channels: rank 1
    x = x - x.mean(axis=0)
    return x.T @ x / 2 + eps * np.eye(4)


REPEATED = {
    "identity": np.eye(3),
    "diag(1,1,2)": np.diag([1.0, 1.0, 2.0]),
    "rotated diag(1,1,2)": rotated([1.0, 1.0, 2.0]),
    "rank-1 covariance + 0.1 I": rank_deficient_covariance(),
}


def central_difference_gradient(f, a, g, h=1e-6):
    """``∂⟨g, f(sym a)⟩/∂a`` entry by entry, in float64."""
    value = lambda a: np.sum(g * np.real(f((a + a.T) / 2)))  # noqa: E731
    grad = np.zeros_like(a)
    for index in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[index] = h
        grad[index] = (value(a + e) - value(a - e)) / (2 * h)
    return grad


def gradient(op, a, g, backward):
    return jax.jit(jax.grad(lambda a: jnp.sum(g * op(a, backward=backward))))(a)


@pytest.mark.parametrize("name", OPS)
def test_values_match_scipy_with_batch_axes(name, x64):
    make, reference, _ = OPS[name]
    a = np.stack([rotated([0.5, 1.0, 3.0], seed=s) for s in range(3)]).reshape(3, 1, 3, 3)
    got = make()(jnp.asarray(a))
    assert got.shape == (3, 1, 3, 3)
    for i in range(3):
        np.testing.assert_allclose(got[i, 0], np.real(reference(a[i, 0])), atol=1e-13)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("case", REPEATED)
def test_gradient_at_repeated_eigenvalues_is_finite_and_exact(name, case, x64):
    make, _, f = OPS[name]
    a = REPEATED[case]
    g = np.random.default_rng(2).standard_normal(a.shape)
    manual = np.asarray(gradient(make(), jnp.asarray(a), jnp.asarray(g), "manual"))
    expected = central_difference_gradient(numpy_function(f), a, g)
    assert np.all(np.isfinite(manual))
    assert np.max(np.abs(manual - expected)) / np.max(np.abs(expected)) <= 1e-6


def test_autodiff_through_eigh_is_not_finite_at_exact_repeats(x64):
    # The reason for the Daleckii–Krein backward: JAX's eigh rule divides by λ_i − λ_j = 0.
    a = jnp.asarray(np.stack([REPEATED["identity"], REPEATED["diag(1,1,2)"]]))
    g = jnp.asarray(np.random.default_rng(2).standard_normal((2, 3, 3)))
    for make, _, _ in OPS.values():
        autodiff = gradient(make(), a, g, "autodiff")
        assert not bool(jnp.any(jnp.isfinite(autodiff[0])))
        assert not bool(jnp.any(jnp.isfinite(autodiff[1])))


def test_float32_gradient_at_repeated_eigenvalues_is_finite_and_accurate():
    a, g = REPEATED["rank-1 covariance + 0.1 I"], np.random.default_rng(3).standard_normal((4, 4))
    for make, _, f in OPS.values():
        got = gradient(make(), jnp.asarray(a, jnp.float32), jnp.asarray(g, jnp.float32), "manual")
        expected = central_difference_gradient(numpy_function(f), a, g)
        assert got.dtype == jnp.float32
        assert np.max(np.abs(got - expected)) / np.max(np.abs(expected)) <= 1e-5


def test_eigenvalues_below_eps_are_clamped_not_nan(x64):
    a = rotated([-1.0, 0.0, 2.0])  # not positive definite
    g = jnp.asarray(np.random.default_rng(4).standard_normal((3, 3)))
    lam, v = np.linalg.eigh(a)
    for make, _, f in OPS.values():
        op = make(eps=0.25)

        def everything(a, op=op):
            grads = [jax.grad(lambda a, b=b: jnp.sum(g * op(a, backward=b)))(a)
                     for b in ("manual", "autodiff")]  # fmt: skip
            return op(a), *grads

        y, manual, autodiff = jax.jit(everything)(jnp.asarray(a))
        np.testing.assert_allclose(y, (v * f(np.maximum(lam, 0.25))) @ v.T, atol=1e-13)
        np.testing.assert_allclose(manual, autodiff, atol=1e-13)
        # Flat below eps: no gradient reaches the two clamped eigenvalues.
        np.testing.assert_allclose((v.T @ np.asarray(manual) @ v)[:2, :2], 0, atol=1e-13)


def test_nan_in_gives_nan_out():
    a = jnp.array([[1.0, jnp.nan], [jnp.nan, 2.0]])
    for make, _, _ in OPS.values():
        assert bool(jnp.all(jnp.isnan(make()(a))))


def test_bad_input_names_the_op():
    with pytest.raises(
        ValueError,
        match=r"matrix_log: expected square matrices \[\.\.\., n, n\], got shape \(3, 2\)",
    ):
        matrix_log_op()(jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="matrix_sqrt: expected a floating-point matrix"):
        matrix_sqrt_op()(jnp.eye(2, dtype=jnp.int32))
    with pytest.raises(TypeError, match="matrix_power: expected p to be a float, got '2'"):
        matrix_power_op("2")
    with pytest.raises(TypeError, match="matrix_power: expected p to be a float"):
        matrix_power_op(jnp.array(0.5))
    with pytest.raises(ValueError, match="matrix_power: expected a finite p, got nan"):
        matrix_power_op(float("nan"))
    with pytest.raises(
        ValueError, match="matrix_log: expected eps to be positive and finite, got 0"
    ):
        matrix_log_op(eps=0)
    with pytest.raises(TypeError, match="matrix_sqrt: expected eps to be a float, got None"):
        matrix_sqrt_op(eps=None)
    with pytest.raises(TypeError, match="unexpected keyword argument 'p'"):
        matrix_log_op(p=2.0)
