"""bidirectional(layer): forward and time-reversed passes, concatenated on the features
(gradients, jit and vmap of the registered configuration: tests/core/layer_contract.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers import RecurrentInput, bidirectional, gru, lstm

B, T, F, H = 2, 5, 3, 4
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)


def setup(inner):
    layer = bidirectional(inner)
    shape, params, state = layer.init(jax.random.key(0), (B, T, F))
    x = jax.random.normal(jax.random.key(1), (B, T, F))
    return layer, shape, params, state, x


def test_equals_the_forward_layer_and_a_reverse_layer_side_by_side():
    layer, shape, params, state, x = setup(gru(H))
    y, _ = layer.apply(params, state, RecurrentInput(x, MASK))
    assert shape == y.shape == (B, T, 2 * H)
    y_f, _ = gru(H).apply(params[0], state[0], RecurrentInput(x, MASK))
    y_b, _ = gru(H, reverse=True).apply(params[1], state[1], RecurrentInput(x, MASK))
    np.testing.assert_allclose(y[..., :H], y_f, rtol=1e-6)
    np.testing.assert_allclose(y[..., H:], y_b, rtol=1e-5, atol=1e-6)


def test_final_states_and_return_state():
    layer, shape, params, state, x = setup(lstm(H, return_sequences=False, return_state=True))
    (y, (final_f, final_b)), _ = layer.apply(params, state, RecurrentInput(x, MASK))
    assert y.shape == shape[0] == (B, 2 * H)
    hs_b, _ = lstm(H, reverse=True).apply(params[1], state[1], RecurrentInput(x, MASK))
    np.testing.assert_allclose(final_b.h, hs_b[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y[:, :H], final_f.h, rtol=1e-6)


def test_errors():
    with pytest.raises(TypeError, match="bidirectional: expected a Layer, got function"):
        bidirectional(gru)
    layer, _, params, state, x = setup(gru(H))
    with pytest.raises(TypeError, match=r"bidirectional\(gru\): expected an initial state pair"):
        layer.apply(params, state, RecurrentInput(x, state=jnp.zeros((B, H))))
    with pytest.raises(ValueError, match=r"gru: expected a mask of shape \(2, 5\)"):
        layer.apply(params, state, RecurrentInput(x, MASK[:, :3]))
