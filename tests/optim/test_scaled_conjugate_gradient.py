"""Møller's scaled conjugate gradient: convergence without a line search, rejected steps
reported, the loss never raised, bad input."""

import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.optim import scaled_conjugate_gradient
from funcnet.train import make_train_step
from tests.optim.problems import quadratic, run, xor_mlp


def test_a_quadratic_is_solved_and_evaluations_are_counted(x64):
    f, w_star = quadratic(5)
    trail = run(scaled_conjugate_gradient(), f, jnp.zeros(5), 12, value_and_grad_fn=None)
    w, state = trail[-1]
    np.testing.assert_allclose(w, w_star, rtol=0, atol=1e-6)
    kept = [bool(s.kept) for _, s in trail]
    evaluations = [int(s.evaluations) for _, s in trail]
    # two evaluations after a kept step (shifted gradient, trial point), one after a rejected one
    assert evaluations == [2] + [2 if k else 1 for k in kept[:-1]]


def test_training_never_raises_the_loss_and_reports_rejected_steps():
    model, loss, params, state, batch = xor_mlp()
    opt = scaled_conjugate_gradient(initial_scale=1e-12)  # a small λ: a first step too long
    step = make_train_step(model, loss, opt, full_batch=True)
    opt_state, losses, rejected = opt.init(params), [], []
    for _ in range(25):
        params, state, opt_state, metrics = step(params, state, opt_state, batch, None)
        losses.append(float(metrics["loss"]))
        rejected.append(bool(metrics["rejected"]))
    for before, after, was_rejected in zip(losses, losses[1:], rejected, strict=False):
        assert after == before if was_rejected else after < before
    assert any(rejected)  # the scale λ had to grow: the case the rule is for
    assert losses[-1] < 0.5 * losses[0]
    assert step._cache_size() == 1


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
