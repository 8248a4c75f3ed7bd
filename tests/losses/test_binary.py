"""Tests of funcnet/losses/binary.py (binary_cross_entropy_with_logits)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.losses import binary_cross_entropy_with_logits
from funcnet.verify import VerificationError, verify_op

loss = binary_cross_entropy_with_logits()


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
def test_zero_logits_cost_log2_and_gradient_half_minus_target(backward):
    z, t = jnp.zeros(4), jnp.array([0.0, 0.25, 0.5, 1.0])
    f = lambda z, t: loss(z, t, backward=backward)  # noqa: E731
    assert float(f(z, t)) == pytest.approx(math.log(2.0))
    dz, dt = jax.grad(f, argnums=(0, 1))(z, t)
    np.testing.assert_allclose(dz, (0.5 - t) / 4, atol=1e-7)  # σ(0) = ½, exactly at the kink
    np.testing.assert_allclose(dt, 0.0, atol=0)


def test_known_value():
    # −[1·log σ(2)] − [1·log σ(−2)] over two elements: mean of log(1 + e^{−2}), log(1 + e^{2}).
    z, t = jnp.array([2.0, 2.0]), jnp.array([1.0, 0.0])
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(2.0))) / 2
    assert float(loss(z, t)) == pytest.approx(expected, rel=1e-6)


def test_matches_optax():
    with jax.enable_x64(True):
        kz, kt = jax.random.split(jax.random.key(0))
        z = 4 * jax.random.normal(kz, (2, 3, 5), jnp.float64)
        t = jax.random.uniform(kt, (2, 3, 5), jnp.float64)
        reference = lambda z, t: jnp.mean(optax.sigmoid_binary_cross_entropy(z, t))  # noqa: E731
        np.testing.assert_allclose(loss(z, t), reference(z, t), rtol=1e-12)
        ours = jax.grad(loss, argnums=(0, 1))(z, t)
        theirs = jax.grad(reference, argnums=(0, 1))(z, t)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("magnitude", [100.0, 1e4])
@pytest.mark.parametrize("backward", ["manual", "autodiff"])
def test_stable_at_extreme_logits(magnitude, backward):
    z = jnp.array([magnitude, -magnitude, magnitude, -magnitude], jnp.float32)
    t = jnp.array([1.0, 0.0, 0.0, 1.0], jnp.float32)
    f = lambda z, t: loss(z, t, backward=backward)  # noqa: E731
    value = f(z, t)
    # Two confident right answers cost ~0, two confident wrong ones cost |z| each.
    assert float(value) == pytest.approx(2 * magnitude / 4, rel=1e-6)
    dz, dt = jax.grad(f, argnums=(0, 1))(z, t)
    assert bool(jnp.all(jnp.isfinite(dz))) and bool(jnp.all(jnp.isfinite(dt)))
    np.testing.assert_allclose(dz, jnp.array([0.0, 0.0, 1.0, -1.0]) / 4, atol=1e-7)


@pytest.mark.parametrize(
    ("z", "t", "fragment"),
    [
        (jnp.zeros((3, 2)), jnp.zeros((3,)), "shape (3, 2)"),
        (jnp.zeros((3,), jnp.int32), jnp.zeros((3,), jnp.int32), "floating-point"),
        (jnp.zeros((3,)), jnp.zeros((3,), jnp.int32), "dtype float32"),
    ],
)
def test_bad_inputs_raise(z, t, fragment):
    for backward in ("manual", "autodiff"):
        with pytest.raises(ValueError, match="binary_cross_entropy_with_logits") as info:
            loss(z, t, backward=backward)
        assert fragment in str(info.value)


def test_planted_bug_missing_target_term_is_caught():
    def bad_bwd(res, g):
        z, _ = res
        return g * jax.nn.sigmoid(z) / z.size, -g * z / z.size  # forgot the − t

    with pytest.raises(VerificationError) as info:
        verify_op(loss.with_bwd(bad_bwd)).raise_if_failed()
    message = str(info.value)
    assert "'binary_cross_entropy_with_logits'" in message
    assert "autodiff check failed for 'z'" in message
    assert "autodiff check failed for 't'" not in message
