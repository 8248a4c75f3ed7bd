"""Optimizers that take the loss's value and the loss itself: L-BFGS through the step and fit."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from funcnet.data.dataset import make_dataset
from funcnet.layers.dense import dense
from funcnet.losses import mean_squared_error
from funcnet.train import fit, make_train_step
from funcnet.train.extra_args import extra_arg_names


def _regression():
    """A noiseless linear least-squares problem: L-BFGS solves it in a few iterations."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3
    model = dense(1)
    _, params, state = model.init(jax.random.key(0), (32, 3))
    return model, params, state, (x, y)


def test_lbfgs_converges_through_the_compiled_step():
    model, params, state, batch = _regression()
    runs = {}
    for full_batch in (False, True):
        opt = optax.lbfgs()
        step = make_train_step(model, mean_squared_error(), opt, full_batch=full_batch)
        p, s = jax.tree.map(jnp.copy, (params, state))
        o = opt.init(p)  # its state holds one zeros array twice: the step copies it once
        for _ in range(12):
            p, s, o, metrics = step(p, s, o, batch, None)
        assert float(metrics["loss"]) < 1e-8
        np.testing.assert_allclose(p.w[:, 0], [1.0, -2.0, 0.5], atol=1e-4)
        assert step._cache_size() == 1  # compiled once: the line search runs inside the step
        runs[full_batch] = p
    # reusing the line search's value and gradient changes no number
    np.testing.assert_allclose(runs[True].w, runs[False].w, rtol=1e-6)


def test_lbfgs_trains_through_fit():
    model, params, state, (x, y) = _regression()
    result = fit(model, mean_squared_error(), optax.lbfgs(), params, state, make_dataset(x, y),
                 key=jax.random.key(1), epochs=12, batch_size=32, progress=False)  # fmt: skip
    assert result.history[-1]["train_loss"] < 1e-6 * result.history[0]["train_loss"]


def test_only_the_extra_arguments_an_update_accepts_are_passed():
    def update(updates, state, params=None, *, value):
        return jax.tree.map(lambda g: -0.1 * value * g, updates), state

    opt = optax.GradientTransformationExtraArgs(lambda p: (), update)
    assert extra_arg_names(opt) == ("value",)
    assert extra_arg_names(optax.lbfgs()) == ("value", "grad", "value_fn")
    plain = optax.GradientTransformation(optax.sgd(0.1).init, optax.sgd(0.1).update)
    assert extra_arg_names(plain) == ()
    model, params, state, batch = _regression()
    step = make_train_step(model, mean_squared_error(), opt)
    _, _, _, metrics = step(params, state, (), batch, None)
    assert np.isfinite(float(metrics["loss"]))
