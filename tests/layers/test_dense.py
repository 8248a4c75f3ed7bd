"""The dense layer: values, initialisers, errors.

Shapes, dtypes, gradients, jit, vmap and bad input: the layer contract
(tests/core/test_layer_registry.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet import initializers
from funcnet.layers.dense import dense


def test_init_shapes_and_zero_bias():
    out_shape, params, state = dense(7).init(jax.random.key(0), (2, 3, 5))
    assert out_shape == (2, 3, 7) and state == ()
    assert params.w.shape == (5, 7) and params.b.shape == (7,)
    assert jnp.all(params.b == 0)


def test_apply_matches_numpy_over_leading_axes():
    layer = dense(4)
    _, params, state = layer.init(jax.random.key(0), (2, 3, 5))
    x = jax.random.normal(jax.random.key(1), (2, 3, 5))
    for backward in ("manual", "autodiff"):
        y, _ = layer.apply(params, state, x, backward=backward)
        expected = np.asarray(x) @ np.asarray(params.w) + np.asarray(params.b)[None, None]
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_no_bias():
    layer = dense(2, use_bias=False)
    _, params, state = layer.init(jax.random.key(0), (3, 4))
    assert params.b is None
    y, _ = layer.apply(params, state, jnp.ones((3, 4)))
    np.testing.assert_allclose(y, jnp.ones((3, 4)) @ params.w, rtol=1e-6)


@pytest.mark.parametrize(
    "name", ["lecun_normal", "lecun_uniform", "glorot_normal", "glorot_uniform", "he_normal",
             "he_uniform"],
)  # fmt: skip
def test_initialisers_have_their_variance(name):
    init = getattr(initializers, name)()
    w = init(jax.random.key(0), (400, 300), jnp.float32)
    fan_in, fan_out = 400, 300
    scale = {"lecun": 1 / fan_in, "glorot": 2 / (fan_in + fan_out), "he": 2 / fan_in}
    expected = scale[name.split("_")[0]]
    assert float(jnp.var(w)) == pytest.approx(expected, rel=0.05)


def test_zeros_initialiser_for_weights():
    _, params, _ = dense(3, w_init=initializers.zeros).init(jax.random.key(0), (1, 2))
    assert jnp.all(params.w == 0)


def test_an_input_of_another_float_dtype_is_an_error_not_a_cast():
    layer = dense(3)
    _, params, state = layer.init(jax.random.key(0), (2, 4))
    with pytest.raises(ValueError, match=r"dense: expected input dtype float32 .* got float16"):
        layer.apply(params, state, jnp.ones((2, 4), jnp.float16))


def test_bad_hyperparameters():
    with pytest.raises(
        ValueError, match="dense: expected features to be a positive integer, got 0"
    ):
        dense(0)
    with pytest.raises(TypeError, match="dense: expected features to be a positive integer"):
        dense(2.5)
    with pytest.raises(ValueError, match="dense: expected a floating-point dtype, got int32"):
        dense(2, dtype=jnp.int32)
    with pytest.raises(ValueError, match="dense: expected positive dimensions"):
        dense(2).init(jax.random.key(0), (0, 3))
    with pytest.raises(TypeError, match="dense: expected input_shape to be a tuple of ints"):
        dense(2).init(jax.random.key(0), "(2, 3)")
    with pytest.raises(TypeError, match="dense: expected input_shape to be a tuple of ints"):
        dense(2).init(jax.random.key(0), (2, 3.0))


def test_b_init_without_a_bias_is_a_type_error_not_ignored():
    with pytest.raises(TypeError, match=r"^dense: b_init applies only with use_bias=True, got "):
        dense(3, use_bias=False, b_init=initializers.ones)
    _, params, _ = dense(3, b_init=initializers.ones).init(jax.random.key(0), (2, 4))
    np.testing.assert_array_equal(params.b, np.ones(3))
