"""Group normalisation: values against numpy, its special cases, batch axes, errors.

Shapes, dtypes, gradients, jit, vmap and bad input: the layer contract
(tests/core/test_layer_registry.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers.norm import GroupNormParams, group_norm, layer_norm


def numpy_group_norm(x, groups, scale, bias, num_position_axes, eps=1e-5):
    x = np.asarray(x, np.float64)
    batch, c = x.shape[: x.ndim - num_position_axes - 1], x.shape[-1]
    xg = x.reshape(*batch, -1, groups, c // groups)  # [..., positions, G, C/G]
    mean = xg.mean(axis=(-3, -1), keepdims=True)
    var = xg.var(axis=(-3, -1), keepdims=True)
    y = ((xg - mean) / np.sqrt(var + eps)).reshape(x.shape)
    return y * np.asarray(scale) + np.asarray(bias)


def random_params(c, seed=0):
    ks, kb = jax.random.split(jax.random.key(seed))
    return GroupNormParams(1 + 0.5 * jax.random.normal(ks, (c,)), jax.random.normal(kb, (c,)))


def test_init_params():
    out_shape, params, state = group_norm(2, num_position_axes=2).init(
        jax.random.key(0), (2, 5, 5, 6)
    )
    assert out_shape == (2, 5, 5, 6) and state == ()
    np.testing.assert_array_equal(params.scale, np.ones(6))
    np.testing.assert_array_equal(params.bias, np.zeros(6))


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
@pytest.mark.parametrize("groups", [1, 2, 6])
def test_matches_numpy(groups, backward):
    x = jax.random.normal(jax.random.key(1), (3, 4, 2, 6)) * 2 + 1
    params = random_params(6)
    y, _ = group_norm(groups, num_position_axes=2).apply(params, (), x, backward=backward)
    np.testing.assert_allclose(y, numpy_group_norm(x, groups, *params, 2), atol=3e-5)


def test_one_group_is_layer_norm_over_positions_and_channels():
    x = jax.random.normal(jax.random.key(2), (2, 5, 4))
    plain = {"use_scale": False, "use_bias": False}
    y_group, _ = group_norm(1, num_position_axes=1, **plain).apply(
        GroupNormParams(None, None), (), x
    )
    y_layer, _ = layer_norm(axis=(-2, -1), **plain).apply(GroupNormParams(None, None), (), x)
    np.testing.assert_allclose(y_group, y_layer, atol=1e-6)


def test_vmap_over_single_examples_equals_the_batched_call():
    # Issue 13's bug: group_norm took axis 0 for the batch, so under vmap over examples [T, C]
    # it normalised each time step instead of over T.
    layer = group_norm(2, num_position_axes=1)
    x = jax.random.normal(jax.random.key(3), (3, 5, 4))
    params = random_params(4)
    batched, _ = layer.apply(params, (), x)
    mapped = jax.vmap(lambda example: layer.apply(params, (), example)[0])(x)
    np.testing.assert_allclose(mapped, batched, atol=1e-6)
    np.testing.assert_allclose(batched, numpy_group_norm(x, 2, *params, 1), atol=3e-5)


def test_leading_batch_axes_are_batch_axes():
    layer, params = group_norm(3, num_position_axes=1), random_params(6)
    x = jax.random.normal(jax.random.key(4), (2, 3, 4, 6))
    y, _ = layer.apply(params, (), x)
    np.testing.assert_allclose(y, numpy_group_norm(x, 3, *params, 1), atol=3e-5)


def test_constant_group_gives_bias_and_finite_gradients():
    x = jnp.ones((2, 3, 4))
    params, layer = random_params(4), group_norm(2, num_position_axes=1)
    y, _ = layer.apply(params, (), x)
    np.testing.assert_allclose(y, np.broadcast_to(params.bias, x.shape), atol=1e-6)
    g = jax.grad(lambda p: jnp.sum(layer.apply(p, (), x)[0] ** 2))(params)
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(g))


def test_errors_name_the_layer_expected_and_actual():
    with pytest.raises(
        ValueError,
        match=r"group_norm: expected the channel count \(last axis\) to be divisible by "
        r"num_groups=4, got 6 channels in input shape \(2, 3, 6\)",
    ):
        group_norm(4, num_position_axes=1).init(jax.random.key(0), (2, 3, 6))
    layer = group_norm(2, num_position_axes=1)
    with pytest.raises(
        ValueError, match=r"group_norm: expected an input \[\.\.\., \*positions, C\] of rank >= 2"
    ):
        layer.apply(random_params(4), (), jnp.ones(4))
    with pytest.raises(ValueError, match=r"group_norm: expected input dtype float32 .* float16"):
        layer.apply(random_params(4), (), jnp.ones((2, 4), jnp.float16))


def test_bad_hyperparameters():
    with pytest.raises(
        ValueError, match="group_norm: expected num_groups to be a positive integer"
    ):
        group_norm(0, num_position_axes=1)
    with pytest.raises(TypeError, match="group_norm: expected num_position_axes to be an integer"):
        group_norm(2, num_position_axes=1.0)
    with pytest.raises(TypeError, match="num_position_axes"):
        group_norm(2)  # there is no default: the layer cannot tell batch axes from position axes
    with pytest.raises(ValueError, match=r"group_norm: expected eps to be a positive number"):
        group_norm(2, num_position_axes=1, eps=0.0)
