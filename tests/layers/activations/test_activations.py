"""Elementwise activations: verified backwards, values, stability, errors, planted bugs.

Covers funcnet/layers/activations/basic.py and funcnet/layers/activations/smooth.py; the layers'
shapes, jit, vmap and bad input: the layer contract (tests/core/test_layer_registry.py).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core import registry
from funcnet.core.registry import Arg
from funcnet.layers import dense, residual, serial
from funcnet.layers.activations import (
    elu,
    elu_op,
    gelu,
    gelu_op,
    identity_op,
    leaky_relu,
    leaky_relu_op,
    relu_op,
    sigmoid_op,
    softplus_op,
    tanh_op,
)
from funcnet.verify import VerificationError, verify_op

NAMES = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus"]
OPS = {
    "identity": identity_op(),
    "sigmoid": sigmoid_op(),
    "tanh": tanh_op(),
    "relu": relu_op(),
    "leaky_relu": leaky_relu_op(),
    "leaky_relu(-0.5)": leaky_relu_op(-0.5),
    "elu": elu_op(),
    "elu(2)": elu_op(2.0),
    "gelu": gelu_op(),
    "gelu(approximate)": gelu_op(True),
    "softplus": softplus_op(),
}


def _value_and_grad(op, x):
    """``op(x)`` and ``d Σ op(x) / dx`` through the hand-written backward."""
    return op(x), jax.grad(lambda x: jnp.sum(op(x, backward="manual")))(x)


@pytest.mark.parametrize("name", NAMES)
def test_registered_cases_cover_1d_2d_and_3d_inputs(name):
    # Verified by tests/core/test_registry.py in float64 and float32.
    ranks = {len(c.args[0].shape) for c in registry.cases(name)}
    assert {1, 2, 3} <= ranks


@pytest.mark.parametrize(
    ("op", "x", "y", "dx"),
    [
        (identity_op(), -1.5, -1.5, 1.0),
        (sigmoid_op(), 0.0, 0.5, 0.25),
        (sigmoid_op(), math.log(3), 0.75, 0.1875),
        (tanh_op(), 0.0, 0.0, 1.0),
        (tanh_op(), 1.0, 0.7615941559557649, 0.41997434161402614),
        (relu_op(), -1.0, 0.0, 0.0),
        (relu_op(), 2.0, 2.0, 1.0),
        (leaky_relu_op(), -2.0, -0.02, 0.01),
        (leaky_relu_op(0.2), -2.0, -0.4, 0.2),
        (leaky_relu_op(-0.5), -2.0, 1.0, -0.5),
        (leaky_relu_op(0.2), 3.0, 3.0, 1.0),
        (elu_op(), -1.0, math.expm1(-1), math.exp(-1)),
        (elu_op(2.0), -1.0, 2 * math.expm1(-1), 2 * math.exp(-1)),
        (elu_op(), 3.0, 3.0, 1.0),
        (gelu_op(), 0.0, 0.0, 0.5),
        (gelu_op(), 1.0, 0.8413447460685429, 1.0833154705876864),
        (gelu_op(), -1.0, -0.15865525393145707, -0.08331547058768637),
        (gelu_op(True), 1.0, 0.8411919906082768, 1.0829640838457826),
        (softplus_op(), 0.0, math.log(2), 0.5),
        (softplus_op(), 1.0, 1.3132616875182228, 0.7310585786300049),
    ],
)
def test_values_and_derivatives_at_known_points(op, x, y, dx):
    with jax.enable_x64(True):
        value, grad = _value_and_grad(op, jnp.float64(x))
        assert float(value) == pytest.approx(y, rel=1e-14, abs=1e-15)
        assert float(grad) == pytest.approx(dx, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    ("op", "x", "y", "dx"),
    [
        (sigmoid_op(), [-1e4, -100.0, 100.0, 1e4], [0.0, 3.720076e-44, 1.0, 1.0], 0.0),
        (tanh_op(), [-1e4, 1e4], [-1.0, 1.0], 0.0),
        (softplus_op(), [-1e4, 1e4], [0.0, 1e4], [0.0, 1.0]),
        (elu_op(), [-1e4, -1e30], [-1.0, -1.0], 0.0),
        (gelu_op(), [-40.0, 40.0, -1e4, 1e4], [0.0, 40.0, 0.0, 1e4], [0.0, 1.0, 0.0, 1.0]),
        (gelu_op(True), [-40.0, 40.0, -1e4, 1e4], [0.0, 40.0, 0.0, 1e4], [0.0, 1.0, 0.0, 1.0]),
        (gelu_op(True), [-1e30, 1e30], [0.0, 1e30], [0.0, 1.0]),  # x³ and x² overflow
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_inputs_give_finite_values_and_gradients(op, x, y, dx, dtype):
    with jax.enable_x64(dtype == "float64"):
        value, grad = _value_and_grad(op, jnp.asarray(x, dtype))
        assert value.dtype == grad.dtype == jnp.dtype(dtype)
        assert bool(jnp.all(jnp.isfinite(value))) and bool(jnp.all(jnp.isfinite(grad)))
        np.testing.assert_allclose(value, np.broadcast_to(y, value.shape), rtol=1e-6, atol=1e-30)
        np.testing.assert_allclose(grad, np.broadcast_to(dx, grad.shape), rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("name", list(OPS))
def test_manual_and_autodiff_forwards_are_identical(name):
    op = OPS[name]
    for dtype in ("float32", "float64"):
        with jax.enable_x64(dtype == "float64"):
            x = jax.random.normal(jax.random.key(0), (3, 5), dtype) * 4
            assert jnp.array_equal(op(x, backward="manual"), op(x, backward="autodiff"))


def test_residuals_are_minimal():
    x = jnp.linspace(-3.0, 3.0, 8)
    assert identity_op().fwd(x)[1] == ()
    for op in (sigmoid_op(), tanh_op(), relu_op(), elu_op(), softplus_op()):
        y, res = op.fwd(x)
        assert len(res) == 1 and res[0] is y  # the output itself: no extra buffer
    (mask,) = leaky_relu_op().fwd(x)[1]
    assert mask.dtype == jnp.bool_
    (saved,) = gelu_op().fwd(x)[1]
    assert saved is x


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_backward_keeps_no_forward_intermediates_alive(approximate):
    # Two dense → gelu → dense blocks. If gelu's backward recomputed Φ(x) (or tanh u) with the
    # forward's own expression, XLA would merge the two (CSE) and keep erfc's (tanh's)
    # intermediates alive from the forward to the backward: 10.5 (6.5) arrays of [B, T, 4D]
    # compiled temporaries instead of 5.25 (autodiff: 10 and 6).
    b, t, d = 4, 32, 32
    layer = serial(*[residual(dense(4 * d), gelu(approximate), dense(d)) for _ in range(2)])
    _, params, state = layer.init(jax.random.key(0), (b, t, d))

    def scalar(params, x):
        return jnp.sum(jnp.sin(layer.apply(params, state, x)[0]))

    step = jax.jit(jax.grad(scalar, argnums=(0, 1))).lower(params, jnp.ones((b, t, d)))
    temp = step.compile().memory_analysis().temp_size_in_bytes
    assert temp <= 6 * b * t * 4 * d * 4


@pytest.mark.parametrize(
    ("make", "bad", "error", "message"),
    [
        (
            leaky_relu,
            float("nan"),
            ValueError,
            "leaky_relu: expected negative_slope to be a finite",
        ),
        (
            leaky_relu,
            float("inf"),
            ValueError,
            "leaky_relu: expected negative_slope to be a finite",
        ),
        (leaky_relu, "0.1", TypeError, "leaky_relu: expected negative_slope to be a finite float"),
        (leaky_relu, True, TypeError, "leaky_relu: expected negative_slope to be a finite float"),
        (elu, 0.0, ValueError, r"elu: expected alpha > 0, got 0\.0"),
        (elu, -1, ValueError, r"elu: expected alpha > 0, got -1\.0"),
        (elu, float("nan"), ValueError, "elu: expected alpha to be a finite float, got nan"),
        (gelu, 1, TypeError, "gelu: expected approximate to be a bool, got 1"),
        (gelu, "tanh", TypeError, "gelu: expected approximate to be a bool, got 'tanh'"),
    ],
)
def test_bad_hyperparameters_raise_naming_the_layer(make, bad, error, message):
    with pytest.raises(error, match=message):
        make(bad)


def _assert_caught(bad_op, check):
    """``bad_op`` fails the verifier, whose message names the op, the argument and the check."""
    report = verify_op(bad_op, (Arg((4, 5)),))
    assert not report.passed
    with pytest.raises(VerificationError) as err:
        report.raise_if_failed()
    message = str(err.value)
    assert f"op '{bad_op.name}'" in message
    assert f"{check} check failed for 'x': max rel err" in message


def _gelu_without_pdf_term(res, dy):
    (x,) = res
    return (dy * 0.5 * jax.lax.erfc(-x / math.sqrt(2)),)


@pytest.mark.parametrize(
    ("bad_op", "check"),
    [
        (sigmoid_op().with_bwd(lambda res, dy: (dy * res[0],)), "autodiff"),  # no (1 − y)
        (tanh_op().with_bwd(lambda res, dy: (dy * (1 - res[0]),)), "autodiff"),  # 1 − y, not 1 − y²
        (relu_op().with_bwd(lambda res, dy: (dy,)), "finite_differences"),  # no mask
        (leaky_relu_op(0.2).with_bwd(lambda res, dy: (jnp.where(res[0], dy, 0),)), "autodiff"),
        (elu_op().with_bwd(lambda res, dy: (jnp.where(res[0] > 0, dy, dy * res[0]),)), "autodiff"),
        (gelu_op().with_bwd(_gelu_without_pdf_term), "autodiff"),  # Φ(x) only
        (softplus_op().with_bwd(lambda res, dy: (dy * jnp.exp(-res[0]),)), "autodiff"),  # 1 − σ
    ],
    ids=["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus"],
)
def test_planted_bugs_are_caught(bad_op, check):
    _assert_caught(bad_op, check)


def test_planted_bug_is_caught_on_the_registered_cases():
    report = verify_op(sigmoid_op().with_bwd(lambda res, dy: (dy * res[0],)))
    assert not report.passed
    assert all(not c.passed for c in report.cases)
    with pytest.raises(VerificationError, match=r"op 'sigmoid', case 'vector'.*for 'x'"):
        report.raise_if_failed()
