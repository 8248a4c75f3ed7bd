"""Dynamic loss scaling: the scale rule, skipped overflows, float16 recovery, fit, checkpoints."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.data import xor
from funcnet.layers.activations import tanh
from funcnet.losses import mean_squared_error, softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp
from funcnet.train import (
    DynamicLossScaleState,
    Policy,
    checkpoint,
    dynamic_loss_scale,
    fit,
    make_train_step,
    mixed_precision,
)
from tests.train.bits import assert_same_bits
from tests.train.test_precision import X, _grads, _rel_errors, _setup, tiny_gradient_case

MSE = mean_squared_error()


def _float16_step(opt):
    model, params, state, t = tiny_gradient_case()
    mixed = mixed_precision(model, Policy(jnp.float16))
    step = make_train_step(mixed, MSE, opt, donate=False)
    return step, params, state, (X, t), _grads(model, params, state, t)


def test_overflow_halves_the_scale_and_leaves_params_and_inner_state_untouched():
    opt = dynamic_loss_scale(optax.adam(1e-3), initial_scale=2.0**40)  # overflows float16
    step, params, state, batch, _ = _float16_step(opt)
    opt_state = opt.init(params)
    new_params, _, new_opt_state, metrics = step(params, state, opt_state, batch, None)
    assert float(metrics["loss_scale"]) == 2.0**40  # the scale this step used
    assert float(new_opt_state.scale) == 2.0**39
    assert int(new_opt_state.good_steps) == 0
    assert not bool(new_opt_state.inner.last_finite)
    assert int(new_opt_state.inner.notfinite_count) == 1
    assert not np.isfinite(float(metrics["grad_norm"]))
    assert_same_bits(new_params, params)
    assert_same_bits(new_opt_state.inner.inner_state, opt_state.inner.inner_state)


def test_scale_doubles_after_period_finite_steps_and_the_step_compiles_once():
    model, params, state, t = _setup()
    opt = dynamic_loss_scale(optax.sgd(0.1), initial_scale=2.0**10, period=3)
    step = make_train_step(model, MSE, opt)
    opt_state = opt.init(params)
    used, good = [], []
    for _ in range(7):
        params, state, opt_state, metrics = step(params, state, opt_state, (X, t), None)
        used.append(float(metrics["loss_scale"]))
        good.append(int(opt_state.good_steps))
    assert used == [2.0**10] * 3 + [2.0**11] * 3 + [2.0**12]
    assert good == [1, 2, 0, 1, 2, 0, 1]
    assert float(opt_state.scale) == 2.0**12
    assert step._cache_size() == 1  # the state's dtypes and weak types never change


def test_the_rule_on_the_wrapper_alone():
    opt = dynamic_loss_scale(optax.sgd(1.0), initial_scale=4.0, period=2, min_scale=2.0)
    params = {"w": jnp.ones(2)}
    good, bad = {"w": jnp.array([4.0, -8.0])}, {"w": jnp.array([1.0, jnp.nan])}
    state = opt.init(params)
    updates, state = opt.update(good, state, params)
    np.testing.assert_array_equal(updates["w"], [-1.0, 2.0])  # divided by the scale, 4
    assert (float(state.scale), int(state.good_steps)) == (4.0, 1)
    updates, state = opt.update(bad, state, params)  # an overflow resets the good steps
    np.testing.assert_array_equal(updates["w"], [0.0, 0.0])
    assert (float(state.scale), int(state.good_steps)) == (2.0, 0)
    _, state = opt.update(bad, state, params)
    assert float(state.scale) == 2.0  # not below min_scale
    top = dynamic_loss_scale(optax.sgd(1.0), initial_scale=2.0**127, period=1)
    _, state = top.update(good, top.init(params), params)
    assert (float(state.scale), int(state.good_steps)) == (2.0**127, 0)  # never grows to inf


def test_float16_dynamic_scaling_from_an_overflowing_scale_recovers_the_gradient():
    # Scales above 2**31 overflow this model's float16 cotangents; 2**16 to 2**31 give the first
    # layer its gradient (without scaling it underflows to zero: test_precision.py).
    opt = dynamic_loss_scale(optax.sgd(1.0), initial_scale=2.0**40)
    step, params, state, batch, exact = _float16_step(opt)
    opt_state = opt.init(params)
    scales = []
    while True:
        new, _, opt_state, metrics = step(params, state, opt_state, batch, None)
        scales.append(float(metrics["loss_scale"]))
        if bool(opt_state.inner.last_finite):
            break
        assert_same_bits(new, params)
        assert len(scales) < 40
    assert scales == [2.0**40 / 2**i for i in range(len(scales))]
    assert 2.0**16 <= scales[-1] <= 2.0**31
    update = jax.tree.map(lambda a, b: a - b, params, new)  # SGD(1): −grad
    assert _rel_errors(update, exact)[0] < 2e-2  # the first layer's weights
    assert max(_rel_errors(update, exact)) < 2e-2


def test_float32_training_is_unchanged_by_a_power_of_two_scale():
    # Scaling by powers of two is exact, so the only difference from plain SGD is the one that
    # optax.apply_if_finite's lax.cond makes by itself (XLA fuses the update differently).
    model, params, state, t = _setup()
    runs = {}
    for name, opt in [
        ("plain", optax.sgd(0.1)),
        ("skipping", optax.apply_if_finite(optax.sgd(0.1), 10)),
        ("scaled", dynamic_loss_scale(optax.sgd(0.1), initial_scale=2.0**15, period=2)),
    ]:
        step = make_train_step(model, MSE, opt, donate=False)
        p, s, o = params, state, opt.init(params)
        norms = []
        for _ in range(5):
            p, s, o, metrics = step(p, s, o, (X, t), None)
            norms.append(float(metrics["grad_norm"]))
        runs[name] = (p, norms)
    assert float(o.scale) == 2.0**17  # it grew twice, so three scales were used
    assert_same_bits(runs["scaled"][0], runs["skipping"][0])
    for a, b in zip(jax.tree.leaves(runs["scaled"][0]), jax.tree.leaves(runs["plain"][0]),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert runs["scaled"][1] == runs["skipping"][1]  # grad_norm is of the unscaled gradients
    np.testing.assert_allclose(runs["scaled"][1], runs["plain"][1], rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial_scale": 0.0}, "initial_scale to be a positive finite number, got 0.0"),
        ({"initial_scale": float("inf")}, "initial_scale to be a positive finite number"),
        ({"initial_scale": float("nan")}, "initial_scale to be a positive finite number"),
        ({"initial_scale": True}, "initial_scale to be a positive finite number, got True"),
        ({"period": 0}, r"period to be an integer >= 1, got 0\."),
        ({"period": 2.0}, r"period to be an integer >= 1, got 2\.0\."),
        ({"factor": 1.0}, r"factor to be a finite number > 1, got 1\.0\."),
        ({"factor": 0.5}, "factor to be a finite number > 1, got 0.5"),
        ({"min_scale": 0.0}, r"min_scale to be a number in \(0, initial_scale=32768.0\], got 0"),
        ({"min_scale": 2.0**16}, r"min_scale to be a number in \(0, initial_scale=32768.0\]"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match="dynamic_loss_scale: expected " + message):
        dynamic_loss_scale(optax.sgd(1.0), **kwargs)


def test_a_static_scale_with_a_dynamic_one_or_a_nested_wrapper_is_an_error():
    model, params, state, t = _setup()
    opt = dynamic_loss_scale(optax.sgd(0.1))
    step = make_train_step(model, MSE, opt, loss_scale=8.0)
    with pytest.raises(ValueError, match=r"make_train_step: expected loss_scale=None with a dyn"):
        step(params, state, opt.init(params), (X, t), None)
    nested = optax.chain(optax.clip(1.0), opt)
    step = make_train_step(model, MSE, nested)
    with pytest.raises(ValueError, match="make_train_step: expected dynamic_loss_scale"):
        step(params, state, nested.init(params), (X, t), None)


def test_fit_runs_with_the_wrapper_and_its_state_round_trips_through_a_checkpoint(tmp_path):
    data = xor()
    model = mlp((8,), 2, activation=tanh)
    _, params, state = model.init(jax.random.key(0), (4, 2))
    loss = softmax_cross_entropy_with_integer_labels()

    def go(opt):
        return fit(model, loss, opt, params, state, data, key=jax.random.key(1), epochs=20,
                   batch_size=4, progress=False)  # fmt: skip

    opt = dynamic_loss_scale(optax.adam(0.05), period=5)
    result = go(opt)
    assert isinstance(result.opt_state, DynamicLossScaleState)
    assert float(result.opt_state.scale) == 2.0**15 * 2**4  # 20 finite steps, period 5
    assert result.history[0]["train_loss_scale"] == 2.0**15
    assert result.history[-1]["train_loss"] < 0.5 * result.history[0]["train_loss"]
    unscaled = go(optax.apply_if_finite(optax.adam(0.05), 10))
    assert_same_bits(result.params, unscaled.params)
    path = checkpoint.save(tmp_path / "ckpt.npz", {"opt_state": result.opt_state})
    restored, _ = checkpoint.restore(path, {"opt_state": opt.init(params)})
    assert isinstance(restored["opt_state"], DynamicLossScaleState)
    assert_same_bits(restored["opt_state"], result.opt_state)
