"""The dropout layer and op: masks from explicit keys, scaling, identity modes, errors.

Shapes, gradients (with a fixed key), jit, vmap and bad input: the layer contract
(tests/core/test_layer_registry.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core.registry import Arg
from funcnet.layers.dropout import dropout, dropout_op
from funcnet.verify import VerificationError, verify_op
from tests.core.manual_jvp_path import assert_manual_jvp_matches_autodiff


def _apply(layer, x, **kwargs):
    _, params, state = layer.init(jax.random.key(0), x.shape)
    return layer.apply(params, state, x, **kwargs)[0]


def test_kept_elements_are_scaled_and_dropped_ones_are_zero():
    x = jax.random.normal(jax.random.key(1), (6, 7))
    key = jax.random.key(2)
    y = np.asarray(_apply(dropout(0.25), x, key=key, train=True))
    keep = np.asarray(jax.random.bernoulli(key, 0.75, x.shape))  # the documented draw
    np.testing.assert_allclose(y, np.where(keep, np.asarray(x) / 0.75, 0.0), rtol=1e-6)
    assert 0 < keep.sum() < keep.size


def test_keep_fraction_and_mean_are_close_to_their_expectation():
    # 20,000 Bernoulli(0.7) draws from a fixed key: the keep fraction's standard deviation is
    # 0.0032 and that of the mean of y is 0.0046, so the bounds are over 6 sigma wide.
    y = _apply(dropout(0.3), jnp.ones((200, 100)), key=jax.random.key(3), train=True)
    assert float(jnp.mean(y != 0)) == pytest.approx(0.7, abs=0.02)
    assert float(jnp.mean(y)) == pytest.approx(1.0, abs=0.03)


def test_same_key_same_mask_other_key_other_mask():
    layer, x = dropout(0.5), jnp.ones((8, 8))
    a = _apply(layer, x, key=jax.random.key(4), train=True)
    b = _apply(layer, x, key=jax.random.key(4), train=True)
    c = _apply(layer, x, key=jax.random.key(5), train=True)
    np.testing.assert_array_equal(a, b)
    assert jnp.any(a != c)


def test_evaluation_and_zero_rate_are_the_identity():
    x = jax.random.normal(jax.random.key(0), (3, 4))
    np.testing.assert_array_equal(_apply(dropout(0.9), x), x)  # train=False needs no key
    np.testing.assert_array_equal(_apply(dropout(0.9), x, key=jax.random.key(1)), x)
    np.testing.assert_array_equal(_apply(dropout(0.0), x, key=jax.random.key(1), train=True), x)


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
def test_gradient_reuses_the_forward_mask(backward):
    layer, x = dropout(0.4), jax.random.normal(jax.random.key(0), (5, 6))
    key, c = jax.random.key(7), jax.random.normal(jax.random.key(8), (5, 6))

    def f(x):
        return jnp.sum(c * _apply(layer, x, key=key, train=True, backward=backward))

    keep = jax.random.bernoulli(key, 0.6, x.shape)
    np.testing.assert_allclose(jax.grad(f)(x), jnp.where(keep, c / 0.6, 0.0), rtol=1e-6)


def test_jit_and_vmap_over_keys():
    layer = dropout(0.5)
    _, params, state = layer.init(jax.random.key(0), (4, 5))
    x = jax.random.normal(jax.random.key(1), (4, 5))
    keys = jax.random.split(jax.random.key(2), 3)

    def run(key):
        return layer.apply(params, state, x, key=key, train=True)[0]

    batched = jax.jit(jax.vmap(run))(keys)
    for i in range(3):
        np.testing.assert_array_equal(batched[i], run(keys[i]))
        np.testing.assert_array_equal(jax.jit(run)(keys[i]), run(keys[i]))


def test_residual_is_the_mask_only():
    x, mask = jnp.ones((3, 4)), jax.random.bernoulli(jax.random.key(0), 0.5, (3, 4))
    _, res = dropout_op(0.5).fwd(x, mask)
    assert res.dtype == jnp.bool_ and res.shape == (3, 4)


def test_planted_bug_forgetting_the_scale_is_caught():
    op = dropout_op(0.5)
    bad = op.with_bwd(lambda mask, dy: (dy * mask.astype(dy.dtype), None))
    report = verify_op(bad, (Arg((3, 4)), Arg((3, 4), kind="int", high=2)))
    with pytest.raises(VerificationError, match=r"op 'dropout'.*autodiff check failed for 'x'"):
        report.raise_if_failed()


@pytest.mark.parametrize(
    ("drop_rate", "error"),
    [(-0.1, ValueError), (1.0, ValueError), (1.5, ValueError), (float("nan"), ValueError),
     (True, TypeError), ("0.5", TypeError), (None, TypeError)],
)  # fmt: skip
def test_bad_drop_rate(drop_rate, error):
    with pytest.raises(error, match=r"dropout: expected drop_rate to be a number in \[0, 1\)"):
        dropout(drop_rate)
    with pytest.raises(error, match="dropout: expected drop_rate"):
        dropout_op(drop_rate)


def test_bad_inputs_name_the_layer_expected_and_actual():
    layer, x = dropout(0.5), jnp.ones((2, 3))
    with pytest.raises(TypeError, match="dropout: expected a PRNG key when train=True"):
        _apply(layer, x, train=True)
    with pytest.raises(TypeError, match="dropout: expected a PRNG key when train=True"):
        _apply(dropout(0.0), x, train=True)
    op = dropout_op(0.5)
    with pytest.raises(
        ValueError, match="dropout: expected an integer or bool keep_mask, got dtype"
    ):
        op(x, jnp.ones((2, 3)))
    with pytest.raises(
        ValueError, match=r"dropout: expected keep_mask of the input's shape \(2, 3\), got \(3,\)"
    ):
        op(x, jnp.ones((3,), jnp.int32))


def test_manual_jvp_path_matches_autodiff(x64):
    layer = dropout(0.5)

    def apply(x, key, backward):
        return layer.apply((), (), x, key=key, train=True, backward=backward)[0]

    x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 4)))
    assert_manual_jvp_matches_autodiff(apply, x, jax.random.key(1))
