"""Møller's scaled conjugate gradient: convergence without a line search, rejected steps
reported, the loss never raised, bad input."""

import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.optim import scaled_conjugate_gradient


def test_a_quadratic_is_solved_and_evaluations_are_counted(quadratic_runs):
    runs, w_star = quadratic_runs
    w, _, state = runs["scg"]
    np.testing.assert_allclose(w[-1], w_star, rtol=0, atol=1e-6)
    # two evaluations after a kept step (shifted gradient, trial point), one after a rejection
    np.testing.assert_array_equal(state.evaluations, [2, *np.where(state.kept[:-1], 2, 1)])


def test_training_never_raises_the_loss_and_reports_rejected_steps(xor_runs):
    runs, start = xor_runs
    _, losses, state = runs["scg"]
    before = np.array([start, *losses[:-1]])
    np.testing.assert_array_equal(losses[~state.kept], before[~state.kept])
    assert (losses[state.kept] < before[state.kept]).all()
    assert (~state.kept).any()  # the scale λ had to grow: the case the rule is for
    assert losses[-1] < 0.1 * start


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sigma": 0.0}, "scaled_conjugate_gradient: expected sigma to be a positive"),
        ({"initial_scale": float("nan")}, "expected initial_scale to be a positive finite"),
        ({"restart": "powell"}, "scaled_conjugate_gradient: expected restart to be one of"),
    ],
)
def test_bad_options_name_the_optimizer(kwargs, message):
    with pytest.raises(ValueError, match=message):
        scaled_conjugate_gradient(**kwargs)


def test_a_missing_loss_function_names_the_optimizer():
    opt, w = scaled_conjugate_gradient(), jnp.ones(2)
    with pytest.raises(TypeError, match="scaled_conjugate_gradient: expected value_and_grad_fn"):
        opt.update(w, opt.init(w), w, value=jnp.float32(1.0))
