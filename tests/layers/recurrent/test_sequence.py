"""Sequence layers rnn / lstm / gru: masks, final states, return options, explicit options,
errors (values are checked in test_scan.py; shapes, gradients, jit and vmap of the registered
configurations: the layer contract, tests/core/layer_contract.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers import RecurrentInput, gru, lstm, rnn

B, T, F, H = 2, 5, 3, 4
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)


def test_padding_steps_get_no_gradient_and_keep_the_state():
    layer = lstm(H, return_state=True)
    _, params, state = layer.init(jax.random.key(0), (B, T, F))
    x = jax.random.normal(jax.random.key(1), (B, T, F))

    def scalar(x):
        (hs, final), _ = layer.apply(params, state, RecurrentInput(x, MASK))
        return jnp.sum(jnp.sin(3 * hs)) + jnp.sum(final.c**2)

    dx = jax.jit(jax.grad(scalar))(x)
    np.testing.assert_array_equal(dx[0, 3:], 0.0)
    assert float(jnp.min(jnp.abs(dx[0, :3]))) > 0 and float(jnp.min(jnp.abs(dx[1]))) > 0
    # the padded run equals an unpadded run on the first three steps
    (hs, final), _ = layer.apply(params, state, RecurrentInput(x, MASK))
    (hs3, final3), _ = layer.apply(params, state, x[:1, :3])
    np.testing.assert_allclose(hs[0, :3], hs3[0], rtol=1e-6)
    np.testing.assert_array_equal(hs[0, 3:], 0.0)
    np.testing.assert_allclose(final.c[0], final3.c[0], rtol=1e-6)


def test_final_state_with_mask_is_the_last_real_step():
    layer = lstm(H, return_sequences=False)
    _, params, state = layer.init(jax.random.key(0), (B, T, F))
    x = jax.random.normal(jax.random.key(1), (B, T, F))
    h, _ = layer.apply(params, state, RecurrentInput(x, MASK.astype(np.int32)))
    hs, _ = lstm(H).apply(params, state, x)
    np.testing.assert_allclose(h[0], hs[0, 2], rtol=1e-6)
    np.testing.assert_allclose(h[1], hs[1, 4], rtol=1e-6)


def test_return_options_and_shapes():
    layer = gru(H, return_sequences=False)
    shape, params, state = layer.init(jax.random.key(0), (7, 2, T, F))
    y, _ = layer.apply(params, state, jnp.ones((7, 2, T, F)))
    assert shape == y.shape == (7, 2, H)
    shape, _, _ = rnn(H, return_state=True).init(jax.random.key(0), (B, T, F))
    assert shape == ((B, T, H), (B, H))
    shape, _, _ = lstm(H, return_sequences=False, return_state=True).init(
        jax.random.key(0), (B, T, F)
    )
    assert shape == ((B, H), ((B, H), (B, H)))


def test_lstm_forget_bias_initialisation():
    _, params, _ = lstm(H, forget_bias=2.0).init(jax.random.key(0), (B, T, F))
    np.testing.assert_array_equal(params.b[H : 2 * H], 2.0)
    np.testing.assert_array_equal(params.b[:H], 0.0)
    np.testing.assert_allclose(params.u @ params.u.T, np.eye(H), atol=1e-5)  # orthogonal rows


@pytest.mark.parametrize(
    ("factory", "option"),
    [(lstm, {"activation": "relu"}), (gru, {"forget_bias": 3.0}), (gru, {"activation": "relu"}),
     (rnn, {"forget_bias": 3.0}), (lstm, {"return_sequence": False})],
)  # fmt: skip
def test_an_option_the_layer_does_not_have_is_a_type_error(factory, option):
    # before: lstm(8, activation="relu") and gru(8, forget_bias=3.0) were accepted and ignored
    (key,) = option
    with pytest.raises(
        TypeError, match=rf"{factory.__name__}\(\) got an unexpected keyword .*{key}"
    ):
        factory(8, **option)


def test_bad_input_errors_name_layer_expected_and_actual():
    layer = gru(H)
    _, params, state = layer.init(jax.random.key(0), (B, T, F))
    x = jnp.ones((B, T, F))
    with pytest.raises(ValueError, match=r"gru: expected an input of rank >= 2, got shape \(3,\)"):
        layer.apply(params, state, jnp.ones((F,)))
    with pytest.raises(ValueError, match=r"gru: expected input axis -1 of size 3, got shape"):
        layer.apply(params, state, jnp.ones((B, T, 5)))
    with pytest.raises(ValueError, match=r"gru: expected a mask of shape \(2, 5\), got \(2, 4\)"):
        layer.apply(params, state, RecurrentInput(x, jnp.ones((B, 4), bool)))
    with pytest.raises(ValueError, match="gru: expected a bool or integer mask, got dtype float32"):
        layer.apply(params, state, RecurrentInput(x, jnp.ones((B, T))))
    with pytest.raises(ValueError, match=r"gru: expected a state of shape \(2, 4\), got \(2, 3\)"):
        layer.apply(params, state, RecurrentInput(x, state=jnp.ones((B, 3))))
    with pytest.raises(ValueError, match=r"gru: expected input dtype float32 .* got float16"):
        layer.apply(params, state, jnp.ones((B, T, F), jnp.float16))
    with pytest.raises(TypeError, match="gru: expected an array or a RecurrentInput, got a tuple"):
        layer.apply(params, state, (x, None))
    with pytest.raises(TypeError, match="gru: expected a state given as an array, got a tuple"):
        layer.apply(params, state, RecurrentInput(x, state=(jnp.ones((B, H)),)))
    _, params, state = lstm(H).init(jax.random.key(0), (B, T, F))
    with pytest.raises(
        TypeError,
        match=r"lstm: expected a state given as LSTMState\(h, c\), got an array of shape \(2, 4\)",
    ):
        lstm(H).apply(params, state, RecurrentInput(x, state=jnp.ones((B, H))))


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="lstm: expected features to be a positive integer, got 0"):
        lstm(0)
    with pytest.raises(ValueError, match=r"rnn: expected activation in .* got 'sigmoid'"):
        rnn(2, activation="sigmoid")
    with pytest.raises(ValueError, match="gru: expected truncate to be None or a positive integer"):
        gru(2, truncate=0)
    with pytest.raises(ValueError, match=r"lstm: expected an input of rank >= 2, got shape"):
        lstm(2).init(jax.random.key(0), (3,))


def test_the_manual_jvp_path_matches_autodiff_with_every_sequence_option():
    # the generic forward scan: mask, reverse, truncated BPTT (an intended gradient) and an
    # initial state, through the Elman cell's hand-written step JVP; reverse mode its transpose
    with jax.enable_x64(True):
        layer = rnn(3, reverse=True, truncate=2, return_state=True, dtype=jnp.float64)
        _, params, state = layer.init(jax.random.key(0), (B, 4, F))
        rng = np.random.default_rng(0)
        x, h0 = rng.standard_normal((B, 4, F)), rng.standard_normal((B, 3))
        mask = np.array([[1, 1, 0, 1], [1, 1, 1, 1]])

        def f(params, x, backward):
            (hs, final), _ = layer.apply(
                params, state, RecurrentInput(x, mask, jnp.asarray(h0)), backward=backward
            )
            return jnp.sin(hs).sum(-2) + final  # [B, 3]

        v = jax.tree.map(jnp.ones_like, params)
        for transform in (
            lambda b: jax.jvp(lambda p: f(p, x, b), (params,), (v,))[1],
            lambda b: jax.jacfwd(f, argnums=1)(params, x, b),
            lambda b: jax.grad(lambda p: f(p, x, b).sum())(params),
            # the JVP's primal part cuts the state as the reference does: its second derivative
            lambda b: jax.hessian(lambda x: f(params, x, b)[0, 0])(x),
        ):
            run = jax.jit(transform, static_argnums=0)
            got, want = run("manual_jvp"), run("autodiff")
            for a, e in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
                np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-12)
