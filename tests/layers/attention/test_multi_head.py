"""The multi-head attention layer, the head split/merge and the positional layers.

Shapes, gradients, jit, vmap and bad input: the layer contract (tests/core/test_layer_registry.py).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers.attention import (
    learned_positions,
    multi_head_attention,
    sinusoidal_positions,
    sinusoidal_table,
    transformer_block,
)
from funcnet.layers.attention.heads import merge, split
from tests.layers.forward_mode import assert_manual_jvp_path_matches_autodiff


def numpy_mha(params, x, num_heads, allowed):
    """Independent reference: per head, float64 numpy."""
    to64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    proj = lambda p, a: to64(a) @ to64(p.w) + (0.0 if p.b is None else to64(p.b))  # noqa: E731
    q, k, v = proj(params.q, x), proj(params.k, x), proj(params.v, x)
    d = q.shape[-1] // num_heads
    heads = []
    for h in range(num_heads):
        sl = slice(h * d, (h + 1) * d)
        s = q[..., sl] @ np.swapaxes(k[..., sl], -1, -2) / np.sqrt(d)
        s = np.where(allowed, s, -np.inf)
        p = np.exp(s - s.max(-1, keepdims=True))
        heads.append((p / p.sum(-1, keepdims=True)) @ v[..., sl])
    return proj(params.out, np.concatenate(heads, axis=-1))


@pytest.mark.parametrize("lean", [False, True])
def test_causal_self_attention_matches_numpy(lean):
    layer = multi_head_attention(2, causal=True, lean=lean, block_size=3 if lean else None)
    out_shape, params, state = layer.init(jax.random.key(0), (2, 5, 8))
    assert out_shape == (2, 5, 8) and params.q.w.shape == (8, 8) and state == ()
    assert params.q.b.shape == (8,) and params.k.b is None  # the softmax ignores a key bias
    x = jax.random.normal(jax.random.key(1), (2, 5, 8))
    y, _ = jax.jit(layer.apply)(params, state, x)
    causal = np.tril(np.ones((5, 5), bool))
    np.testing.assert_allclose(y, numpy_mha(params, x, 2, causal), rtol=2e-5, atol=2e-5)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("lean", [False, True])
def test_manual_gradients_equal_autodiff_with_a_key_padding_mask(lean):
    layer = multi_head_attention(2, features=6, head_features=3, lean=lean,
                                 block_size=4 if lean else None, dtype=jnp.float64)  # fmt: skip
    kq, kk, kv = jax.random.split(jax.random.key(2), 3)
    q = jax.random.normal(kq, (2, 3, 5), jnp.float64)
    k = jax.random.normal(kk, (2, 7, 4), jnp.float64)
    v = jax.random.normal(kv, (2, 7, 2), jnp.float64)
    keep = (jnp.arange(7)[None, :] < jnp.array([[7], [4]]))[:, None, None, :]  # [B, 1, 1, Tk]
    out_shape, params, state = layer.init(jax.random.key(3), (q.shape, k.shape, v.shape))
    assert out_shape == (2, 3, 6) and params.out.w.shape == (6, 6) and params.k.w.shape == (4, 6)

    def loss(params, backward):
        y, _ = layer.apply(params, state, (q, k, v, keep), backward=backward)
        return jnp.sum(jnp.sin(y))

    manual = jax.jit(jax.grad(loss), static_argnums=1)(params, "manual")
    auto = jax.jit(jax.grad(loss), static_argnums=1)(params, "autodiff")
    for a, b in zip(jax.tree.leaves(manual), jax.tree.leaves(auto), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    # padded keys change nothing: dropping them from the input gives the same output
    y, _ = layer.apply(params, state, (q, k, v, keep))
    y_short, _ = layer.apply(params, state, (q[1:], k[1:, :4], v[1:, :4]))
    np.testing.assert_allclose(y[1:], y_short, rtol=1e-12)


def test_manual_jvp_path_matches_autodiff_in_forward_and_reverse_mode():
    # the lean op, two key blocks: its JVP is a scan over them, which JAX transposes for grad
    layer = multi_head_attention(2, causal=True, lean=True, block_size=2, dtype=jnp.float64)
    assert_manual_jvp_path_matches_autodiff(layer, (1, 3, 4))


def test_additive_mask_is_accepted_and_differentiated():
    layer = multi_head_attention(2)
    _, params, state = layer.init(jax.random.key(4), (3, 4))
    x = jax.random.normal(jax.random.key(5), (3, 4))
    bias = jnp.zeros((2, 3, 3))  # per head

    def out(bias):
        return jnp.sum(layer.apply(params, state, (x, x, x, bias))[0] ** 2)

    np.testing.assert_allclose(out(bias), jnp.sum(layer.apply(params, state, x)[0] ** 2),
                               rtol=1e-6)  # fmt: skip
    assert jax.grad(out)(bias).shape == (2, 3, 3)


def test_bad_input_errors_name_layer_expected_and_actual():
    with pytest.raises(ValueError, match=r"multi_head_attention: expected features divisible "
                       r"by num_heads=3 \(or head_features\), got features 8"):  # fmt: skip
        multi_head_attention(3).init(jax.random.key(0), (2, 5, 8))
    with pytest.raises(ValueError, match="multi_head_attention: expected num_heads to be a "
                       "positive integer, got 0"):  # fmt: skip
        multi_head_attention(0)
    layer = multi_head_attention(2)
    _, params, state = layer.init(jax.random.key(0), (2, 5, 8))
    x = jnp.ones((2, 5, 8))
    with pytest.raises(ValueError, match=r"expected k and v of the same length Tk on axis -2, "
                       r"got shapes \(2, 5, 8\) and \(2, 4, 8\)"):  # fmt: skip
        layer.apply(params, state, (x, x, x[:, :4]))
    with pytest.raises(ValueError, match=r"expected q, k, v with the same leading axes"):
        layer.apply(params, state, (x, x[:1], x[:1]))
    expected = r"shape \(2, 2, 5, 5\) \[..., heads, Tq, Tk\], got shape \(2, 5\)"
    with pytest.raises(ValueError, match=rf"multi_head_attention: expected a mask .* {expected}"):
        layer.apply(params, state, (x, x, x, jnp.ones((2, 5), bool)))
    with pytest.raises(ValueError, match=r"expected input dtype float32 .* got float16"):
        layer.apply(params, state, x.astype(jnp.float16))
    with pytest.raises(ValueError, match=r"expected an input x, \(q, k, v\) or \(q, k, v, mask\)"):
        layer.apply(params, state, (x, x))


def test_split_and_merge_heads_are_inverse_permutations():
    x = jnp.arange(2 * 3 * 6.0).reshape(2, 3, 6)
    heads = split(x, 3)
    assert heads.shape == (2, 3, 3, 2)
    np.testing.assert_array_equal(heads[1, 2, 0], x[1, 0, 4:6])  # head 2, time 0
    np.testing.assert_array_equal(merge(heads, 3), x)
    with pytest.raises(ValueError, match=r"split_heads: expected .* divisible by num_heads=4"):
        split(x, 4)


def test_sinusoidal_table_values_and_layer():
    table = sinusoidal_table(5, 4)
    t, i = 3, 1  # column 2i = 2: sin(t / 10000^(2i/D))
    assert float(table[t, 2 * i]) == pytest.approx(np.sin(t / 10000 ** (2 * i / 4)), rel=1e-6)
    assert float(table[t, 2 * i + 1]) == pytest.approx(np.cos(t / 10000 ** (2 * i / 4)), rel=1e-6)
    layer = sinusoidal_positions()
    x = jnp.ones((2, 5, 4))
    y, _ = layer.apply((), (), x)
    np.testing.assert_allclose(y, x + table[None], rtol=1e-6)
    g = jax.grad(lambda x: jnp.sum(layer.apply((), (), x)[0] * 2.0))(x)
    np.testing.assert_allclose(g, 2.0)
    with pytest.raises(
        ValueError, match="sinusoidal_table: expected features to be a positive even integer, got 3"
    ):
        sinusoidal_table(4, 3)
    with pytest.raises(
        ValueError, match="sinusoidal_positions: expected an even number of features"
    ):
        layer.init(jax.random.key(0), (2, 5, 3))  # init agrees with apply, which needs the table


def test_learned_positions_gradient_reaches_only_used_rows():
    layer = learned_positions(6)
    _, params, state = layer.init(jax.random.key(0), (2, 4, 3))
    assert params.table.shape == (6, 3)
    x = jnp.zeros((2, 4, 3))
    y, _ = layer.apply(params, state, x)
    np.testing.assert_allclose(y[1], params.table[:4])
    g = jax.grad(lambda p: jnp.sum(layer.apply(p, state, x)[0]))(params).table
    np.testing.assert_allclose(g, np.r_[np.full((4, 3), 2.0), np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"learned_positions: expected a sequence of length "
                       r"<= max_length=6 on axis -2, got shape \(2, 7, 3\)"):  # fmt: skip
        layer.apply(params, state, jnp.zeros((2, 7, 3)))


def test_block_size_without_lean_attention_is_a_type_error_not_ignored():
    with pytest.raises(TypeError, match=r"block_size applies only with lean=True, got block_s"):
        multi_head_attention(2, block_size=4)
    with pytest.raises(TypeError, match=r"block_size applies only with lean=True"):
        transformer_block(8, 2, block_size=4)
    assert multi_head_attention(2, lean=True, block_size=4).name == "multi_head_attention"
