"""The gap matrices of the eigenvector backward: the resolvability threshold and the Taylor
series."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.layers.matrix._helpers import inverse_gaps
from funcnet.layers.matrix._helpers import taylor_inverse_gaps as eager_taylor_inverse_gaps

taylor_inverse_gaps = functools.partial(jax.jit, static_argnums=1)(eager_taylor_inverse_gaps)


def test_gaps_below_the_solver_resolution_count_as_zero(x64):
    eps = np.finfo(np.float64).eps
    lam = jnp.array([[1.0, 1.0 + eps, 2.0], [-3.0, 1.0, 1.0 + 1e-9]])  # threshold 3·eps·max|λ|
    f = np.asarray(inverse_gaps(lam))
    assert f[0, 0, 1] == f[0, 1, 0] == 0.0
    np.testing.assert_allclose(f[0, 0, 2], 1.0)
    np.testing.assert_allclose(f[1, 1, 2], 1e9, rtol=1e-6)  # resolvable: 1e-9 > 9·eps
    np.testing.assert_allclose(f, -np.swapaxes(f, -1, -2))


def test_taylor_series_is_antisymmetric_finite_at_repeats_and_converges(x64):
    lam = jnp.array([[0.5, 1.0, 1.0, 4.0]])
    exact = np.asarray(inverse_gaps(lam))
    for terms in (1, 60):
        f = np.asarray(taylor_inverse_gaps(lam, terms))
        np.testing.assert_array_equal(f, -np.swapaxes(f, -1, -2))
        assert f[0, 1, 2] == terms / 1.0  # the repeated pair: K/λ instead of infinity
    mask = exact != 0
    np.testing.assert_allclose(f[mask], exact[mask], rtol=1e-15)  # 60 terms: (1/2)^60 left
    f1 = np.asarray(taylor_inverse_gaps(lam, 1))
    np.testing.assert_allclose(f1[0, 0, 3], 1 / 4.0)  # one term: 1/λ_big
    np.testing.assert_array_equal(taylor_inverse_gaps(jnp.zeros(2), 3), np.zeros((2, 2)))
