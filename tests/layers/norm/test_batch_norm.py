"""Batch normalisation: values against numpy, running statistics, modes, errors, planted bugs.

Shapes, dtypes, gradients, jit, vmap and bad input: the layer contract
(tests/core/test_layer_registry.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core.registry import Arg
from funcnet.layers.norm import BatchNormParams, BatchNormState, batch_norm, batch_norm_op
from funcnet.verify import verify_op
from tests.layers.forward_mode import assert_manual_jvp_path_matches_autodiff

EPS = 1e-5


def numpy_batch_norm(x, axis, scale, bias, mean=None, var=None):
    """The textbook formula in numpy (float64); batch statistics unless ``mean, var`` given."""
    x = np.asarray(x, np.float64)
    axis = axis % x.ndim
    others = tuple(i for i in range(x.ndim) if i != axis)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    if mean is None:
        mean, var = x.mean(axis=others), x.var(axis=others)
    y = (x - np.reshape(mean, shape)) / np.sqrt(np.reshape(var, shape) + EPS)
    return y * np.reshape(scale, shape) + np.reshape(bias, shape)


def random_params(c, seed=0):
    ks, kb = jax.random.split(jax.random.key(seed))
    return BatchNormParams(1 + 0.5 * jax.random.normal(ks, (c,)), 0.5 * jax.random.normal(kb, (c,)))


def test_init_shapes_dtypes_and_initial_statistics():
    out_shape, params, state = batch_norm(axis=-2).init(jax.random.key(0), (2, 5, 3))
    assert out_shape == (2, 5, 3)
    np.testing.assert_array_equal(params.scale, np.ones(5))
    np.testing.assert_array_equal(params.bias, np.zeros(5))
    np.testing.assert_array_equal(state.mean, np.zeros(5))
    np.testing.assert_array_equal(state.var, np.ones(5))
    assert params.scale.dtype == state.var.dtype == jnp.float32
    _, params, _ = batch_norm(use_scale=False, use_bias=False).init(jax.random.key(0), (2, 5))
    assert params == BatchNormParams(None, None)


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
def test_train_mode_normalises_with_batch_statistics_and_updates_running_ones(backward):
    layer = batch_norm(momentum=0.8)
    x = jax.random.normal(jax.random.key(1), (8, 3)) * 3 + 2
    _, _, state = layer.init(jax.random.key(0), x.shape)
    params = random_params(3)
    y, new_state = layer.apply(params, state, x, train=True, backward=backward)
    np.testing.assert_allclose(y, numpy_batch_norm(x, -1, params.scale, params.bias), atol=2e-5)
    xn = np.asarray(x, np.float64)
    # running = momentum·running + (1 − momentum)·batch, the variance unbiased (ddof=1)
    np.testing.assert_allclose(new_state.mean, 0.2 * xn.mean(0), rtol=1e-5)
    np.testing.assert_allclose(new_state.var, 0.8 + 0.2 * xn.var(0, ddof=1), rtol=1e-5)


@pytest.mark.parametrize("axis", [-1, -2, -3])
def test_any_feature_axis(axis):
    x = jax.random.normal(jax.random.key(2), (4, 3, 5))
    layer = batch_norm(axis=axis)
    _, _, state = layer.init(jax.random.key(0), x.shape)
    c = x.shape[axis]
    params = random_params(c)
    y, new_state = layer.apply(params, state, x, train=True)
    np.testing.assert_allclose(y, numpy_batch_norm(x, axis, params.scale, params.bias), atol=2e-5)
    others = tuple(i for i in range(3) if i != axis % 3)
    np.testing.assert_allclose(new_state.mean, 0.1 * np.mean(x, axis=others), rtol=1e-5)


@pytest.mark.parametrize("axis", [0, 1])
def test_an_axis_counted_from_the_front_is_an_error(axis):
    # Counted from the front, the axis would name another axis of an example under vmap.
    with pytest.raises(
        ValueError, match=f"batch_norm: expected a negative axis .* got axis={axis}"
    ):
        batch_norm(axis=axis)


def test_eval_mode_under_vmap_over_single_examples_equals_the_batched_call():
    layer = batch_norm()
    x = jax.random.normal(jax.random.key(3), (5, 4))
    state = BatchNormState(jnp.array([0.5, -1.0, 0.0, 2.0]), jnp.array([1.0, 4.0, 0.25, 2.0]))
    params = random_params(4)
    batched, _ = layer.apply(params, state, x)
    mapped = jax.vmap(lambda example: layer.apply(params, state, example)[0])(x)
    np.testing.assert_allclose(mapped, batched, rtol=1e-6)


def test_eval_mode_uses_running_statistics_and_keeps_state():
    layer = batch_norm()
    x = jax.random.normal(jax.random.key(3), (5, 4))
    params = random_params(4)
    state = BatchNormState(jnp.array([0.5, -1.0, 0.0, 2.0]), jnp.array([1.0, 4.0, 0.25, 2.0]))
    for backward in ("manual", "autodiff"):
        y, new_state = layer.apply(params, state, x, train=False, backward=backward)
        expected = numpy_batch_norm(x, -1, params.scale, params.bias, state.mean, state.var)
        np.testing.assert_allclose(y, expected, atol=2e-5)
        assert new_state is state


def test_one_value_per_feature_is_an_error_in_training_only():
    layer = batch_norm()
    _, params, state = layer.init(jax.random.key(0), (1, 3))
    with pytest.raises(
        ValueError,
        match=r"batch_norm: expected more than one value per feature in training mode "
        r"\(axis -1 holds the features\), got input shape \(1, 3\)",
    ):
        layer.apply(params, state, jnp.ones((1, 3)), train=True)
    y, _ = layer.apply(params, state, jnp.ones((1, 3)), train=False)
    np.testing.assert_allclose(y, np.ones((1, 3)) / np.sqrt(1 + EPS), rtol=1e-6)
    # one example with spatial positions is fine: the statistics are over the positions
    y, _ = batch_norm().apply(params, state, jnp.arange(6.0).reshape(1, 2, 3), train=True)
    assert np.all(np.isfinite(y))


def test_constant_feature_gives_bias_and_finite_gradients():
    layer = batch_norm()
    _, params, state = layer.init(jax.random.key(0), (4, 2))
    x = jnp.stack([jnp.full(4, 3.0), jnp.arange(4.0)], axis=1)  # feature 0 is constant

    def loss(p, x, backward):
        return jnp.sum(layer.apply(p, state, x, train=True, backward=backward)[0] ** 2)

    y, _ = layer.apply(params, state, x, train=True)
    np.testing.assert_array_equal(y[:, 0], np.zeros(4))
    for backward in ("manual", "autodiff"):
        grads = jax.grad(loss, argnums=(0, 1))(params, x, backward)
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


def test_bad_input_errors_name_layer_expected_and_actual():
    layer = batch_norm()
    _, params, state = layer.init(jax.random.key(0), (2, 4))
    with pytest.raises(
        ValueError, match=r"batch_norm: expected input dtype float32 .* got float16"
    ):
        layer.apply(params, state, jnp.ones((2, 4), jnp.float16))
    with pytest.raises(
        ValueError,
        match=r"batch_norm: expected every axis in \[-2, 2\) for an input of rank 2, got axis=-3",
    ):
        batch_norm(axis=-3).init(jax.random.key(0), (3, 4))
    with pytest.raises(ValueError, match="batch_norm: expected backward to be one of"):
        layer.apply(params, state, jnp.ones((2, 4)), backward="both")


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match=r"batch_norm: expected momentum in \[0, 1\], got 1.5"):
        batch_norm(momentum=1.5)
    with pytest.raises(ValueError, match="batch_norm: expected eps to be a positive number, got 0"):
        batch_norm(eps=0)
    with pytest.raises(TypeError, match="batch_norm: expected axis to be an int, got"):
        batch_norm(axis=(-2, -1))
    with pytest.raises(TypeError, match=r"batch_norm: expected momentum in \[0, 1\], got '0.9'"):
        batch_norm(momentum="0.9")
    with pytest.raises(ValueError, match="batch_norm: expected a floating-point dtype, got int32"):
        batch_norm(dtype=jnp.int32)


def _without(term):
    """The training op with one term of its backward dropped (a planted bug)."""
    op = batch_norm_op()

    def bwd(res, cotangents):
        # d: the correct VJP with one contribution removed
        dy, d_mean, d_var = cotangents
        if term == "centring":  # as if μ and σ did not depend on x: dx = γ·s·dy
            _, inv_std, (scale,) = res
            return (dy * scale[None, :] * inv_std, *op.bwd(res, cotangents)[1:])
        if term == "mean":
            d_mean = jnp.zeros_like(d_mean)
        if term == "var":
            d_var = jnp.zeros_like(d_var)
        return op.bwd(res, (dy, d_mean, d_var))

    return op.with_bwd(bwd)


@pytest.mark.parametrize("term", ["centring", "mean", "var"])
def test_a_planted_bug_in_any_term_fails_the_check(term):
    report = verify_op(_without(term), (Arg((6, 3)), Arg((3,)), Arg((3,))))
    assert not report.passed and report.cases[0].crash is None
    failed = {(e.check, e.path) for c in report.cases for e in c.errors if not e.passed}
    assert ("autodiff", "x") in failed


@pytest.mark.parametrize("train", [True, False])
def test_forward_and_reverse_mode_on_the_manual_jvp_path_match_autodiff(train):
    assert_manual_jvp_path_matches_autodiff(batch_norm(dtype=jnp.float64), (4, 3), train=train)
