"""Tests of funcnet/losses/regression.py (mean_squared_error)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.losses import mean_squared_error
from funcnet.verify import VerificationError, verify_op

Y = [[1.0, 2.0], [3.0, 4.0]]
T = [[0.0, 0.0], [1.0, 1.0]]  # y − t = [[1, 2], [2, 3]]: Σ d² = 18 over N = 4


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
@pytest.mark.parametrize(("reduction", "expected"), [("mean", 4.5), ("half_sum", 9.0)])
def test_known_values(reduction, expected, backward):
    loss = mean_squared_error(reduction)
    y, t = jnp.array(Y), jnp.array(T)
    assert float(loss(y, t, backward=backward)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("reduction", "expected_dy"),
    [("mean", [[0.5, 1.0], [1.0, 1.5]]), ("half_sum", [[1.0, 2.0], [2.0, 3.0]])],
)
def test_known_gradients(reduction, expected_dy):
    loss = mean_squared_error(reduction)
    dy, dt = jax.grad(loss, argnums=(0, 1))(jnp.array(Y), jnp.array(T))
    np.testing.assert_allclose(dy, expected_dy, rtol=1e-6)
    np.testing.assert_allclose(dt, -np.array(expected_dy), rtol=1e-6)


def test_matches_optax():
    with jax.enable_x64(True):
        y, t = jax.random.normal(jax.random.key(0), (2, 3, 4, 5), jnp.float64)
        cases = [
            (mean_squared_error("mean"), lambda y, t: jnp.mean(optax.squared_error(y, t))),
            (mean_squared_error("half_sum"), lambda y, t: jnp.sum(optax.l2_loss(y, t))),
        ]
        for loss, reference in cases:
            np.testing.assert_allclose(loss(y, t), reference(y, t), rtol=1e-12)
            ours = jax.grad(loss, argnums=(0, 1))(y, t)
            theirs = jax.grad(reference, argnums=(0, 1))(y, t)
            for a, b in zip(ours, theirs, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-12)


def test_cotangents_keep_dtype_and_shape():
    y = jnp.ones((3, 2), jnp.bfloat16)
    dy, dt = jax.grad(mean_squared_error(), argnums=(0, 1))(y, jnp.zeros((3, 2), jnp.bfloat16))
    assert dy.dtype == dt.dtype == jnp.bfloat16
    assert dy.shape == dt.shape == (3, 2)


def test_jit_and_manual_agree_with_autodiff():
    loss = mean_squared_error()
    y, t = jnp.array(Y), jnp.array(T)
    manual = jax.jit(jax.grad(lambda y: loss(y, t)))(y)
    auto = jax.grad(lambda y: loss(y, t, backward="autodiff"))(y)
    np.testing.assert_allclose(manual, auto, rtol=1e-6)


@pytest.mark.parametrize(
    ("y", "t", "fragment"),
    [
        (jnp.ones((3, 2)), jnp.ones((2, 3)), "shape (3, 2)"),
        (jnp.ones((3,), jnp.int32), jnp.ones((3,), jnp.int32), "floating-point"),
        (jnp.ones((3,), jnp.float32), jnp.ones((3,), jnp.bfloat16), "dtype float32"),
    ],
)
def test_bad_inputs_raise(y, t, fragment):
    loss = mean_squared_error()
    for backward in ("manual", "autodiff"):
        with pytest.raises(ValueError, match="mean_squared_error") as info:
            loss(y, t, backward=backward)
        assert fragment in str(info.value)
    if jnp.issubdtype(y.dtype, jnp.floating):
        with pytest.raises(ValueError, match="mean_squared_error"):
            jax.grad(loss)(y, t)  # fwd validates too


def test_bad_reduction_raises():
    with pytest.raises(ValueError, match=r"mean_squared_error.*\('mean', 'half_sum'\).*'sum'"):
        mean_squared_error("sum")


def test_planted_bug_flipped_dt_sign_is_caught():
    op = mean_squared_error()

    def bad_bwd(res, g):
        dy, dt = op.bwd(res, g)
        return dy, -dt  # dt = +dy: the wrong sign

    report = verify_op(op.with_bwd(bad_bwd))
    assert not report.passed
    with pytest.raises(VerificationError) as info:
        report.raise_if_failed()
    message = str(info.value)
    assert "'mean_squared_error'" in message
    assert "autodiff check failed for 't'" in message
    assert "autodiff check failed for 'y'" not in message  # dy is still right
