"""Tests of funcnet/losses/penalty.py (l2_penalty, l2_penalty_tree)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.losses import l2_penalty, l2_penalty_tree
from funcnet.verify import VerificationError, verify_op


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
def test_known_value_and_gradient(backward):
    w = jnp.array([1.0, -2.0, 3.0])
    f = lambda w: l2_penalty(0.5)(w, backward=backward)  # noqa: E731
    assert float(f(w)) == pytest.approx(3.5)  # 0.5 · ½ · 14
    np.testing.assert_allclose(jax.grad(f)(w), 0.5 * w)


def test_matches_optax_l2_loss():
    w = jax.random.normal(jax.random.key(0), (3, 4))
    reference = lambda w: 0.1 * jnp.sum(optax.l2_loss(w))  # noqa: E731
    np.testing.assert_allclose(l2_penalty(0.1)(w), reference(w), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(l2_penalty(0.1))(w), jax.grad(reference)(w), rtol=1e-6)


def test_zero_scale_gives_zero():
    w = jnp.ones((2, 2))
    assert float(l2_penalty(0)(w)) == 0.0
    np.testing.assert_array_equal(jax.grad(l2_penalty(0.0))(w), jnp.zeros((2, 2)))


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
def test_tree_sums_floating_leaves_and_skips_none(backward):
    params = [{"w": jnp.array([[1.0, 2.0]]), "b": None}, {"w": jnp.array([3.0]), "b": None}]
    f = lambda p: l2_penalty_tree(p, scale=2.0, backward=backward)  # noqa: E731
    assert float(f(params)) == pytest.approx(14.0)  # 2 · ½ · (1 + 4 + 9)
    grads = jax.grad(f)(params)
    assert grads[0]["b"] is None and grads[1]["b"] is None
    np.testing.assert_allclose(grads[0]["w"], 2.0 * params[0]["w"])
    np.testing.assert_allclose(grads[1]["w"], 2.0 * params[1]["w"])


def test_tree_skips_integer_leaves_and_empty_tree_is_zero():
    params = {"w": jnp.array([2.0]), "step": jnp.array(100, jnp.int32)}
    assert float(l2_penalty_tree(params)) == pytest.approx(2.0)
    assert float(l2_penalty_tree({"b": None})) == 0.0
    assert float(l2_penalty_tree(())) == 0.0


@pytest.mark.parametrize("scale", [-1.0, float("inf"), float("nan"), True, "0.1", None])
def test_bad_scale_raises(scale):
    with pytest.raises(ValueError, match="l2_penalty: expected scale"):
        l2_penalty(scale)
    with pytest.raises(ValueError, match="l2_penalty_tree: expected scale"):
        l2_penalty_tree({"w": jnp.ones(2)}, scale=scale)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="l2_penalty: expected floating-point w, got dtype int32"):
        l2_penalty()(jnp.ones(3, jnp.int32), backward="autodiff")
    with pytest.raises(ValueError, match=r"l2_penalty_tree.*'sideways'"):
        l2_penalty_tree({"w": jnp.ones(2)}, backward="sideways")


def test_planted_bug_missing_scale_is_caught():
    op = l2_penalty(0.1)
    bad = op.with_bwd(lambda w, g: (g * w,))  # forgot the scale
    report = verify_op(bad)
    assert not report.passed
    with pytest.raises(VerificationError, match=r"op 'l2_penalty'.*autodiff check failed for 'w'"):
        report.raise_if_failed()
