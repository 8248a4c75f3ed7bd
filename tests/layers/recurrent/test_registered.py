"""The registered recurrent layer configurations: init's shape is apply's, the manual gradient
of the layer verifies (autodiff and finite differences, float64), jit equals eager, and vmap
over an added leading axis equals the batched call."""

from functools import reduce

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core.layer import Layer
from funcnet.core.layer_registry import LayerCase, layer_cases, layer_names
from funcnet.layers import serial
from funcnet.layers.recurrent import concat_op
from funcnet.losses import mean_squared_error
from funcnet.verify import verify_model
from funcnet.verify.sampling import draw_arg, generators

RECURRENT = ("rnn", "lstm", "gru", "rnn_cell", "lstm_cell", "gru_cell", "bidirectional")
CASES = [pytest.param(case, id=f"{name}-{case.label}") for name in RECURRENT
         for case in layer_cases(name)]  # fmt: skip


def is_shape(s) -> bool:
    return isinstance(s, tuple) and all(isinstance(d, int) for d in s)


def joined() -> Layer:
    """A parameter-free layer joining the output's arrays on the last axis (``concat`` ops), so
    a state such as ``LSTMState(h, c)`` meets one loss."""

    def apply(params, state, y, *, key=None, train=False, backward="manual"):
        join = lambda a, b: concat_op(a.shape[-1])(a, b, backward=backward)  # noqa: E731
        return reduce(join, jax.tree.leaves(y)), state

    return Layer("joined", lambda key, shape: (shape, (), ()), apply)


def built(case: LayerCase, a):
    return a if case.make_input is None else case.make_input(a)


def test_every_recurrent_layer_is_registered():
    assert set(RECURRENT) <= set(layer_names())


@pytest.mark.parametrize("case", CASES)
def test_registered_configuration(case):
    rng = generators(0, 1)[0]
    a = draw_arg(case.input, rng, jnp.float32)
    inputs = built(case, a)
    layer = case.layer
    out_shape, params, state = layer.init(jax.random.key(0), jnp.shape(jax.tree.leaves(inputs)[0]))
    y, _ = layer.apply(params, state, inputs)
    shapes = jax.tree.leaves(out_shape, is_leaf=is_shape)
    assert shapes == [jnp.shape(leaf) for leaf in jax.tree.leaves(y)]

    y_jit = jax.jit(lambda p, x: layer.apply(p, state, x)[0])(params, inputs)
    jax.tree.map(lambda e, j: np.testing.assert_allclose(j, e, rtol=1e-5, atol=1e-6), y, y_jit)

    a3 = draw_arg(case.input._replace(shape=(3, *case.input.shape)), rng, jnp.float32)
    y_batched, _ = layer.apply(params, state, built(case, a3))
    y_vmap = jax.vmap(lambda e: layer.apply(params, state, built(case, e))[0])(a3)
    jax.tree.map(lambda e, v: np.testing.assert_allclose(v, e, rtol=1e-5, atol=1e-6),
                 y_batched, y_vmap)  # fmt: skip

    model, model_params, model_state = layer, params, state
    if not isinstance(y, jax.Array):  # a state of several parts: joined for the loss
        model, model_params, model_state = serial(layer, joined()), (params, ()), (state, ())
    t = jnp.asarray(
        rng.standard_normal(jnp.shape(model.apply(model_params, model_state, inputs)[0]))
    )
    report = verify_model(model, model_params, model_state, (inputs, t), mean_squared_error())
    report.raise_if_failed()
