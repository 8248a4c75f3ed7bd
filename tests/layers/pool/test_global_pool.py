"""Global average and max pooling and flatten: values, gradients, ties, batch axes.

The registry cases are verified by tests/core/test_registry.py; shapes, jit, vmap and bad
input by the layer contract (tests/core/test_layer_registry.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core import registry
from funcnet.core.op import make_op
from funcnet.core.registry import Arg
from funcnet.layers.flatten import flatten, flatten_op
from funcnet.layers.pool import (
    global_avg_pool,
    global_avg_pool_op,
    global_max_pool,
    global_max_pool_op,
)
from funcnet.verify import VerificationError, verify_op
from tests.layers.forward_mode import assert_manual_jvp_path_matches_autodiff

LAYERS = {
    "global_avg_pool": global_avg_pool,
    "global_max_pool": global_max_pool,
    "flatten": flatten,
}


def _vjps(op, x, dy):
    return jax.vjp(op, x)[1](dy)[0], jax.vjp(op.forward, x)[1](dy)[0]


@pytest.mark.parametrize("shape", [(2, 5, 3), (2, 3, 4, 2), (1, 2, 3, 2, 2)])
def test_values_and_gradients_match_numpy(shape):
    with jax.enable_x64(True):
        x = np.random.default_rng(0).normal(size=shape)
        dy = np.random.default_rng(1).normal(size=(shape[0], shape[-1]))
        axes = tuple(range(1, len(shape) - 1))
        positions = int(np.prod(shape[1:-1]))

        k = len(axes)
        y = global_avg_pool_op(num_position_axes=k)(jnp.asarray(x))
        np.testing.assert_allclose(y, x.mean(axis=axes), rtol=1e-14)
        manual, autodiff = _vjps(
            global_avg_pool_op(num_position_axes=k), jnp.asarray(x), jnp.asarray(dy)
        )
        expected = np.broadcast_to(np.expand_dims(dy, axes) / positions, shape)
        np.testing.assert_allclose(manual, expected, rtol=1e-14)
        np.testing.assert_allclose(autodiff, expected, rtol=1e-14)

        y = global_max_pool_op(num_position_axes=k)(jnp.asarray(x))
        np.testing.assert_array_equal(y, x.max(axis=axes))
        manual, autodiff = _vjps(
            global_max_pool_op(num_position_axes=k), jnp.asarray(x), jnp.asarray(dy)
        )
        expected = np.where(
            x == np.expand_dims(x.max(axis=axes), axes), np.expand_dims(dy, axes), 0
        )
        np.testing.assert_array_equal(manual, expected)  # random floats: no ties
        np.testing.assert_array_equal(autodiff, expected)


def test_global_max_ties_go_to_the_first_position_like_the_windowed_pools():
    with jax.enable_x64(True):
        x = jnp.ones((2, 3, 3, 2)).at[1, 2, 0, 1].set(4.0).at[1, 2, 2, 1].set(4.0)
        dy = jnp.array([[1.0, 2.0], [3.0, 4.0]])
        manual, autodiff = _vjps(global_max_pool_op(num_position_axes=2), x, dy)
        np.testing.assert_array_equal(manual, autodiff)
        expected = jnp.zeros_like(x).at[0, 0, 0].set(dy[0]).at[1, 0, 0, 0].set(3.0)
        np.testing.assert_array_equal(manual, expected.at[1, 2, 0, 1].set(4.0))
        # jnp.max's own autodiff would split dy evenly over the ties instead
        spread = jax.vjp(lambda x: jnp.max(x, axis=(1, 2)), x)[1](dy)[0]
        np.testing.assert_allclose(spread[0, :, :, 0], jnp.full((3, 3), 1 / 9))


def test_flatten_is_a_row_major_reshape_and_its_backward_the_inverse():
    x = jnp.arange(24.0).reshape(2, 3, 2, 2)
    y, _ = flatten(num_position_axes=2).apply((), (), x)
    np.testing.assert_array_equal(y, np.arange(24.0).reshape(2, 12))
    dy = jnp.arange(24.0).reshape(2, 12) * 2
    manual, autodiff = _vjps(flatten_op(num_position_axes=2), x, dy)
    np.testing.assert_array_equal(manual, dy.reshape(x.shape))
    np.testing.assert_array_equal(autodiff, manual)


def test_residuals_hold_no_input():
    x = jnp.ones((2, 4, 4, 3))
    y, (idx, witness) = global_max_pool_op(num_position_axes=2).fwd(x)
    assert idx.shape == y.shape == (2, 3) and jnp.issubdtype(idx.dtype, jnp.integer)
    assert witness.size == 0 and witness.shape[1:] == x.shape
    assert [r.size for r in global_avg_pool_op(num_position_axes=2).fwd(x)[1]] == [0]
    assert [r.size for r in flatten_op(num_position_axes=2).fwd(x)[1]] == [0]


@pytest.mark.parametrize(
    ("layer", "input_shape", "expected"),
    [
        (global_avg_pool(num_position_axes=2), (8, 7, 7, 64), (8, 64)),
        (global_max_pool(num_position_axes=1), (4, 10, 3), (4, 3)),
        (global_avg_pool(num_position_axes=1), (2, 4, 10, 3), (2, 4, 3)),
        (flatten(num_position_axes=2), (8, 7, 7, 64), (8, 3136)),
        (flatten(num_position_axes=1), (2, 3, 5, 4), (2, 3, 20)),
        (flatten(num_position_axes=0), (5, 3), (5, 3)),
    ],
)
def test_output_shapes(layer, input_shape, expected):
    # that apply agrees with init is the layer contract's (tests/core/test_layer_registry.py)
    assert layer.init(jax.random.key(0), input_shape) == (expected, (), ())


@pytest.mark.parametrize("name", list(LAYERS))
def test_vmap_over_single_examples_equals_the_batched_call(name):
    # Issue 13's bug: these layers took axis 0 for the one batch axis, so an example [L, C]
    # under vmap was read as a batch of L vectors.
    layer = LAYERS[name](num_position_axes=1)
    x = jax.random.normal(jax.random.key(0), (3, 5, 2))
    batched, _ = layer.apply((), (), x)
    mapped = jax.vmap(lambda example: layer.apply((), (), example)[0])(x)
    np.testing.assert_allclose(mapped, batched, rtol=1e-6)
    expected = {
        "global_avg_pool": x.mean(1),
        "global_max_pool": x.max(1),
        "flatten": x.reshape(3, 10),
    }
    np.testing.assert_allclose(batched, expected[name], rtol=1e-6)


@pytest.mark.parametrize("name", list(LAYERS))
def test_num_position_axes_is_required_and_checked(name):
    with pytest.raises(TypeError, match="num_position_axes"):
        LAYERS[name]()
    with pytest.raises(TypeError, match=f"{name}: expected num_position_axes to be"):
        LAYERS[name](num_position_axes="2")
    with pytest.raises(ValueError, match=f"{name}: expected num_position_axes to be"):
        LAYERS[name](num_position_axes=-1)
    layer = LAYERS[name](num_position_axes=2)
    with pytest.raises(
        ValueError, match=rf"{name}: expected an input \[\.\.\., \*positions, C\] of rank >= 3"
    ):
        layer.init(jax.random.key(0), (4, 3))


def test_global_max_backward_spreading_over_ties_is_caught():
    op = global_max_pool_op(num_position_axes=2)

    def bwd_to_all_ties(res, dy):
        # dx = (ties) dy: the planted bug (jnp.max's rule) needs x, so it is saved here
        (x,) = res
        y = jnp.max(x, axis=(1, 2), keepdims=True)
        return (jnp.where(x == y, dy[:, None, None, :], 0.0),)

    bad = make_op("global_max_pool", op.forward, lambda x: (op.forward(x), (x,)), bwd_to_all_ties)
    report = verify_op(bad, (Arg((2, 3, 3, 2), low=1.0, high=1.0),))  # constant: all tied
    failed = {(e.check, e.path) for c in report.cases for e in c.errors if not e.passed}
    assert ("autodiff", "x") in failed
    with pytest.raises(VerificationError, match=r"op 'global_max_pool'.*autodiff.*'x'"):
        report.raise_if_failed()


@pytest.mark.parametrize("name", ["global_avg_pool", "global_max_pool", "flatten"])
def test_registered_cases_exist_with_second_order(name):
    cases = registry.cases(name)
    assert len(cases) >= 2 and any(c.second_order for c in cases)


def test_manual_jvp_path_matches_autodiff_and_keeps_the_tie_rule():
    assert_manual_jvp_path_matches_autodiff(global_max_pool(num_position_axes=2), (1, 3, 2, 2))
    with jax.enable_x64(True):
        op = global_max_pool_op(num_position_axes=1)
        x = jnp.array([[1.0, 0.0], [3.0, 2.0], [3.0, 2.0]])  # ties in both channels
        v = jnp.arange(6.0).reshape(3, 2)
        manual = jax.jvp(lambda x: op(x, backward="manual_jvp"), (x,), (v,))[1]
        np.testing.assert_array_equal(manual, [2.0, 3.0])  # the first maximum's tangent
        np.testing.assert_array_equal(manual, jax.jvp(op.forward, (x,), (v,))[1])
