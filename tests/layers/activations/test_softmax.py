"""Softmax and log-softmax: verified backwards, the Jacobian, stability, axes, planted bugs.

The layers' shapes, jit, vmap and bad input: the layer contract (tests/core/test_layer_registry.py).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core import registry
from funcnet.core.registry import Arg
from funcnet.layers.activations import log_softmax, log_softmax_op, softmax, softmax_op
from funcnet.verify import VerificationError, verify_op

LAYERS = {"softmax": softmax, "log_softmax": log_softmax}
OPS = {"softmax": softmax_op, "log_softmax": log_softmax_op}


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_registered_cases_cover_each_axis(name):
    # Verified by tests/core/test_registry.py in float64 and float32.
    labels = {c.label for c in registry.cases(name)}
    assert {"vector", "batch_3d", "batch_3d_axis0", "batch_3d_axis1"} <= labels


def test_values_at_known_points():
    with jax.enable_x64(True):
        x = jnp.array([0.0, math.log(3.0)])
        np.testing.assert_allclose(softmax_op()(x), [0.25, 0.75], rtol=1e-15)
        np.testing.assert_allclose(log_softmax_op()(x), np.log([0.25, 0.75]), rtol=1e-15)
        np.testing.assert_allclose(softmax_op()(jnp.zeros(4)), np.full(4, 0.25), rtol=1e-15)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
def test_each_slice_along_the_axis_is_normalised(axis):
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (2, 3, 4), jnp.float64) * 3
        y = softmax_op(axis)(x)
        np.testing.assert_allclose(jnp.sum(y, axis=axis), 1.0, rtol=1e-14)
        np.testing.assert_allclose(log_softmax_op(axis)(x), jnp.log(y), rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(softmax_op(axis)(x + 1e3), y, rtol=1e-12)  # shift invariance
        expected = np.exp(x) / np.sum(np.exp(x), axis=axis, keepdims=True)
        np.testing.assert_allclose(y, expected, rtol=1e-14)


def test_jacobians_through_the_manual_backward_are_the_derived_ones():
    with jax.enable_x64(True):
        x = jnp.array([0.3, -1.2, 2.0, 0.5])
        y = softmax_op()(x)
        jac = jax.jacrev(softmax_op())(x)  # reverse mode: built from the hand-written VJP
        np.testing.assert_allclose(jac, jnp.diag(y) - jnp.outer(y, y), rtol=1e-14, atol=1e-16)
        jac = jax.jacrev(log_softmax_op())(x)
        np.testing.assert_allclose(jac, jnp.eye(4) - y[None, :], rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_logits_give_finite_values_and_gradients(dtype):
    with jax.enable_x64(dtype == "float64"):
        x = jnp.array([[1e4, -1e4, 0.0], [1e4, 1e4, -1e4]], dtype)
        dy = jnp.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], dtype)
        expected = {
            "softmax": [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]],
            "log_softmax": [[0.0, -2e4, -1e4], [-math.log(2), -math.log(2), -2e4 - math.log(2)]],
        }
        for name, make in OPS.items():
            op = make()
            y, grad = jax.value_and_grad(lambda x, op=op: jnp.sum(dy * op(x)))(x)
            value = op(x)
            assert value.dtype == grad.dtype == jnp.dtype(dtype)
            assert bool(jnp.all(jnp.isfinite(value))) and bool(jnp.all(jnp.isfinite(grad)))
            assert bool(jnp.isfinite(y))
            np.testing.assert_allclose(value, expected[name], rtol=1e-6)
        # softmax: dx = y ∘ (dy − Σ dy ∘ y): 0 on the saturated first row; on the tie Σ = −0.25
        grad = jax.grad(lambda x: jnp.sum(dy * softmax_op()(x)))(x)
        np.testing.assert_allclose(grad, [[0.0, 0.0, 0.0], [-0.375, 0.375, 0.0]], atol=1e-6)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_manual_and_autodiff_forwards_are_identical(name):
    for dtype, axis in (("float32", -1), ("float64", 0)):
        with jax.enable_x64(dtype == "float64"):
            x = jax.random.normal(jax.random.key(0), (3, 5), dtype) * 4
            op = OPS[name](axis)
            assert jnp.array_equal(op(x, backward="manual"), op(x, backward="autodiff"))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_residual_is_the_output_only(name):
    x = jnp.linspace(-3.0, 3.0, 6).reshape(2, 3)
    y, res = OPS[name]().fwd(x)
    assert len(res) == 1 and res[0] is y


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_bad_axes_raise_naming_the_layer(name):
    for bad in (1.0, "1", True, None):
        with pytest.raises(TypeError, match=f"{name}: expected axis to be an int, got {bad!r}"):
            LAYERS[name](axis=bad)
    for axis in (0, 1):  # counted from the front, the axis would change meaning under vmap
        with pytest.raises(ValueError, match=f"{name}: expected a negative axis .* axis={axis}"):
            LAYERS[name](axis=axis)
    for axis, shape in ((5, (2, 3)), (-3, (2, 3)), (-1, ())):
        r = len(shape)
        message = (
            f"{name}: expected axis in [{-r}, {r}) for an input of rank {r}, "
            f"got axis={axis} for shape {shape}."
        )
        op = OPS[name](axis)
        with pytest.raises(ValueError) as err:
            op(jnp.ones(shape))  # the op checks, under jit as well
        assert str(err.value) == message
        with pytest.raises(ValueError, match=f"{name}: expected axis in"):
            jax.jit(lambda x, op=op: op(x))(jnp.ones(shape))
        if axis < 0:
            with pytest.raises(ValueError) as err:
                LAYERS[name](axis=axis).init(jax.random.key(0), shape)
            assert str(err.value) == message


MATRIX = (Arg((4, 5)),)


def _assert_caught(bad_op, args=MATRIX):
    report = verify_op(bad_op, args)
    assert not report.passed
    with pytest.raises(VerificationError) as err:
        report.raise_if_failed()
    message = str(err.value)
    assert f"op '{bad_op.name}'" in message
    assert "check failed for 'x': max rel err" in message


def test_softmax_without_the_sum_term_is_caught():
    _assert_caught(softmax_op().with_bwd(lambda res, dy: (res[0] * dy,)))  # dx = y ∘ dy


def test_log_softmax_without_the_sum_term_is_caught():
    _assert_caught(log_softmax_op().with_bwd(lambda res, dy: (dy,)))  # dx = dy


def test_softmax_summing_over_the_wrong_axis_is_caught():
    def bwd(res, dy):
        (y,) = res
        return (y * (dy - jnp.sum(dy * y, axis=-1, keepdims=True)),)  # the op's axis is 0

    _assert_caught(softmax_op(0).with_bwd(bwd), (Arg((2, 3, 4)),))


def test_log_softmax_using_its_output_as_the_softmax_is_caught():
    def bwd(res, dy):
        (y,) = res
        return (dy - y * jnp.sum(dy, axis=-1, keepdims=True),)  # y is log-probabilities

    _assert_caught(log_softmax_op().with_bwd(bwd))
