"""Layer and RMS normalisation: values against numpy, safe constants, errors.

Shapes, dtypes, gradients, jit, vmap and bad input: the layer contract
(tests/core/test_layer_registry.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers.norm import LayerNormParams, layer_norm, rms_norm


def numpy_layer_norm(x, axes, scale, bias, eps=1e-5):
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return y * np.asarray(scale) + np.asarray(bias)


def numpy_rms_norm(x, axes, scale, eps=1e-6):
    x = np.asarray(x, np.float64)
    return x / np.sqrt(np.mean(x**2, axis=axes, keepdims=True) + eps) * np.asarray(scale)


def random_affine(shape, seed=0):
    ks, kb = jax.random.split(jax.random.key(seed))
    return 1 + 0.5 * jax.random.normal(ks, shape), 0.5 * jax.random.normal(kb, shape)


def test_init_parameters_have_the_normalised_axes_shape():
    out_shape, params, state = layer_norm(axis=(-2, -1)).init(jax.random.key(0), (2, 3, 4))
    assert out_shape == (2, 3, 4) and state == ()
    np.testing.assert_array_equal(params.scale, np.ones((3, 4)))
    np.testing.assert_array_equal(params.bias, np.zeros((3, 4)))
    _, params, _ = rms_norm().init(jax.random.key(0), (2, 5))
    assert params.scale.shape == (5,) and params.bias is None
    _, params, _ = layer_norm(use_scale=False, use_bias=False).init(jax.random.key(0), (2, 5))
    assert params == LayerNormParams(None, None)


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
def test_layer_norm_matches_numpy_on_last_axis_and_on_two_axes(backward):
    x = jax.random.normal(jax.random.key(1), (4, 3, 5)) * 2 + 1
    scale, bias = random_affine((5,))
    y, _ = layer_norm().apply(LayerNormParams(scale, bias), (), x, backward=backward)
    np.testing.assert_allclose(y, numpy_layer_norm(x, -1, scale, bias), atol=2e-5)
    scale, bias = random_affine((4, 3))
    y, _ = layer_norm(axis=(-2, -3)).apply(LayerNormParams(scale, bias), (), x, backward=backward)
    expected = numpy_layer_norm(
        x, (0, 1), np.asarray(scale)[..., None], np.asarray(bias)[..., None]
    )
    np.testing.assert_allclose(y, expected, atol=2e-5)


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
def test_rms_norm_matches_numpy(backward):
    x = jax.random.normal(jax.random.key(2), (3, 6))
    scale, _ = random_affine((6,))
    y, _ = rms_norm().apply(LayerNormParams(scale, None), (), x, backward=backward)
    np.testing.assert_allclose(y, numpy_rms_norm(x, -1, scale), rtol=2e-5, atol=1e-6)


def test_constant_slices_give_finite_values_and_gradients():
    x = jnp.array([[2.0, 2.0, 2.0], [0.0, 0.0, 0.0]])  # zero variance; zero mean square
    for layer in (layer_norm(), rms_norm()):
        _, params, _ = layer.init(jax.random.key(0), x.shape)
        for backward in ("manual", "autodiff"):

            def loss(p, x, layer=layer, backward=backward):
                return jnp.sum(jnp.sin(layer.apply(p, (), x, backward=backward)[0]))

            y, _ = layer.apply(params, (), x, backward=backward)
            grads = jax.grad(loss, argnums=(0, 1))(params, x)
            assert bool(jnp.all(jnp.isfinite(y)))
            assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    y, _ = layer_norm().apply(LayerNormParams(jnp.ones(3), jnp.zeros(3)), (), x)
    np.testing.assert_array_equal(y, np.zeros((2, 3)))


def test_bad_input_errors_name_layer_expected_and_actual():
    layer = layer_norm()
    _, params, _ = layer.init(jax.random.key(0), (2, 4))
    with pytest.raises(
        ValueError,
        match=r"layer_norm: expected the normalised axes \(1,\) to have sizes \(4,\), "
        r"got input shape \(2, 5\)",
    ):
        layer.apply(params, (), jnp.ones((2, 5)))
    with pytest.raises(
        ValueError, match=r"layer_norm: expected input dtype float32 .* got float16"
    ):
        layer.apply(params, (), jnp.ones((2, 4), jnp.float16))
    with pytest.raises(
        ValueError,
        match=r"layer_norm: expected every axis in \[-2, 2\) for an input of rank 2, "
        r"got axis=\(-3, -1\)",
    ):
        layer_norm(axis=(-3, -1)).init(jax.random.key(0), (3, 4))
    with pytest.raises(
        ValueError, match=r"layer_norm: expected distinct axes, got axis=\(-1, -1\)"
    ):
        layer_norm(axis=(-1, -1)).init(jax.random.key(0), (3, 4))


def test_bad_hyperparameters():
    with pytest.raises(
        TypeError, match="layer_norm: expected axis to be an int or a tuple of ints, got 'last'"
    ):
        layer_norm(axis="last")
    for make in (layer_norm, rms_norm):  # counted from the front: another axis under vmap
        with pytest.raises(ValueError, match=r"_norm: expected a negative axis .* axis=\(0, -1\)"):
            make(axis=(0, -1))
    with pytest.raises(
        ValueError, match=r"rms_norm: expected axis to be an int or a tuple of ints, got \(\)"
    ):
        rms_norm(axis=())
    with pytest.raises(
        ValueError, match="layer_norm: expected eps to be a positive number, got -1"
    ):
        layer_norm(eps=-1)
    with pytest.raises(ValueError, match="rms_norm: expected a floating-point dtype, got int32"):
        rms_norm(dtype=jnp.int32)
