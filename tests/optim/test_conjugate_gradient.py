"""Nonlinear conjugate gradient: linear CG's n-step guarantee, Rosenbrock, monotone training,
reported line-search failures and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.data import make_dataset
from funcnet.optim import conjugate_gradient
from funcnet.train import fit, make_train_step
from tests.optim.problems import quadratic, rosenbrock, run, xor_mlp

EXACT = dict(max_linesearch_steps=40, curv_rtol=1e-12, initial_guess_strategy="one")


@pytest.mark.parametrize("beta", ["fletcher_reeves", "polak_ribiere", "hestenes_stiefel"])
def test_an_exact_line_search_solves_a_quadratic_in_n_iterations(x64, beta):
    n = 6
    f, w_star = quadratic(n)
    opt = conjugate_gradient(beta, restart=None, linesearch=optax.scale_by_zoom_linesearch(**EXACT))
    trail = run(opt, f, jnp.zeros(n), n, value_fn=None)
    errors = [float(jnp.linalg.norm(w - w_star) / jnp.linalg.norm(w_star)) for w, _ in trail]
    assert errors[-1] < 1e-10, errors
    assert errors[n - 2] > 1e-6, errors  # not sooner: the n-th step is needed
    assert not any(bool(s.restarted) for _, s in trail[1:])  # conjugate directions throughout


def test_rosenbrock_converges_in_float64(x64):
    trail = run(conjugate_gradient(), rosenbrock, jnp.array([-1.2, 1.0]), 120, value_fn=None)
    w, state = trail[-1]
    np.testing.assert_allclose(w, [1.0, 1.0], rtol=0, atol=1e-8)
    values = [float(rosenbrock(w)) for w, _ in trail]
    assert all(b <= a for a, b in zip(values, values[1:], strict=False))
    assert w.dtype == jnp.float64 and state.prev_loss.dtype == jnp.float64


@pytest.mark.parametrize("restart", ["dimension", "powell_beale"])
@pytest.mark.parametrize("beta", ["fletcher_reeves", "polak_ribiere"])
def test_training_lowers_the_loss_every_iteration(beta, restart):
    model, loss, params, state, batch = xor_mlp()
    opt = conjugate_gradient(beta, restart=restart)
    step = make_train_step(model, loss, opt, full_batch=True)
    opt_state, losses = opt.init(params), []
    for _ in range(12):
        params, state, opt_state, metrics = step(params, state, opt_state, batch, None)
        losses.append(float(metrics["loss"]))
        assert metrics["linesearch_failed"] == 0 and metrics["evaluations"] >= 1
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] < 0.5 * losses[0]
    assert step._cache_size() == 1  # the whole iteration, line search included, compiled once


def _stuck():
    """A zoom line search whose steps are capped far below float32 resolution: never a decrease."""
    return optax.scale_by_zoom_linesearch(5, max_learning_rate=1e-30, initial_guess_strategy="one")


def test_a_failed_line_search_is_reported_in_the_state_and_fit_history():
    f = lambda w: jnp.sum(w**2)  # noqa: E731
    (w, state), _ = run(conjugate_gradient(linesearch=_stuck()), f, jnp.ones(3), 2, value_fn=None)
    assert bool(state.linesearch_failed) and bool(jnp.all(w == 1.0))  # no step taken
    model, loss, params, model_state, (x, y) = xor_mlp()
    result = fit(model, loss, conjugate_gradient(linesearch=_stuck()), params, model_state,
                 make_dataset(np.asarray(x), np.asarray(y)), key=jax.random.key(0), epochs=2,
                 full_batch=True, progress=False)  # fmt: skip
    assert [h["train_linesearch_failed"] for h in result.history] == [1.0, 1.0]
    assert result.history[0]["train_loss"] == result.history[1]["train_loss"]


def test_a_backtracking_line_search_also_lowers_the_loss():
    f, _ = quadratic(4)
    trail = run(conjugate_gradient(linesearch="backtracking"), f, jnp.zeros(4), 6, value_fn=None)
    values = [float(f(w)) for w, _ in trail]
    assert all(b < a for a, b in zip([0.0, *values], values, strict=False)), values


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
    with pytest.raises(ValueError, match="conjugate_gradient: expected a finite loss .* got nan"):
        opt.update(w, opt.init(w), w, value=jnp.float32(jnp.nan), grad=w, value_fn=jnp.sum)
