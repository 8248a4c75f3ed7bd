"""Test configuration: implicit rank promotion is an error everywhere in the suite.

Float64 is not switched on globally: the verifier enables it in a scope of its own
(``jax.enable_x64``), and the rest of the suite runs in JAX's default precision, as users do.

The suite's shapes are tiny, so its time is XLA's compile time: the CPU backend's LLVM
optimisation is turned down (``--xla_backend_optimization_level=0``; HLO-level passes still
run), which cut the compile-heavy tests' CPU time by a third. It changes how fast the compiled
code runs, not what it computes; benchmarks (``funcnet bench``) run at the default level.
"""

import os

os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0"

import jax  # after XLA_FLAGS: the backend reads them when it starts
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Run a test with float64 enabled."""
    with jax.enable_x64(True):
        yield
