"""Sequence layers rnn / lstm / gru: values vs numpy, masks, truncation, reverse, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core.registry import Arg, Case
from funcnet.layers import LSTMState, RecurrentInput, gru, lstm, lstm_op, rnn
from funcnet.verify import verify_case

B, T, F, H = 2, 5, 3, 4
LAYERS = {"rnn": rnn, "lstm": lstm, "gru": gru}


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


MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize(("reverse", "masked"), [(False, False), (True, True)])
def test_values_match_a_numpy_loop(kind, reverse, masked):
    layer, params, state, x, h0 = setup(kind, reverse=reverse)
    s0 = LSTMState(h0, -h0) if kind == "lstm" else h0
    mask = MASK if masked else None
    (hs, final), _ = layer.apply(params, state, RecurrentInput(x, mask, s0))
    hs_np, h_np, c_np = numpy_run(kind, params, x, h0, -h0 if kind == "lstm" else None, mask,
                                  reverse)  # fmt: skip
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


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_manual_equals_autodiff_with_mask_reverse_and_truncation(kind):
    layer, params, state, x, _ = setup(kind, reverse=True, truncate=2)
    inputs = RecurrentInput(x, MASK)
    manual, auto = (grads(layer, params, state, inputs, b) for b in ("manual", "autodiff"))
    for a, e in zip(jax.tree.leaves(manual), jax.tree.leaves(auto), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5)


def test_padding_steps_get_no_gradient_and_keep_the_state():
    layer, params, state, x, _ = setup("lstm")
    inputs = RecurrentInput(x, MASK)
    (_, dx) = grads(layer, params, state, inputs, "manual")
    np.testing.assert_array_equal(dx[0, 3:], 0.0)
    assert float(jnp.min(jnp.abs(dx[0, :3]))) > 0 and float(jnp.min(jnp.abs(dx[1]))) > 0
    # the padded run equals an unpadded run on the first three steps
    (hs, final), _ = layer.apply(params, state, inputs)
    (hs3, final3), _ = layer.apply(params, state, x[:1, :3])
    np.testing.assert_allclose(hs[0, :3], hs3[0], rtol=1e-6)
    np.testing.assert_array_equal(hs[0, 3:], 0.0)
    np.testing.assert_allclose(final.c[0], final3.c[0], rtol=1e-6)


@pytest.mark.parametrize("reverse", [False, True])
def test_truncation_cuts_the_gradient_between_chunks(reverse):
    layer, params, state, x, _ = setup("gru", truncate=2, reverse=reverse)
    full_layer = gru(H, return_state=True, reverse=reverse)

    def dx_of_output(lay, t, backward):
        def f(x):
            (hs, _), _ = lay.apply(params, state, x, backward=backward)
            return jnp.sum(hs[:, t])

        return jax.grad(f)(x)

    # scan steps 0-1, 2-3, 4 are chunks; time step t is scan step t (or T-1-t reversed)
    last = 0 if reverse else T - 1
    for backward in ("manual", "autodiff"):
        dx = dx_of_output(layer, last, backward)
        others = [t for t in range(T) if t != last]
        np.testing.assert_array_equal(dx[:, others], 0.0)
        assert float(jnp.max(jnp.abs(dx[:, last]))) > 0
    # within a chunk the gradient is the full one
    t1, t0 = (1, 2) if reverse else (3, 2)
    truncated = dx_of_output(layer, t1, "manual")[:, t0]
    np.testing.assert_allclose(truncated, dx_of_output(full_layer, t1, "manual")[:, t0], rtol=1e-5)


def test_truncation_longer_than_the_sequence_is_full_bptt():
    layer, params, state, x, _ = setup("lstm", truncate=T)
    full = lstm(H, return_state=True)
    g_trunc = grads(layer, params, state, RecurrentInput(x), "manual")
    g_full = grads(full, params, state, RecurrentInput(x), "manual")
    for a, e in zip(jax.tree.leaves(g_trunc), jax.tree.leaves(g_full), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-6)


def test_truncated_gradient_is_not_the_derivative(x64):
    # Truncated BPTT is by design not the derivative of the forward values: autodiff of the
    # stop_gradient reference agrees with it, central differences agree with full BPTT.
    keys = jax.random.split(jax.random.key(0), 7)
    shapes = ((1, 4, 2), (1, 3), (1, 3), (2, 12), (3, 12), (12,))
    args = [jax.random.normal(k, s, jnp.float64) for k, s in zip(keys, shapes, strict=False)]
    u = jax.random.normal(keys[6], shapes[4], jnp.float64)

    def pairing(fn):
        return lambda w: jnp.sum(jnp.sin(fn(*args[:4], w, args[5])[0]))

    truncated, full = lstm_op(truncate=2), lstm_op()
    g_manual = jax.grad(pairing(truncated.manual))(args[4])
    g_autodiff = jax.grad(pairing(truncated.forward))(args[4])
    g_full = jax.grad(pairing(full.manual))(args[4])
    np.testing.assert_allclose(g_manual, g_autodiff, rtol=1e-10)
    h = 1e-5
    fd = pairing(truncated.forward)(args[4] + h * u) - pairing(truncated.forward)(args[4] - h * u)
    fd = float(fd) / (2 * h)
    assert float(jnp.vdot(g_full, u)) == pytest.approx(fd, rel=1e-6)
    assert abs(float(jnp.vdot(g_manual, u)) - fd) > 1e-3 * abs(fd)


def test_a_planted_bug_in_bptt_is_caught(x64):
    op = lstm_op()

    def ignores_final_h(res, dy):
        # d: the hand-written backward, fed a zero cotangent for h_T (a bug)
        return op.bwd(res, (dy[0], jnp.zeros_like(dy[1]), dy[2]))

    args = (Arg((1, 3, 2)), Arg((1, 3)), Arg((1, 3)), Arg((2, 12)), Arg((3, 12)), Arg((12,)))
    report = verify_case(Case("planted", op.with_bwd(ignores_final_h), args))
    failed = {(e.check, e.path) for e in report.errors if not e.passed}
    assert {("autodiff", "args[1]"), ("finite_differences", "args[4]")} <= failed


@pytest.mark.parametrize("kind", ["rnn", "gru"])
def test_return_options_and_shapes(kind):
    layer = LAYERS[kind](H, return_sequences=False)
    shape, params, state = layer.init(jax.random.key(0), (7, 2, T, F))
    y, _ = layer.apply(params, state, jnp.ones((7, 2, T, F)))
    assert shape == y.shape == (7, 2, H)
    shape, _, _ = LAYERS[kind](H, return_state=True).init(jax.random.key(0), (B, T, F))
    assert shape == ((B, T, H), (B, H))


def test_final_state_with_mask_is_the_last_real_step():
    layer = lstm(H, return_sequences=False)
    _, params, state = layer.init(jax.random.key(0), (B, T, F))
    x = jax.random.normal(jax.random.key(1), (B, T, F))
    h, _ = layer.apply(params, state, RecurrentInput(x, MASK.astype(np.int32)))
    hs, _ = lstm(H).apply(params, state, x)
    np.testing.assert_allclose(h[0], hs[0, 2], rtol=1e-6)
    np.testing.assert_allclose(h[1], hs[1, 4], rtol=1e-6)


def test_vmap_and_jit_agree_with_the_batched_layer():
    layer, params, state, x, _ = setup("gru")
    (hs, _), _ = layer.apply(params, state, x)
    per_example = jax.jit(jax.vmap(lambda xi: layer.apply(params, state, xi[None])[0][0][0]))
    np.testing.assert_allclose(per_example(x), hs, rtol=1e-5, atol=1e-6)


def test_lstm_forget_bias_initialisation():
    _, params, _ = lstm(H, forget_bias=2.0).init(jax.random.key(0), (B, T, F))
    np.testing.assert_array_equal(params.b[H : 2 * H], 2.0)
    np.testing.assert_array_equal(params.b[:H], 0.0)
    np.testing.assert_allclose(params.u @ params.u.T, np.eye(H), atol=1e-5)  # orthogonal rows


def test_bad_input_errors_name_layer_expected_and_actual():
    layer = gru(H)
    _, params, state = layer.init(jax.random.key(0), (B, T, F))
    with pytest.raises(ValueError, match=r"gru: expected an input of rank >= 2, got shape \(3,\)"):
        layer.apply(params, state, jnp.ones((F,)))
    with pytest.raises(ValueError, match=r"gru: expected input axis -1 of size 3, got shape"):
        layer.apply(params, state, jnp.ones((B, T, 5)))
    with pytest.raises(ValueError, match=r"gru: expected a mask of shape \(2, 5\), got \(2, 4\)"):
        layer.apply(params, state, RecurrentInput(jnp.ones((B, T, F)), jnp.ones((B, 4), bool)))
    with pytest.raises(ValueError, match="gru: expected a bool or integer mask, got dtype float32"):
        layer.apply(params, state, RecurrentInput(jnp.ones((B, T, F)), jnp.ones((B, T))))
    with pytest.raises(ValueError, match=r"gru: expected a state of shape \(2, 4\), got \(2, 3\)"):
        layer.apply(params, state, RecurrentInput(jnp.ones((B, T, F)), state=jnp.ones((B, 3))))
    with pytest.raises(ValueError, match=r"gru: expected input dtype float32 .* got float16"):
        layer.apply(params, state, jnp.ones((B, T, F), jnp.float16))
    with pytest.raises(ValueError, match="gru: expected an array or a RecurrentInput"):
        layer.apply(params, state, (jnp.ones((B, T, F)), None))


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="lstm: expected features to be a positive integer, got 0"):
        lstm(0)
    with pytest.raises(ValueError, match=r"rnn: expected activation in .* got 'sigmoid'"):
        rnn(2, activation="sigmoid")
    with pytest.raises(ValueError, match="gru: expected truncate to be None or a positive integer"):
        gru(2, truncate=0)
    with pytest.raises(ValueError, match=r"lstm: expected an input of rank >= 2, got shape"):
        lstm(2).init(jax.random.key(0), (3,))
