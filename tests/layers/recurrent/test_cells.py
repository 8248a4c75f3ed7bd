"""Recurrent cells: one step against numpy and against the sequence layers; errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers import LSTMState, gru, gru_cell, lstm, lstm_cell, rnn, rnn_cell

B, F, H = 3, 2, 4


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def inputs(seed=0):
    kx, kh, kc = jax.random.split(jax.random.key(seed), 3)
    return (jax.random.normal(kx, (B, F)), jax.random.normal(kh, (B, H)),
            jax.random.normal(kc, (B, H)))  # fmt: skip


def test_lstm_cell_matches_numpy():
    cell = lstm_cell(H)
    shape, p, s = cell.init(jax.random.key(0), (B, F))
    assert shape == LSTMState((B, H), (B, H))
    x, h, c = inputs()
    out, _ = cell.apply(p, s, (x, LSTMState(h, c)))
    z = np.asarray(x) @ np.asarray(p.w) + np.asarray(h) @ np.asarray(p.u) + np.asarray(p.b)
    i, f, g, o = np.split(z, 4, axis=-1)
    c_new = sigmoid(f) * np.asarray(c) + sigmoid(i) * np.tanh(g)
    np.testing.assert_allclose(out.c, c_new, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.h, sigmoid(o) * np.tanh(c_new), rtol=1e-5, atol=1e-6)


def test_gru_cell_matches_numpy_with_reset_inside_the_hidden_product():
    cell = gru_cell(H, b_init=jax.nn.initializers.normal(1.0))
    _, p, s = cell.init(jax.random.key(0), (B, F))
    x, h, _ = inputs()
    out, _ = cell.apply(p, s, (x, h))
    zx = np.split(np.asarray(x) @ np.asarray(p.w) + np.asarray(p.b), 3, axis=-1)
    zh = np.split(np.asarray(h) @ np.asarray(p.u), 3, axis=-1)
    r, u = sigmoid(zx[0] + zh[0]), sigmoid(zx[1] + zh[1])
    n = np.tanh(zx[2] + r * (zh[2] + np.asarray(p.b_hn)))
    np.testing.assert_allclose(out, (1 - u) * n + u * np.asarray(h), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_rnn_cell_matches_numpy(activation):
    cell = rnn_cell(H, activation=activation)
    _, p, s = cell.init(jax.random.key(0), (B, F))
    x, h, _ = inputs()
    out, _ = cell.apply(p, s, (x, h))
    z = np.asarray(x) @ np.asarray(p.w) + np.asarray(h) @ np.asarray(p.u) + np.asarray(p.b)
    expected = np.tanh(z) if activation == "tanh" else np.maximum(z, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("cell", "seq"), [(rnn_cell, rnn), (lstm_cell, lstm), (gru_cell, gru)])
def test_cell_is_one_step_of_the_sequence_layer_in_value_and_gradient(cell, seq):
    c, layer = cell(H), seq(H, return_sequences=False)
    _, p, s = c.init(jax.random.key(0), (B, F))
    x, _, _ = inputs()
    state = LSTMState(jnp.zeros((B, H)), jnp.zeros((B, H))) if seq is lstm else jnp.zeros((B, H))

    def via_cell(p, x):
        out, _ = c.apply(p, s, (x, state))
        return out.h if seq is lstm else out

    def via_layer(p, x):
        return layer.apply(p, s, x[:, None])[0]

    np.testing.assert_allclose(via_cell(p, x), via_layer(p, x), rtol=1e-6)
    g_cell = jax.grad(lambda p, x: jnp.sum(jnp.sin(via_cell(p, x))), argnums=(0, 1))(p, x)
    g_layer = jax.grad(lambda p, x: jnp.sum(jnp.sin(via_layer(p, x))), argnums=(0, 1))(p, x)
    for a, e in zip(jax.tree.leaves(g_cell), jax.tree.leaves(g_layer), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)


def test_cell_errors():
    cell = gru_cell(H)
    _, p, s = cell.init(jax.random.key(0), (B, F))
    x, h, _ = inputs()
    with pytest.raises(ValueError, match="gru_cell: expected an input"):
        cell.apply(p, s, x)
    with pytest.raises(ValueError, match=r"gru_cell: expected input axis -1 of size 2, got shape"):
        cell.apply(p, s, (jnp.ones((B, 5)), h))
    with pytest.raises(ValueError, match=r"gru_cell: expected a state of shape \(3, 4\), got"):
        cell.apply(p, s, (x, h[:, :2]))
    with pytest.raises(ValueError, match="rnn_cell: expected activation in"):
        rnn_cell(H, activation="gelu")
    with pytest.raises(ValueError, match="lstm_cell: expected features to be a positive integer"):
        lstm_cell(-1)
