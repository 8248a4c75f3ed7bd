"""Test configuration: implicit rank promotion is an error everywhere in the suite.

Float64 is not switched on globally: the verifier enables it in a scope of its own
(``jax.enable_x64``), and the rest of the suite runs in JAX's default precision, as users do.
"""

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Run a test with float64 enabled."""
    with jax.enable_x64(True):
        yield
