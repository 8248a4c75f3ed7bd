"""The op binding: manual and autodiff paths, the static backward choice."""

import jax
import jax.numpy as jnp
import pytest

from funcnet.core.op import check_backward, make_op
from funcnet.layers.dense import dense_op


def _square_op(bwd_scale=2.0):
    def forward(x):
        return x * x

    def fwd(x):
        return forward(x), (x,)

    def bwd(res, dy):
        (x,) = res
        return (bwd_scale * x * dy,)

    return make_op("square", forward, fwd, bwd)


def test_manual_path_uses_the_hand_written_backward():
    wrong = _square_op(bwd_scale=3.0)  # a deliberately wrong backward
    x = jnp.array([1.0, 2.0])
    manual = jax.grad(lambda x: jnp.sum(wrong(x, backward="manual")))(x)
    autodiff = jax.grad(lambda x: jnp.sum(wrong(x, backward="autodiff")))(x)
    assert jnp.allclose(manual, 3.0 * x)
    assert jnp.allclose(autodiff, 2.0 * x)


def test_both_paths_give_identical_forward_values():
    op = dense_op()
    x, w, b = jnp.ones((3, 4)), jnp.arange(8.0).reshape(4, 2), jnp.array([1.0, -1.0])
    assert jnp.array_equal(op(x, w, b, backward="manual"), op(x, w, b, backward="autodiff"))


def test_invalid_backward_names_the_op():
    with pytest.raises(ValueError, match=r"dense: expected backward to be one of .* got 'auto'"):
        dense_op()(jnp.ones((1, 2)), jnp.ones((2, 2)), jnp.ones(2), backward="auto")
    with pytest.raises(TypeError, match="train step"):  # not a string: a wrong kind of object
        check_backward(None, "train step")
    with pytest.raises(ValueError, match="train step"):
        check_backward("Manual", "train step")


def test_with_bwd_keeps_name_and_forward():
    op = _square_op()
    other = op.with_bwd(lambda res, dy: (dy,))
    assert other.name == "square"
    assert other.forward is op.forward
    assert jnp.allclose(jax.grad(lambda x: other(x))(3.0), 1.0)


def test_unused_outputs_reach_the_backward_as_none():
    seen = []

    def forward(x):
        return 3.0 * x, jnp.sum(x)

    def fwd(x):
        return forward(x), x.shape

    def bwd(shape, cotangents):
        # dx = 3·dy₀ + dy₁ (each term only when its output is differentiated)
        d_scaled, d_sum = cotangents
        seen.append(tuple(c is None for c in cotangents))
        dx = jnp.zeros(shape) if d_scaled is None else 3.0 * d_scaled
        return (dx if d_sum is None else dx + d_sum,)

    op = make_op("scaled_and_sum", forward, fwd, bwd, unused_outputs=True)
    x = jnp.arange(4.0)

    def loss(v, stop_sum):
        scaled, total = op(v)
        return jnp.sum(scaled) + (jax.lax.stop_gradient(total) if stop_sum else total)

    g_first, g_both = jax.grad(loss)(x, True), jax.grad(loss)(x, False)
    assert jnp.allclose(g_first, 3.0) and jnp.allclose(g_both, 4.0)
    assert (False, True) in seen and (False, False) in seen
    assert op.with_bwd(bwd).unused_outputs
