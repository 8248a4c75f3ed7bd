"""Mixed precision: float32 parameters, bfloat16/float16 compute, loss scaling for float16."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.layers.dense import dense
from funcnet.losses import mean_squared_error, softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp
from funcnet.recipes import load
from funcnet.train.fit import fit
from funcnet.train.precision import Policy, mixed_precision
from funcnet.train.step import make_train_step

X = jax.random.normal(jax.random.key(1), (64, 8))


def _grads(model, params, state, t, *, loss_scale=None, backward="manual"):
    """The gradient a train step applies: SGD with learning rate 1 moves params by −grad."""
    step = make_train_step(
        model, mean_squared_error(), optax.sgd(1.0), backward=backward, donate=False,
        loss_scale=loss_scale,
    )  # fmt: skip
    new, _, _, _ = step(params, state, optax.sgd(1.0).init(params), (X, t), None)
    return jax.tree.map(lambda a, b: a - b, params, new)


def _rel_errors(g, ref):
    return [
        float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(ref), strict=True)
    ]


def _setup(output_scale=1.0):
    model = mlp((32,), 4)
    _, params, state = model.init(jax.random.key(0), X.shape)
    params = (params[0], params[1], params[2]._replace(w=params[2].w * output_scale))
    t = jax.random.normal(jax.random.key(2), (64, 4)) * output_scale
    return model, params, state, t


def tiny_gradient_case():
    """Outputs and residuals of order 1e-4: the output cotangent 2(y − t)/256 is ~1e-6 and the
    hidden one, through weights of order 1e-4, ~1e-10 — below float16's smallest subnormal.
    Shared with tests/train/test_loss_scale.py."""
    return _setup(output_scale=1e-4)


def test_outputs_params_and_gradients_keep_the_parameter_dtype():
    model, params, state, t = _setup()
    mixed = mixed_precision(model, Policy(jnp.bfloat16))
    y, _ = mixed.apply(params, state, X)
    assert y.dtype == jnp.float32
    grads = _grads(mixed, params, state, t)
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))


@pytest.mark.parametrize(("dtype", "bound"), [(jnp.bfloat16, 3e-2), (jnp.float16, 3e-3)])
@pytest.mark.parametrize("backward", ["manual", "autodiff"])
def test_low_precision_gradients_are_close_to_float32(dtype, bound, backward):
    model, params, state, t = _setup()
    exact = _grads(model, params, state, t)
    low = _grads(mixed_precision(model, Policy(dtype)), params, state, t, backward=backward)
    errors = _rel_errors(low, exact)
    assert max(errors) < bound
    assert max(errors) > 1e-5  # it really computed in low precision


def test_float16_underflows_without_loss_scaling_and_not_with_it():
    model, params, state, t = tiny_gradient_case()
    exact = _grads(model, params, state, t)
    mixed = mixed_precision(model, Policy(jnp.float16))
    unscaled = _grads(mixed, params, state, t)
    assert np.all(np.asarray(unscaled[0].w) == 0)  # the first layer's gradient vanished
    scaled = _grads(mixed, params, state, t, loss_scale=2.0**16)
    assert max(_rel_errors(scaled, exact)) < 2e-2


def test_bfloat16_training_on_digits():
    train, test = load("digits")
    model = mixed_precision(mlp((64,), 10), Policy(jnp.bfloat16))
    _, params, state = model.init(jax.random.key(0), (32, train.x.shape[1]))
    result = fit(
        model, softmax_cross_entropy_with_integer_labels(), optax.adam(3e-3), params, state,
        train, key=jax.random.key(1), epochs=8, batch_size=32, eval_data=test, progress=False,
    )  # fmt: skip
    assert result.history[-1]["eval_accuracy"] >= 0.93
    assert jax.tree.leaves(result.params)[0].dtype == jnp.float32


def test_bad_policies_and_loss_scales_are_clear_errors():
    with pytest.raises(ValueError, match=r"mixed_precision\(dense\): expected a floating "):
        mixed_precision(dense(2), Policy(jnp.int8))
    low = mixed_precision(dense(2, dtype=jnp.bfloat16), Policy(jnp.bfloat16))
    with pytest.raises(ValueError, match=r"expected parameters of dtype float32, got bfloat16"):
        low.init(jax.random.key(0), (3, 4))
    for bad in (0.0, -1.0, float("inf"), True, "8"):
        with pytest.raises(ValueError, match="expected loss_scale to be None or a positive"):
            make_train_step(dense(1), mean_squared_error(), optax.sgd(1.0), loss_scale=bad)
