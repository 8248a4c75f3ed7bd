"""The generic sequence op: every cell against a numpy loop, truncated BPTT, and a new cell
written as one description (masks, reverse and batch axes of each registered cell
are checked by the op registry)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core import registry
from funcnet.layers import LSTMState, RecurrentInput, gru, gru_op, lstm, lstm_op, rnn
from funcnet.layers.recurrent import Cell, sequence_layer
from funcnet.layers.recurrent.cell import affine_bwd
from funcnet.verify import Report, VerificationError, verify_case

B, T, F, H = 2, 5, 3, 4
LAYERS = {"rnn": rnn, "lstm": lstm, "gru": gru}
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_run(kind, params, x, h0, c0=None, mask=None, reverse=False, activation="tanh"):
    """An independent loop over time in numpy (float64): (hs, h_T, c_T)."""
    p = {k: np.asarray(v, np.float64) for k, v in params._asdict().items()}
    x = np.asarray(x, np.float64)
    h, c = np.asarray(h0, np.float64), None if c0 is None else np.asarray(c0, np.float64)
    hs = np.zeros((*x.shape[:-1], H))
    order = range(x.shape[1])[::-1] if reverse else range(x.shape[1])
    for t in order:
        zx, zh = x[:, t] @ p["w"] + p["b"], h @ p["u"]
        if kind == "rnn":
            z = zx + zh
            h_new, c_new = (np.tanh(z) if activation == "tanh" else np.maximum(z, 0)), None
        elif kind == "lstm":
            i, f, g, o = np.split(zx + zh, 4, axis=-1)
            c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h_new = sigmoid(o) * np.tanh(c_new)
        else:
            (xr, xu, xn), (hr, hu, hn) = np.split(zx, 3, axis=-1), np.split(zh, 3, axis=-1)
            r, u = sigmoid(xr + hr), sigmoid(xu + hu)
            n = np.tanh(xn + r * (hn + p["b_hn"]))
            h_new, c_new = (1 - u) * n + u * h, None
        keep = np.ones((x.shape[0], 1)) if mask is None else np.asarray(mask[:, t : t + 1], float)
        hs[:, t] = keep * h_new
        h = keep * h_new + (1 - keep) * h
        if c is not None:
            c = keep * c_new + (1 - keep) * c
    return hs, h, c


def setup(kind, seed=0, **options):
    layer = LAYERS[kind](H, return_state=True, **options)
    _, params, state = layer.init(jax.random.key(seed), (B, T, F))
    # a non-zero b_hn / bias so that every term of the formulas is exercised
    params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(9), p.shape), params)
    x = jax.random.normal(jax.random.key(seed + 1), (B, T, F))
    h0 = 0.5 * jax.random.normal(jax.random.key(seed + 2), (B, H))
    return layer, params, state, x, h0


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_values_match_a_numpy_loop_reversed_and_masked(kind):
    layer, params, state, x, h0 = setup(kind, reverse=True)
    s0 = LSTMState(h0, -h0) if kind == "lstm" else h0
    (hs, final), _ = layer.apply(params, state, RecurrentInput(x, MASK, s0))
    c0 = -h0 if kind == "lstm" else None
    hs_np, h_np, c_np = numpy_run(kind, params, x, h0, c0, MASK, reverse=True)
    np.testing.assert_allclose(hs, hs_np, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(final.h if kind == "lstm" else final, h_np, rtol=2e-5, atol=2e-6)
    if kind == "lstm":
        np.testing.assert_allclose(final.c, c_np, rtol=2e-5, atol=2e-6)


def test_relu_rnn_matches_numpy_and_last_output_is_final_state():
    layer, params, state, x, h0 = setup("rnn", activation="relu")
    (hs, h_t), _ = layer.apply(params, state, RecurrentInput(x, state=h0))
    np.testing.assert_allclose(hs, numpy_run("rnn", params, x, h0, activation="relu")[0],
                               rtol=2e-5, atol=2e-6)  # fmt: skip
    np.testing.assert_array_equal(hs[:, -1], h_t)


def grads(layer, params, state, inputs, backward):
    def scalar(p, x):
        (hs, final), _ = layer.apply(p, state, inputs._replace(x=x), backward=backward)
        return jnp.sum(jnp.sin(3 * hs)) + sum(jnp.sum(s**2) for s in jax.tree.leaves(final))

    return jax.jit(jax.grad(scalar, argnums=(0, 1)))(params, inputs.x)


def test_truncated_manual_equals_autodiff_of_the_stop_gradient_reference():
    # the cut is generic (every part of the state, in scan order): one cell with two parts
    layer, params, state, x, _ = setup("lstm", reverse=True, truncate=2)
    inputs = RecurrentInput(x, MASK)
    manual, auto = (grads(layer, params, state, inputs, b) for b in ("manual", "autodiff"))
    for a, e in zip(jax.tree.leaves(manual), jax.tree.leaves(auto), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5)


def test_truncation_cuts_the_gradient_between_chunks_in_scan_order():
    layer, params, state, x, _ = setup("gru", truncate=2, reverse=True)
    full_layer = gru(H, return_state=True, reverse=True)

    def dx_of_outputs(lay, backward, steps):
        # the gradient of Σ hs[:, t] with respect to x, for each t in steps
        def f(x, t):
            (hs, _), _ = lay.apply(params, state, x, backward=backward)
            return jnp.sum(hs[:, t])

        return jax.jit(lambda x: [jax.grad(f)(x, t) for t in steps])(x)

    # scan steps 0-1, 2-3, 4 are chunks; reversed, time step t is scan step T-1-t, so the
    # output at t = 0 (scan step 4) reaches no earlier input and t = 1 reaches t = 2
    manual_0, manual_1 = dx_of_outputs(layer, "manual", (0, 1))
    (autodiff_0,) = dx_of_outputs(layer, "autodiff", (0,))
    for dx in (manual_0, autodiff_0):
        np.testing.assert_array_equal(dx[:, 1:], 0.0)
        assert float(jnp.max(jnp.abs(dx[:, 0]))) > 0
    np.testing.assert_array_equal(manual_1[:, 3:], 0.0)
    # within a chunk the gradient is the full one
    (full_1,) = dx_of_outputs(full_layer, "manual", (1,))
    np.testing.assert_allclose(manual_1[:, 2], full_1[:, 2], rtol=1e-5)
    assert float(jnp.max(jnp.abs(full_1[:, 3:]))) > 0


def test_truncation_longer_than_the_sequence_is_full_bptt():
    layer, params, state, x, _ = setup("lstm", truncate=T)
    full = lstm(H, return_state=True)
    g_trunc = grads(layer, params, state, RecurrentInput(x), "manual")
    g_full = grads(full, params, state, RecurrentInput(x), "manual")
    for a, e in zip(jax.tree.leaves(g_trunc), jax.tree.leaves(g_full), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-6)


def test_truncated_gradient_is_not_the_derivative(x64):
    # Truncated BPTT is by design not the derivative of the forward values: autodiff of the
    # stop_gradient reference (the op's gradient reference) agrees with it, central
    # differences of the true forward (the op's forward, as without truncate) with full BPTT.
    keys = jax.random.split(jax.random.key(0), 7)
    shapes = ((1, 4, 2), (1, 3), (1, 3), (2, 12), (3, 12), (12,))
    args = [jax.random.normal(k, s, jnp.float64) for k, s in zip(keys, shapes, strict=False)]
    u = jax.random.normal(keys[6], shapes[4], jnp.float64)

    def pairing(fn):
        return jax.jit(lambda w: jnp.sum(jnp.sin(fn(*args[:4], w, args[5])[0])))

    truncated, full = lstm_op(truncate=2), lstm_op()
    g_manual = jax.jit(jax.grad(pairing(truncated.manual)))(args[4])
    g_autodiff = jax.jit(jax.grad(pairing(truncated.reference)))(args[4])
    g_full = jax.jit(jax.grad(pairing(full.manual)))(args[4])
    np.testing.assert_allclose(g_manual, g_autodiff, rtol=1e-10)
    assert truncated.gradient.startswith("surrogate: truncated BPTT")
    assert float(pairing(truncated.forward)(args[4])) == float(pairing(full.forward)(args[4]))
    h, true_forward = 1e-5, pairing(truncated.forward)
    fd = float(true_forward(args[4] + h * u) - true_forward(args[4] - h * u)) / (2 * h)
    assert float(jnp.vdot(g_full, u)) == pytest.approx(fd, rel=1e-6)
    assert abs(float(jnp.vdot(g_manual, u)) - fd) > 1e-3 * abs(fd)


def test_a_truncated_backward_that_forgets_the_cut_is_caught(x64):
    # Full BPTT where truncation was declared: the verifier holds the backward to autodiff of
    # the stop_gradient reference, so the planted bug fails on the parameters and the input.
    case = next(c for c in registry.cases("gru") if c.label == "truncated")
    assert verify_case(case).passed
    planted = case._replace(op=case.op.with_bwd(gru_op(reverse=True).bwd))
    report = Report((verify_case(planted),))
    failed = {(e.check, e.path) for e in report.cases[0].errors if not e.passed}
    assert not report.passed and ("autodiff", "args[0]") in failed  # x, the input
    with pytest.raises(VerificationError, match="op 'gru', case 'truncated'"):
        report.raise_if_failed()


class LeakyParams(NamedTuple):
    w: jax.Array  # [F, H]
    beta: jax.Array  # [H], a learned decay; no recurrent matrix


def leaky_integrator() -> Cell:
    """v' = β ⊙ v + x W: a cell with a learned decay and no recurrent matrix (the shape of a
    spiking neuron's membrane), written as one description and nothing else."""

    def init(key, in_features, features, dtype):
        w = jax.random.normal(key, (in_features, features), dtype) / in_features**0.5
        return LeakyParams(w, jnp.full((features,), 0.9, dtype))

    def step(x, state, p):
        return (state[0] * jnp.broadcast_to(p.beta, state[0].shape) + x @ p.w,), ()

    def step_bwd(x, p, state, new, res, d_new):
        # dv = dv' ⊙ β, dβ = Σ dv' ⊙ v, dx = dv' Wᵀ, dW = Σ xᵀ dv'
        (dv_new,) = d_new
        dx, dw, _ = affine_bwd(x, p.w, dv_new)
        dbeta = jnp.sum(dv_new * state[0], axis=tuple(range(dv_new.ndim - 1)))
        return dx, (dv_new * jnp.broadcast_to(p.beta, dv_new.shape),), LeakyParams(dw, dbeta)

    return Cell("leaky", LeakyParams, None, init, lambda p: p.w.shape[0], step, step_bwd)


def test_a_new_cell_is_one_description():
    layer = sequence_layer(leaky_integrator(), H, reverse=True)
    _, params, state = layer.init(jax.random.key(0), (B, T, F))
    params = params._replace(beta=jnp.linspace(0.5, 1.0, H))
    x = jax.random.normal(jax.random.key(1), (B, T, F))
    vs, _ = layer.apply(params, state, RecurrentInput(x, MASK))
    # reversed: v_t = β v_{t+1} + x_t W over the real steps, zeros at padding
    v, expected = jnp.zeros((B, H)), []
    for t in reversed(range(T)):
        v = jnp.where(MASK[:, t : t + 1], params.beta[None] * v + x[:, t] @ params.w, v)
        expected.insert(0, jnp.where(MASK[:, t : t + 1], v, 0))
    np.testing.assert_allclose(vs, jnp.stack(expected, axis=1), rtol=1e-5, atol=1e-6)

    def scalar(p, x, backward):
        vs, _ = layer.apply(p, state, RecurrentInput(x, MASK), backward=backward)
        return jnp.sum(jnp.sin(vs))

    manual, auto = (jax.jit(jax.grad(scalar, (0, 1)), static_argnums=2)(params, x, b)
                    for b in ("manual", "autodiff"))  # fmt: skip
    for a, e in zip(jax.tree.leaves(manual), jax.tree.leaves(auto), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
