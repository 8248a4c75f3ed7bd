"""Nonlinear conjugate gradient: linear CG's n-step guarantee, Rosenbrock, monotone training,
reported line-search failures and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.data import xor
from funcnet.layers.dense import dense
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.optim import conjugate_gradient
from funcnet.train import fit
from tests.optim.conftest import QUADRATIC_N
from tests.optim.problems import rosenbrock, run


@pytest.mark.parametrize("beta", ["fletcher_reeves", "polak_ribiere", "hestenes_stiefel"])
def test_an_exact_line_search_solves_a_quadratic_in_n_iterations(quadratic_runs, beta):
    (runs, w_star), n = quadratic_runs, QUADRATIC_N
    w, _, state = runs[beta]
    errors = np.linalg.norm(w - w_star, axis=1) / np.linalg.norm(w_star)
    assert w.dtype == np.float64
    assert errors[n - 1] < 1e-10, errors
    assert errors[n - 2] > 1e-6, errors  # not sooner: the n-th iteration is needed
    assert not state.restarted[1:n].any()  # conjugate directions throughout
    assert not state.linesearch_failed[:n].any()


def test_a_backtracking_line_search_lowers_the_loss_every_iteration(quadratic_runs):
    (runs, _), n = quadratic_runs, QUADRATIC_N
    _, losses, state = runs["backtracking"]
    assert (np.diff(losses[:n]) < 0).all() and not state.linesearch_failed[:n].any()


def test_rosenbrock_converges_in_float64(x64):
    runs = run({"pr": conjugate_gradient()}, rosenbrock, jnp.array([-1.2, 1.0]), 100)
    w, losses, _ = runs["pr"]
    np.testing.assert_allclose(w[-1], [1.0, 1.0], rtol=0, atol=1e-8)
    assert (np.diff(losses) <= 0).all() and w.dtype == jnp.float64


@pytest.mark.parametrize("method", ["cg-fr", "cg-pb"])
def test_training_an_mlp_lowers_the_loss_every_iteration(xor_runs, method):
    runs, start = xor_runs
    _, losses, state = runs[method]
    assert not state.linesearch_failed.any() and (state.evaluations >= 1).all()
    assert (np.diff([start, *losses]) < 0).all(), losses
    assert losses[-1] < 0.25 * start


def test_a_failed_line_search_is_reported_in_the_state_and_fit_history():
    # steps capped far below float32 resolution: the loss cannot go down
    stuck = optax.scale_by_backtracking_linesearch(2, max_learning_rate=1e-30, store_grad=True)
    data, model = xor(), dense(2)  # the smallest model: what is tested is the report
    _, params, state = model.init(jax.random.key(0), data.x.shape)
    result = fit(model, softmax_cross_entropy_with_integer_labels(),
                 conjugate_gradient(linesearch=stuck), params, state, data, key=jax.random.key(0),
                 epochs=2, full_batch=True, progress=False)  # fmt: skip
    assert [h["train_linesearch_failed"] for h in result.history] == [1.0, 1.0]
    assert [h["train_restarted"] for h in result.history] == [1.0, 1.0]  # fresh after a failure
    assert result.history[0]["train_loss"] == result.history[1]["train_loss"]
    assert bool(result.opt_state.linesearch_failed)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beta": "conjugate"}, "conjugate_gradient: expected beta to be one of"),
        ({"restart": "sometimes"}, "conjugate_gradient: expected restart to be one of"),
        ({"restart": 0}, "got 0."),
        ({"linesearch": "exact"}, "conjugate_gradient: expected linesearch to be one of"),
    ],
)
def test_bad_options_name_the_optimizer(kwargs, message):
    with pytest.raises(ValueError, match=message):
        conjugate_gradient(**kwargs)


def test_a_missing_value_fn_or_a_nonfinite_start_names_the_optimizer():
    opt, w = conjugate_gradient(), jnp.ones(2)
    with pytest.raises(TypeError, match=r"conjugate_gradient: expected value_fn .* got None"):
        opt.update(w, opt.init(w), w, value=jnp.float32(1.0), grad=w)
    with pytest.raises(ValueError, match=r"conjugate_gradient: expected a finite loss .* got nan"):
        opt.update(w, opt.init(w), w, value=jnp.float32(jnp.nan), grad=w, value_fn=jnp.sum)
