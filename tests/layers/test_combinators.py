"""serial, parallel and residual: composition, errors, keys.

Shapes, gradients (verify_model), jit, vmap and bad input: the layer contract
(tests/core/test_layer_registry.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers.activations import relu, tanh
from funcnet.layers.combinators import parallel, residual, serial
from funcnet.layers.dense import dense


def test_serial_composes_in_order():
    model = serial(dense(4), relu(), dense(2))
    out_shape, params, state = model.init(jax.random.key(0), (3, 5))
    assert out_shape == (3, 2) and len(params) == 3 and params[1] == ()
    x = jax.random.normal(jax.random.key(1), (3, 5))
    y, _ = model.apply(params, state, x)
    p = jax.tree.map(np.asarray, params)
    h = np.maximum(np.asarray(x) @ p[0].w + p[0].b, 0)
    np.testing.assert_allclose(y, h @ p[2].w + p[2].b, rtol=1e-5, atol=1e-6)


def test_parallel_maps_tuple_to_tuple():
    model = parallel(dense(2), tanh())
    out_shape, params, state = model.init(jax.random.key(0), ((4, 3), (4, 5)))
    assert out_shape == ((4, 2), (4, 5))
    y, _ = model.apply(params, state, (jnp.ones((4, 3)), jnp.zeros((4, 5))))
    assert y[0].shape == (4, 2) and jnp.all(y[1] == 0)
    with pytest.raises(TypeError, match="parallel: expected a tuple of 2 input shapes"):
        model.init(jax.random.key(0), (4, 3))
    with pytest.raises(ValueError, match="parallel: expected a tuple of 2 input shapes"):
        model.init(jax.random.key(0), ((4, 3),))
    with pytest.raises(TypeError, match="parallel: expected a tuple of 2 inputs"):
        model.apply(params, state, jnp.ones((4, 3)))
    with pytest.raises(ValueError, match="parallel: expected a tuple of 2 inputs, got 1"):
        model.apply(params, state, (jnp.ones((4, 3)),))


def test_residual_adds_the_input():
    model = residual(dense(3), tanh())
    _, params, state = model.init(jax.random.key(0), (2, 3))
    x = jax.random.normal(jax.random.key(1), (2, 3))
    y, _ = model.apply(params, state, x)
    p, x = jax.tree.map(np.asarray, params), np.asarray(x)
    np.testing.assert_allclose(y, x + np.tanh(x @ p[0].w + p[0].b), rtol=1e-5)
    message = r"residual: expected the branch to keep the input shape \(2, 3\), got .* \(2, 4\)"
    with pytest.raises(ValueError, match=message):
        residual(dense(4)).init(jax.random.key(0), (2, 3))


def test_combinators_reject_bad_layers():
    with pytest.raises(ValueError, match="serial: expected at least one layer"):
        serial()
    with pytest.raises(TypeError, match="serial: expected a Layer at position 1"):
        serial(dense(2), "relu")
    with pytest.raises(TypeError, match="parallel: expected a Layer at position 0"):
        parallel(relu)


def test_keys_are_split_between_children():
    seen = []

    def spy():
        from funcnet.core.layer import Layer

        def init(key, shape):
            return shape, (), ()

        def apply(params, state, x, *, key=None, train=False, backward="manual"):
            seen.append(key)
            return x, state

        return Layer("spy", init, apply)

    model = serial(spy(), spy())
    _, params, state = model.init(jax.random.key(0), (1,))
    model.apply(params, state, jnp.ones(1), key=jax.random.key(3))
    assert len(seen) == 2
    assert not jnp.array_equal(jax.random.key_data(seen[0]), jax.random.key_data(seen[1]))
    model.apply(params, state, jnp.ones(1))
    assert seen[2:] == [None, None]


def test_wrong_params_or_state_structure_names_the_combinator():
    model = serial(dense(3), relu(), dense(2))
    _, params, state = model.init(jax.random.key(0), (2, 4))
    x = jnp.ones((2, 4))
    with pytest.raises(TypeError, match=r"serial: expected state to be a tuple of 3 entries, one "
                       r"per layer .* got PyTreeDef\(\(\)\)"):  # fmt: skip
        model.apply(params, (), x)
    with pytest.raises(TypeError, match=r"serial: expected params to be a tuple of 3 entries"):
        model.apply(params[:2], state, x)
    pair = parallel(dense(2), dense(2))
    _, params, state = pair.init(jax.random.key(0), ((2, 4), (2, 4)))
    with pytest.raises(TypeError, match=r"parallel: expected state to be a tuple of 2 entries"):
        pair.apply(params, None, (x, x))
