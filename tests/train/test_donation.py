"""Donated buffers: a user's arrays are deleted only where the docs say so, and a consumed
array passed again gives a funcnet error naming it."""

import jax
import jax.numpy as jnp
import optax
import pytest

from funcnet.layers.dense import dense
from funcnet.losses import mean_squared_error
from funcnet.train import data_mesh, make_train_step, per_example_grads, replicate
from funcnet.train.donation import DonatedArrayError


def _setup():
    model, opt = dense(2), optax.sgd(0.1)
    _, params, state = model.init(jax.random.key(0), (4, 3))
    return model, opt, params, state, (jnp.ones((4, 3)), jnp.zeros((4, 2)))


def test_replicate_copies_so_a_step_never_deletes_the_callers_arrays():
    model, opt, params, state, batch = _setup()
    mesh = data_mesh()
    step = make_train_step(model, mean_squared_error(), opt, mesh=mesh)
    placed = replicate(params, mesh)
    step(placed, state, replicate(opt.init(placed), mesh), batch, None)
    assert placed.w.is_deleted()  # donated, as documented
    assert not params.w.is_deleted()  # the caller's own arrays survive
    assert float(jnp.sum(params.w * 0 + 1)) == 6.0


def test_a_consumed_array_passed_again_names_the_step_and_the_leaf():
    model, opt, params, state, batch = _setup()
    step = make_train_step(model, mean_squared_error(), opt)
    opt_state = opt.init(params)
    step(params, state, opt_state, batch, None)
    with pytest.raises(DonatedArrayError, match=r"make_train_step: .* deleted arrays at params\.w"
                       r".*donates params, state, opt_state.*previous call returned"):  # fmt: skip
        step(params, state, opt_state, batch, None)


def test_per_example_grads_consumes_only_out():
    model, _, params, state, batch = _setup()
    grads = per_example_grads(model, mean_squared_error())
    first = grads(params, state, batch, None)
    second = grads(params, state, batch, None, first)
    assert first.w.is_deleted() and not params.w.is_deleted() and not second.w.is_deleted()
    with pytest.raises(DonatedArrayError, match=r"per_example_grads: .* deleted arrays at out\.w"):
        grads(params, state, batch, None, first)
