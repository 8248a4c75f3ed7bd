"""Truncated BPTT with a synthetic gradient at the boundary: ĝ = 0 is truncated BPTT, the true
future gradient gives full BPTT (the training step's update and regression: its doctest)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.dni import (
    chunk_gradients,
    gradient_predictor,
    predict_synthetic,
)
from funcnet.layers import LSTMState, RecurrentInput, dense, lstm

B, T, K, F, H = 2, 4, 2, 2, 3  # two chunks of two steps


def make_loss(truncate=None):
    core, readout = lstm(H, return_state=True, truncate=truncate), dense(1)

    def chunk_loss(params, state0, inputs):
        x, y = inputs
        (hs, final), _ = core.apply(params[0], (), RecurrentInput(x, state=state0))
        out, _ = readout.apply(params[1], (), hs)
        return jnp.mean(jnp.sum((out[..., 0] - y) ** 2, -1)), final

    return chunk_loss


def setup(dtype=jnp.float32):
    keys = jax.random.split(jax.random.key(0), 4)
    params = (
        lstm(H).init(keys[0], (B, K, F))[1],
        dense(1).init(keys[1], (B, H))[1],
    )
    x = jax.random.normal(keys[2], (B, T, F), dtype)
    y = jax.random.normal(keys[3], (B, T), dtype)
    params = jax.tree.map(lambda a: a.astype(dtype), params)
    zeros = LSTMState(jnp.zeros((B, H), dtype), jnp.zeros((B, H), dtype))
    return params, (x, y), zeros


def chunks(data):
    x, y = data
    return [(x[:, t : t + K], y[:, t : t + K]) for t in range(0, T, K)]


def run_chunks(params, data, state, synthetic):
    """Σ over chunks of chunk_gradients (no updates between): ``synthetic[c]`` seeds chunk c."""
    total, targets = jax.tree.map(jnp.zeros_like, params), []
    for inputs, g_hat in zip(chunks(data), synthetic, strict=True):
        out = chunk_gradients(make_loss(), params, state, inputs, g_hat)
        total, state = jax.tree.map(jnp.add, total, out.grads), out.state
        targets.append(out.target)
    return total, targets


def assert_trees_close(a, b, **tol):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(u, v, **tol)


def full_bptt(params, data, zeros):
    """Full BPTT's gradient, and the true gradient of the future's loss at each boundary per
    example (× B), from one backward pass over the chunks chained without truncation."""

    def loss(params, eps):
        total, state = 0.0, zeros
        for c, inputs in enumerate(chunks(data)):
            state = jax.tree.map(jnp.add, state, eps[c - 1]) if c > 0 else state
            chunk, state = make_loss()(params, state, inputs)
            total = total + chunk
        return total

    full, true = jax.grad(loss, (0, 1))(params, [zeros] * (T // K - 1))
    return full, jax.tree.map(lambda g: g * B, true)


def test_zero_predictor_is_truncated_bptt_and_true_future_gradient_is_full_bptt(x64):
    params, data, zeros = setup(jnp.float64)
    predictor = gradient_predictor(2 * H, dtype=jnp.float64)
    q = predictor.init(jax.random.key(1), (B, 2 * H))[1]  # zero last layer: ĝ = 0
    predicted = lambda s: predict_synthetic(predictor, q, s)  # noqa: E731

    @jax.jit  # one program: the test's time is compile time
    def gradients(params):
        truncated = jax.grad(lambda p: make_loss(K)(p, zeros, data)[0])(params)
        full, true = full_bptt(params, data, zeros)
        zero, _ = run_chunks(params, data, zeros, [predicted, None])
        exact, targets = run_chunks(params, data, zeros, [*true, None])
        return truncated, full, zero, exact, targets[1:], true

    truncated, full, zero, exact, targets, true = gradients(params)
    gaps = jax.tree.map(lambda u, v: float(jnp.abs(u - v).max()), truncated, full)
    assert max(jax.tree.leaves(gaps)) > 1e-3  # truncation matters here
    assert_trees_close(zero, truncated, rtol=1e-12, atol=1e-14)
    assert_trees_close(exact, full, rtol=1e-12, atol=1e-14)
    assert_trees_close(targets, true, rtol=1e-12, atol=1e-14)  # the bootstrapped target is true


def test_bad_input_names_chunk_gradients():
    params, data, zeros = setup()
    inputs = chunks(data)[0]
    with pytest.raises(ValueError, match="chunk_gradients: expected a synthetic gradient"):
        jax.eval_shape(
            lambda: chunk_gradients(make_loss(), params, zeros, inputs, jnp.zeros((B, 6)))
        )
    per_example = lambda p, s, i: (make_loss()(p, s, i)[0] * jnp.ones(B), s)  # noqa: E731
    with pytest.raises(ValueError, match="chunk_gradients: expected chunk_loss to return a scal"):
        jax.eval_shape(lambda: chunk_gradients(per_example, params, zeros, inputs))
