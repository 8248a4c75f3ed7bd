"""Cell layers: one step of the sequence layer in value and gradient; errors (the step's
formulas are checked against numpy through the sequence in test_scan.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers import LSTMState, RecurrentInput, gru_cell, lstm, lstm_cell, rnn_cell

B, F, H = 3, 2, 4


def test_cell_is_one_step_of_the_sequence_layer_in_value_and_gradient():
    cell, layer = lstm_cell(H), lstm(H, return_sequences=False, return_state=True)
    _, p, s = cell.init(jax.random.key(0), (B, F))
    kx, kh, kc = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(kx, (B, F))
    start = LSTMState(jax.random.normal(kh, (B, H)), jax.random.normal(kc, (B, H)))

    def via_cell(p, x, start):
        return cell.apply(p, s, (x, start))[0]

    def via_layer(p, x, start):
        return layer.apply(p, s, RecurrentInput(x[:, None], state=start))[0][1]

    for a, e in zip(via_cell(p, x, start), via_layer(p, x, start), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-6)

    def scalar(via):
        return lambda *a: sum(jnp.sum(jnp.sin(part)) for part in via(*a))

    g_cell = jax.grad(scalar(via_cell), argnums=(0, 1, 2))(p, x, start)
    g_layer = jax.grad(scalar(via_layer), argnums=(0, 1, 2))(p, x, start)
    for a, e in zip(jax.tree.leaves(g_cell), jax.tree.leaves(g_layer), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)


def test_cell_errors():
    cell = gru_cell(H)
    _, p, s = cell.init(jax.random.key(0), (B, F))
    x, h = jnp.ones((B, F)), jnp.ones((B, H))
    with pytest.raises(TypeError, match=r"gru_cell: expected an input \(x, state\), got an array"):
        cell.apply(p, s, x)
    with pytest.raises(ValueError, match=r"gru_cell: expected input axis -1 of size 2, got shape"):
        cell.apply(p, s, (jnp.ones((B, 5)), h))
    with pytest.raises(ValueError, match=r"gru_cell: expected a state of shape \(3, 4\), got"):
        cell.apply(p, s, (x, h[:, :2]))
    _, p, s = lstm_cell(H).init(jax.random.key(0), (B, F))
    with pytest.raises(TypeError, match=r"lstm_cell: expected a state given as LSTMState\(h, c\)"):
        lstm_cell(H).apply(p, s, (x, h))
    with pytest.raises(ValueError, match="rnn_cell: expected activation in"):
        rnn_cell(H, activation="gelu")
    with pytest.raises(ValueError, match="lstm_cell: expected features to be a positive integer"):
        lstm_cell(-1)
    with pytest.raises(TypeError, match=r"gru_cell\(\) got an unexpected keyword .*forget_bias"):
        gru_cell(H, forget_bias=1.0)
