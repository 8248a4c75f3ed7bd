"""Global average and max pooling and flatten: values, gradients, ties, shapes, errors.

The registry cases are verified by tests/core/test_registry.py."""

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

LAYERS = {"global_avg_pool": global_avg_pool, "global_max_pool": global_max_pool}


def _vjps(op, x, dy):
    return jax.vjp(op, x)[1](dy)[0], jax.vjp(op.forward, x)[1](dy)[0]


@pytest.mark.parametrize("shape", [(2, 5, 3), (2, 3, 4, 2), (1, 2, 3, 2, 2)])
def test_values_and_gradients_match_numpy(shape):
    with jax.enable_x64(True):
        x = np.random.default_rng(0).normal(size=shape)
        dy = np.random.default_rng(1).normal(size=(shape[0], shape[-1]))
        axes = tuple(range(1, len(shape) - 1))
        positions = int(np.prod(shape[1:-1]))

        y = global_avg_pool_op()(jnp.asarray(x))
        np.testing.assert_allclose(y, x.mean(axis=axes), rtol=1e-14)
        manual, autodiff = _vjps(global_avg_pool_op(), jnp.asarray(x), jnp.asarray(dy))
        expected = np.broadcast_to(np.expand_dims(dy, axes) / positions, shape)
        np.testing.assert_allclose(manual, expected, rtol=1e-14)
        np.testing.assert_allclose(autodiff, expected, rtol=1e-14)

        y = global_max_pool_op()(jnp.asarray(x))
        np.testing.assert_array_equal(y, x.max(axis=axes))
        manual, autodiff = _vjps(global_max_pool_op(), jnp.asarray(x), jnp.asarray(dy))
        expected = np.where(
            x == np.expand_dims(x.max(axis=axes), axes), np.expand_dims(dy, axes), 0
        )
        np.testing.assert_array_equal(manual, expected)  # random floats: no ties
        np.testing.assert_array_equal(autodiff, expected)


def test_global_max_ties_go_to_the_first_position_like_the_windowed_pools():
    with jax.enable_x64(True):
        x = jnp.ones((2, 3, 3, 2)).at[1, 2, 0, 1].set(4.0).at[1, 2, 2, 1].set(4.0)
        dy = jnp.array([[1.0, 2.0], [3.0, 4.0]])
        manual, autodiff = _vjps(global_max_pool_op(), x, dy)
        np.testing.assert_array_equal(manual, autodiff)
        expected = jnp.zeros_like(x).at[0, 0, 0].set(dy[0]).at[1, 0, 0, 0].set(3.0)
        np.testing.assert_array_equal(manual, expected.at[1, 2, 0, 1].set(4.0))
        # jnp.max's own autodiff would split dy evenly over the ties instead
        spread = jax.vjp(lambda x: jnp.max(x, axis=(1, 2)), x)[1](dy)[0]
        np.testing.assert_allclose(spread[0, :, :, 0], jnp.full((3, 3), 1 / 9))


def test_flatten_is_a_row_major_reshape_and_its_backward_the_inverse():
    x = jnp.arange(24.0).reshape(2, 3, 2, 2)
    y, _ = flatten().apply((), (), x)
    np.testing.assert_array_equal(y, np.arange(24.0).reshape(2, 12))
    dy = jnp.arange(24.0).reshape(2, 12) * 2
    manual, autodiff = _vjps(flatten_op(), x, dy)
    np.testing.assert_array_equal(manual, dy.reshape(x.shape))
    np.testing.assert_array_equal(autodiff, manual)
    assert flatten().apply((), (), jnp.ones(3))[0].shape == (3, 1)


def test_residuals_hold_no_input():
    x = jnp.ones((2, 4, 4, 3))
    y, (idx, witness) = global_max_pool_op().fwd(x)
    assert idx.shape == y.shape == (2, 3) and jnp.issubdtype(idx.dtype, jnp.integer)
    assert witness.size == 0 and witness.shape[1:] == x.shape
    assert [r.size for r in global_avg_pool_op().fwd(x)[1]] == [0]
    assert [r.size for r in flatten_op().fwd(x)[1]] == [0]


@pytest.mark.parametrize(
    ("layer", "input_shape", "expected"),
    [
        (global_avg_pool(), (8, 7, 7, 64), (8, 64)),
        (global_max_pool(), (4, 10, 3), (4, 3)),
        (flatten(), (8, 7, 7, 64), (8, 3136)),
        (flatten(), (5, 3), (5, 3)),
    ],
)
def test_output_shapes(layer, input_shape, expected):
    out_shape, params, state = layer.init(jax.random.key(0), input_shape)
    assert out_shape == expected and params == () and state == ()
    for backward in ("manual", "autodiff"):
        y, _ = layer.apply(params, state, jnp.zeros(input_shape), backward=backward)
        assert y.shape == expected


@pytest.mark.parametrize("name", list(LAYERS))
def test_bad_inputs_raise_errors_naming_the_layer(name):
    layer = LAYERS[name]()
    rank_error = rf"{name}: expected an input \[N, \*spatial, C\] of rank >= 3, got shape \(4, 3\)"
    with pytest.raises(ValueError, match=rank_error):
        layer.apply((), (), jnp.ones((4, 3)))
    with pytest.raises(ValueError, match=f"{name}: expected an input .* of rank >= 3"):
        layer.init(jax.random.key(0), (4, 3))
    dtype_error = f"{name}: expected a floating-point input, got dtype int32"
    with pytest.raises(ValueError, match=dtype_error):
        layer.apply((), (), jnp.ones((2, 3, 3), jnp.int32))
    with pytest.raises(ValueError, match=f"{name}: expected an input .* of rank >= 3"):
        jax.jit(lambda x: layer.apply((), (), x)[0])(jnp.ones((4, 3)))


def test_flatten_errors():
    with pytest.raises(
        ValueError, match=r"flatten: expected an input of rank >= 1, got shape \(\)"
    ):
        flatten().apply((), (), jnp.ones(()))
    with pytest.raises(ValueError, match="flatten: expected a floating-point input, got dtype"):
        flatten().apply((), (), jnp.ones((2, 3), jnp.int32))
    with pytest.raises(ValueError, match="flatten: expected positive dimensions"):
        flatten().init(jax.random.key(0), (2, 0))


def test_global_max_backward_spreading_over_ties_is_caught():
    op = global_max_pool_op()

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
