"""The optimizer runs several tests read, each compiled once per session."""

import jax
import jax.numpy as jnp
import optax
import pytest

from funcnet.optim import conjugate_gradient, scaled_conjugate_gradient
from tests.optim.problems import quadratic, run, xor_loss

QUADRATIC_N = 6
# an exact line search: the zoom's cubic interpolation is exact on a quadratic
EXACT = dict(max_linesearch_steps=40, curv_rtol=1e-12, initial_guess_strategy="one")


def _exact(beta):
    search = optax.scale_by_zoom_linesearch(**EXACT)
    return conjugate_gradient(beta, restart=None, linesearch=search)


@pytest.fixture(scope="session")
def quadratic_runs():
    """FR, PR and HS with an exact line search, PR with backtracking and SCG on a quadratic in
    QUADRATIC_N dimensions, float64: ``(runs, minimiser)``."""
    with jax.enable_x64(True):
        f, w_star = quadratic(QUADRATIC_N)
        optimizers = {beta: _exact(beta) for beta in
                      ("fletcher_reeves", "polak_ribiere", "hestenes_stiefel")}  # fmt: skip
        optimizers["backtracking"] = conjugate_gradient(linesearch="backtracking")
        optimizers["scg"] = scaled_conjugate_gradient()
        runs = run(optimizers, f, jnp.zeros(QUADRATIC_N), 2 * QUADRATIC_N)
        return jax.device_get(runs), jax.device_get(w_star)


@pytest.fixture(scope="session")
def xor_runs():
    """Three of MATLAB's four trainers on the 22-parameter XOR MLP, float32, twelve iterations
    (by the twentieth float32 can no longer resolve a decrease of the loss): ``(runs, initial
    loss)``. ``cg-pr`` is left out to save a compile: it is ``cg-pb``'s β with a restart every
    22 iterations, none of which falls in this run. SCG's λ₁ is tiny so that its first steps
    are too long and get rejected."""
    f, params = xor_loss()
    optimizers = {
        "cg-fr": conjugate_gradient("fletcher_reeves", restart="dimension"),
        "cg-pb": conjugate_gradient("polak_ribiere", restart="powell_beale"),
        "scg": scaled_conjugate_gradient(initial_scale=1e-12),
    }
    return jax.device_get(run(optimizers, f, params, 12)), float(f(params))
