"""The jitted training step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp
from funcnet.train import make_train_step

LOSS = softmax_cross_entropy_with_integer_labels()


def _setup(batch=8):
    model = mlp((16,), 3)
    _, params, state = model.init(jax.random.key(0), (batch, 5))
    x = jax.random.normal(jax.random.key(1), (batch, 5))
    t = jax.random.randint(jax.random.key(2), (batch,), 0, 3)
    return model, params, state, (x, t)


def test_manual_and_autodiff_steps_agree():
    model, params, state, batch = _setup()
    opt = optax.adam(1e-2)
    results = {}
    for backward in ("manual", "autodiff"):
        p, s = jax.tree.map(jnp.copy, (params, state))
        step = make_train_step(model, LOSS, opt, backward=backward)
        o = opt.init(p)
        for _ in range(5):
            p, s, o, m = step(p, s, o, batch, None)
        results[backward] = (p, m)
    leaves = [jax.tree.leaves(results[b]) for b in ("manual", "autodiff")]
    for a, b in zip(*leaves, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert set(results["manual"][1]) == {"loss", "accuracy", "grad_norm"}


def test_training_reduces_the_loss():
    model, params, state, batch = _setup()
    opt = optax.sgd(0.5)
    step = make_train_step(model, LOSS, opt)
    opt_state = opt.init(params)
    losses = []
    for _ in range(30):
        params, state, opt_state, m = step(params, state, opt_state, batch, None)
        losses.append(float(m["loss"]))
    assert losses[-1] < 0.2 * losses[0]


def test_step_donates_its_buffers():
    model, params, state, batch = _setup()
    opt = optax.sgd(0.1)
    step = make_train_step(model, LOSS, opt)
    w = params[0].w
    step(params, state, opt.init(params), batch, None)
    assert w.is_deleted()


def test_bad_backward_is_rejected_when_building():
    model, *_ = _setup()
    with pytest.raises(ValueError, match="make_train_step: expected backward"):
        make_train_step(model, LOSS, optax.sgd(0.1), backward="Manual")
