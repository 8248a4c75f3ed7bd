"""Non-finite steps: the step flags or skips them, fit raises, skips or warns."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.data.dataset import make_dataset
from funcnet.layers.dense import dense
from funcnet.losses import mean_squared_error, softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp
from funcnet.train import dynamic_loss_scale, fit, make_train_step
from funcnet.train.nonfinite import NonFiniteError, NonFiniteWarning

LOSS = softmax_cross_entropy_with_integer_labels()


def _data(poison: bool):
    """8 examples, one of them NaN when ``poison``; batches of 4 make 2 steps per epoch."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    if poison:
        x[5, 1] = np.nan
    return make_dataset(x, rng.integers(0, 2, 8).astype(np.int32))


def _fit(data, epochs=2, **kwargs):
    model = mlp((4,), 2)
    _, params, state = model.init(jax.random.key(0), (4, 3))
    return fit(model, LOSS, optax.sgd(0.1), params, state, data, key=jax.random.key(1),
               epochs=epochs, batch_size=4, progress=False, **kwargs)  # fmt: skip


def test_fit_stops_at_the_first_nonfinite_step_naming_epoch_and_step():
    with pytest.raises(NonFiniteError, match=r"fit: .* at epoch 1, step [12] of 2 \(loss nan"):
        _fit(_data(poison=True))


def test_fit_skips_nonfinite_steps_when_asked():
    result = _fit(_data(poison=True), on_nonfinite="skip")
    assert [row["nonfinite_steps"] for row in result.history] == [1, 1]  # one poisoned batch
    assert all(np.isfinite(row["train_loss"]) for row in result.history)  # the other batch
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(result.params))
    clean = _fit(_data(poison=False))
    assert [row["nonfinite_steps"] for row in clean.history] == [0, 0]


def test_fit_warns_and_goes_on_when_asked():
    with pytest.warns(NonFiniteWarning, match=r"epoch 1, step [12] of 2"):
        result = _fit(_data(poison=True), epochs=1, on_nonfinite="warn")
    assert not np.isfinite(result.history[0]["train_loss"])
    assert not np.isfinite(result.params[0].w).all()


def test_fit_rejects_an_unknown_on_nonfinite():
    message = r"fit: expected on_nonfinite to be one of \('raise', 'skip', 'warn'\), got 'ignore'"
    with pytest.raises(ValueError, match=message):
        _fit(_data(poison=False), on_nonfinite="ignore")


def test_step_skip_keeps_params_state_and_opt_state():
    model, opt = dense(1), optax.adam(0.1)
    _, params, state = model.init(jax.random.key(0), (2, 2))
    batch = (jnp.array([[1.0, jnp.nan], [0.0, 1.0]]), jnp.zeros((2, 1)))
    step = make_train_step(model, mean_squared_error(), opt, nonfinite="skip", donate=False)
    opt_state = opt.init(params)
    new_params, _, new_opt_state, metrics = step(params, state, opt_state, batch, None)
    assert float(metrics["nonfinite"]) == 1.0
    for new, old in zip(jax.tree.leaves((new_params, new_opt_state)),
                        jax.tree.leaves((params, opt_state)), strict=True):  # fmt: skip
        np.testing.assert_array_equal(new, old)
    flag = make_train_step(model, mean_squared_error(), opt, nonfinite="flag", donate=False)
    flagged, _, _, metrics = flag(params, state, opt_state, batch, None)
    assert float(metrics["nonfinite"]) == 1.0 and not np.isfinite(flagged.w).all()
    clean = (jnp.ones((2, 2)), jnp.zeros((2, 1)))
    assert float(flag(params, state, opt_state, clean, None)[3]["nonfinite"]) == 0.0
    with pytest.raises(ValueError, match="make_train_step: expected nonfinite to be one of"):
        make_train_step(model, mean_squared_error(), opt, nonfinite="raise")


def test_a_self_guarding_optimizer_is_judged_by_its_loss():
    # A loss scale of 1e38 makes every scaled gradient overflow until the scale has shrunk:
    # dynamic_loss_scale skips those steps itself, so fit must not stop on them.
    opt = dynamic_loss_scale(optax.sgd(0.1), initial_scale=1e38, min_scale=1.0)
    model = mlp((4,), 2)
    _, params, state = model.init(jax.random.key(0), (4, 3))
    data = _data(poison=False)
    data = make_dataset(data.x * 1e3, data.y)  # large inputs: large weight gradients
    result = fit(model, LOSS, opt, params, state, data, key=jax.random.key(1), epochs=3,
                 batch_size=4, progress=False)  # fmt: skip
    assert int(result.opt_state.inner.total_notfinite) > 0  # overflowing steps happened
    assert all(row["nonfinite_steps"] == 0 for row in result.history)
