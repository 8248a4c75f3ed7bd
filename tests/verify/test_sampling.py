"""Drawing arguments: the ``"symmetric"`` kind's controlled spectra."""

import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core.registry import Arg
from funcnet.verify.sampling import draw_arg


def test_symmetric_draws_have_spread_eigenvalues_in_the_range(x64):
    arg = Arg((3, 4, 4), "symmetric", 0.5, 2.5)
    a = np.asarray(draw_arg(arg, np.random.default_rng(0), jnp.float64))
    np.testing.assert_array_equal(a, np.swapaxes(a, -1, -2))
    lam = np.linalg.eigvalsh(a)
    assert lam.min() >= 0.5 and lam.max() <= 2.5
    assert np.diff(lam, axis=-1).min() >= (2.5 - 0.5) / (2 * 4) - 1e-12
    other = draw_arg(arg, np.random.default_rng(1), jnp.float64)
    assert not np.allclose(a, other)


def test_symmetric_needs_a_square_shape():
    with pytest.raises(ValueError, match=r"verify: a symmetric argument needs a square shape"):
        draw_arg(Arg((2, 3), "symmetric"), np.random.default_rng(0), jnp.float32)
