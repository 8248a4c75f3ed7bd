"""Group normalisation: values against numpy, its special cases, gradients, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers.norm import GroupNormParams, group_norm, layer_norm


def numpy_group_norm(x, groups, scale, bias, eps=1e-5):
    x = np.asarray(x, np.float64)
    n, c = x.shape[0], x.shape[-1]
    xg = x.reshape(n, -1, groups, c // groups)  # [N, positions, G, C/G]
    mean = xg.mean(axis=(1, 3), keepdims=True)
    var = xg.var(axis=(1, 3), keepdims=True)
    y = ((xg - mean) / np.sqrt(var + eps)).reshape(x.shape)
    return y * np.asarray(scale) + np.asarray(bias)


def random_params(c, seed=0):
    ks, kb = jax.random.split(jax.random.key(seed))
    return GroupNormParams(1 + 0.5 * jax.random.normal(ks, (c,)), jax.random.normal(kb, (c,)))


def test_init_shapes():
    out_shape, params, state = group_norm(2).init(jax.random.key(0), (2, 5, 5, 6))
    assert out_shape == (2, 5, 5, 6) and state == ()
    np.testing.assert_array_equal(params.scale, np.ones(6))
    np.testing.assert_array_equal(params.bias, np.zeros(6))


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
@pytest.mark.parametrize("groups", [1, 2, 6])
def test_matches_numpy(groups, backward):
    x = jax.random.normal(jax.random.key(1), (3, 4, 2, 6)) * 2 + 1
    params = random_params(6)
    y, _ = group_norm(groups).apply(params, (), x, backward=backward)
    np.testing.assert_allclose(y, numpy_group_norm(x, groups, *params), atol=3e-5)


def test_one_group_is_layer_norm_over_positions_and_channels():
    x = jax.random.normal(jax.random.key(2), (2, 5, 4))
    plain = {"use_scale": False, "use_bias": False}
    y_group, _ = group_norm(1, **plain).apply(GroupNormParams(None, None), (), x)
    y_layer, _ = layer_norm(axis=(1, 2), **plain).apply(GroupNormParams(None, None), (), x)
    np.testing.assert_allclose(y_group, y_layer, atol=1e-6)


def test_manual_gradients_equal_autodiff_under_jit():
    layer = group_norm(3)
    x = jax.random.normal(jax.random.key(3), (2, 4, 6))
    params = random_params(6)
    r = jax.random.normal(jax.random.key(4), x.shape)

    def loss(p, x, backward):
        return jnp.sum(r * layer.apply(p, (), x, backward=backward)[0])

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)
    gm, ga = grad(params, x, "manual"), grad(params, x, "autodiff")
    for m, a in zip(jax.tree.leaves(gm), jax.tree.leaves(ga), strict=True):
        np.testing.assert_allclose(m, a, rtol=1e-4, atol=1e-5)


def test_constant_group_gives_bias_and_finite_gradients():
    x = jnp.ones((2, 3, 4))
    params = random_params(4)
    y, _ = group_norm(2).apply(params, (), x)
    np.testing.assert_allclose(y, np.broadcast_to(params.bias, x.shape), atol=1e-6)
    g = jax.grad(lambda p: jnp.sum(group_norm(2).apply(p, (), x)[0] ** 2))(params)
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(g))


def test_channels_not_divisible_by_groups_is_an_error():
    with pytest.raises(
        ValueError,
        match=r"group_norm: expected the channel count \(last axis\) to be divisible by "
        r"num_groups=4, got 6 channels in input shape \(2, 3, 6\)",
    ):
        group_norm(4).init(jax.random.key(0), (2, 3, 6))


def test_bad_input_and_hyperparameters():
    layer = group_norm(2)
    _, params, _ = layer.init(jax.random.key(0), (2, 4))
    with pytest.raises(
        ValueError, match=r"group_norm: expected an input of rank >= 2, got shape \(4,\)"
    ):
        layer.apply(params, (), jnp.ones(4))
    with pytest.raises(
        ValueError, match=r"group_norm: expected input axis -1 of size 4, got shape \(2, 6\)"
    ):
        layer.apply(params, (), jnp.ones((2, 6)))
    with pytest.raises(
        ValueError, match=r"group_norm: expected input dtype float32 .* got float16"
    ):
        layer.apply(params, (), jnp.ones((2, 4), jnp.float16))
    with pytest.raises(
        ValueError, match="group_norm: expected num_groups to be a positive integer, got 0"
    ):
        group_norm(0)
    with pytest.raises(
        ValueError, match=r"group_norm: expected eps to be a positive number, got 0\.0"
    ):
        group_norm(2, eps=0.0)
