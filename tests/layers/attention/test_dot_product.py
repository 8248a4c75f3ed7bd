"""The attention ops, direct and memory-lean: values, masks, fully-masked rows, residuals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core.registry import Arg
from funcnet.layers.attention import dot_product_attention_lean_op, dot_product_attention_op
from funcnet.verify import verify_op


def numpy_attention(q, k, v, allowed=None, bias=None):
    """Independent reference: loops over the leading axes, float64 numpy."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if bias is not None:
        s = s + np.asarray(bias, np.float64)
    if allowed is None:
        allowed = np.ones(s.shape, bool)
    allowed = np.broadcast_to(allowed, s.shape)
    out = np.zeros((*s.shape[:-1], v.shape[-1]))
    for idx in np.ndindex(*s.shape[:-1]):
        row = allowed[idx]
        if row.any():
            e = np.exp(s[idx][row] - s[idx][row].max())
            out[idx] = (e / e.sum()) @ v[idx[:-1]][row]
    return out


def draw(key, *shapes):
    return [
        jax.random.normal(k, s)
        for k, s in zip(jax.random.split(key, len(shapes)), shapes, strict=True)
    ]


def both_ops(**config):
    """The direct and the lean op for one configuration, each jitted (eager dispatch of many
    small primitives costs more compile time than one compilation)."""
    block = config.pop("block_size", 2)
    ops = [dot_product_attention_op(**config),
           dot_product_attention_lean_op(**config, block_size=block)]  # fmt: skip
    return [jax.jit(op, static_argnames="backward") for op in ops]


@pytest.mark.usefixtures("x64")
def test_values_match_numpy_plain_and_causal_with_short_queries():
    q, k, v = draw(jax.random.key(0), (2, 3, 4), (2, 5, 4), (2, 5, 3))
    # causal with Tq=3 < Tk=5: query i sees keys j <= i + 2 (aligned at the bottom right)
    causal = np.arange(5)[None, :] <= np.arange(3)[:, None] + 2
    for op in both_ops():
        np.testing.assert_allclose(op(q, k, v), numpy_attention(q, k, v), rtol=1e-12)
    for op in both_ops(causal=True):
        np.testing.assert_allclose(op(q, k, v), numpy_attention(q, k, v, causal), rtol=1e-12)


@pytest.mark.usefixtures("x64")
def test_values_match_numpy_with_masks():
    q, k, v, bias = draw(jax.random.key(1), (2, 2, 3, 4), (2, 2, 6, 4), (2, 2, 6, 2), (3, 6))
    keep = jnp.array([[1, 1, 0, 1, 0, 1], [0, 1, 1, 1, 1, 0]], jnp.int32)[:, None, None, :]
    for op in both_ops(mask="bool", block_size=4):
        np.testing.assert_allclose(op(q, k, v, keep), numpy_attention(q, k, v, keep != 0),
                                   rtol=1e-12)  # fmt: skip
        np.testing.assert_allclose(op(q, k, v, keep.astype(bool)), op(q, k, v, keep))
    for op in both_ops(mask="additive", block_size=4):
        np.testing.assert_allclose(op(q, k, v, bias), numpy_attention(q, k, v, bias=bias),
                                   rtol=1e-12)  # fmt: skip
    # -inf entries of an additive mask are masked out exactly
    blocked = jnp.where(jnp.arange(6) % 2 == 0, 0.0, -jnp.inf)[None, :]
    expected = numpy_attention(q, k, v, allowed=np.arange(6) % 2 == 0)
    for op in both_ops(mask="additive", block_size=4):
        np.testing.assert_allclose(op(q, k, v, blocked), expected, rtol=1e-12)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize(("block_size", "mask"), [(1, None), (3, "additive"), (64, "additive")])
def test_lean_gradients_equal_direct_gradients(block_size, mask):
    q, k, v, bias = draw(jax.random.key(2), (2, 5, 4), (2, 7, 4), (2, 7, 3), (2, 1, 7))
    args = (q, k, v) if mask is None else (q, k, v, bias)
    direct = dot_product_attention_op(causal=True, mask=mask)
    lean = dot_product_attention_lean_op(causal=True, mask=mask, block_size=block_size)
    dy = jax.random.normal(jax.random.key(3), (2, 5, 3))
    argnums = tuple(range(len(args)))
    g_direct = jax.jit(jax.grad(lambda *a: jnp.vdot(direct(*a), dy), argnums))(*args)
    g_lean = jax.jit(jax.grad(lambda *a: jnp.vdot(lean(*a), dy), argnums))(*args)
    for a, b in zip(g_lean, g_direct, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.usefixtures("x64")
def test_additive_mask_without_a_key_axis_gets_a_zero_cotangent():
    # adding a constant per row does not change a softmax: dA = rowsum(dS) = 0
    q, k, v, bias = draw(jax.random.key(4), (2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 1))
    for op in both_ops(mask="additive"):
        da = jax.jit(jax.grad(lambda b, op=op: jnp.sum(jnp.sin(op(q, k, v, b)))))(bias)
        assert da.shape == (3, 1)
        np.testing.assert_allclose(da, 0.0, atol=1e-12)


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
def test_fully_masked_rows_give_zeros_and_zero_gradients(backward):
    q, k, v = draw(jax.random.key(5), (2, 3, 4), (2, 4, 4), (2, 4, 3))
    keep = jnp.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]], jnp.int32)  # row 1: no key
    dy = jax.random.normal(jax.random.key(6), (2, 3, 3))
    for op in both_ops(mask="bool"):

        def loss(q, k, v, op=op):
            return jnp.vdot(op(q, k, v, keep, backward=backward), dy)

        y = op(q, k, v, keep, backward=backward)
        dq, dk, dv = jax.jit(jax.grad(loss, (0, 1, 2)))(q, k, v)
        assert jnp.all(y[:, 1] == 0) and jnp.all(dq[:, 1] == 0)
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in (y, dq, dk, dv))
        # keys 1 and 3 are seen by row 2 only; row 1 contributes nothing to their gradient
        assert jnp.all(jnp.abs(dk[:, 1]) > 0)
    # Tq > Tk with causal: the first Tq − Tk queries see no key at all
    q6 = jax.random.normal(jax.random.key(7), (6, 4))
    for op in both_ops(causal=True):
        y = op(q6, k[0], v[0], backward=backward)
        dq = jax.jit(jax.grad(lambda q, op=op: jnp.sum(op(q, k[0], v[0], backward=backward))))(q6)
        assert jnp.all(y[:2] == 0) and jnp.all(dq[:2] == 0) and jnp.all(jnp.isfinite(dq))


def test_large_scores_stay_finite():
    q, k, v = draw(jax.random.key(8), (4, 4), (6, 4), (6, 2))
    for op in both_ops(causal=True):
        y = op(1e3 * q, 1e3 * k, v)
        g = jax.jit(jax.grad(lambda q, op=op: jnp.sum(op(q, 1e3 * k, v))))(1e3 * q)
        assert jnp.all(jnp.isfinite(y)) and jnp.all(jnp.isfinite(g))


def test_lean_residuals_hold_no_score_matrix():
    q, k, v = draw(jax.random.key(9), (2, 16, 4), (2, 32, 4), (2, 32, 4))
    _, res_direct = jax.eval_shape(dot_product_attention_op().fwd, q, k, v)
    _, res_lean = jax.eval_shape(dot_product_attention_lean_op(block_size=8).fwd, q, k, v)
    sizes = lambda res: sorted(a.shape for a in jax.tree.leaves(res))  # noqa: E731
    assert (2, 16, 32) in sizes(res_direct)  # P (as exponentials and reciprocal row sums)
    assert max(a.size for a in jax.tree.leaves(res_lean)) == 2 * 32 * 4  # k, v: no Tq×Tk
    assert (2, 16, 1) in sizes(res_lean)  # the row log-sum-exp


def test_lean_compiled_memory_is_smaller_than_direct():
    q, k, v = draw(jax.random.key(10), (2, 512, 16), (2, 512, 16), (2, 512, 16))

    def temp_bytes(op):
        step = jax.jit(
            lambda q, k, v: jax.grad(lambda *a: jnp.sum(op(*a) ** 2), (0, 1, 2))(q, k, v)
        )
        return step.lower(q, k, v).compile().memory_analysis().temp_size_in_bytes

    direct = temp_bytes(dot_product_attention_op(causal=True))
    lean = temp_bytes(dot_product_attention_lean_op(causal=True, block_size=32))
    assert direct >= 2 * 512 * 512 * 4  # at least P
    assert lean < direct / 4


def test_vmap_and_single_examples_agree_with_batched_call():
    q, k, v = draw(jax.random.key(11), (3, 4, 2), (3, 5, 2), (3, 5, 2))
    for op in both_ops(causal=True):
        batched = op(q, k, v)
        np.testing.assert_allclose(jax.vmap(op)(q, k, v), batched, rtol=1e-6)
        np.testing.assert_allclose(op(q[1], k[1], v[1]), batched[1], rtol=1e-6)


def test_a_planted_bug_in_the_softmax_backward_is_caught():
    op = dot_product_attention_op()

    def forgets_the_rowsum(res, do):  # dS = P ∘ dP: the softmax's own Jacobian left out
        q, k, v, e, r, _ = res
        p = e * r
        dv = jnp.einsum("...qk,...qd->...kd", p, do)
        ds = p * jnp.einsum("...qd,...kd->...qk", do, v)
        dq = jnp.einsum("...qk,...kd->...qd", ds, k) / 2.0
        return dq, jnp.einsum("...qk,...qd->...kd", ds, q) / 2.0, dv

    report = verify_op(op.with_bwd(forgets_the_rowsum), (Arg((3, 4)), Arg((5, 4)), Arg((5, 2))))
    assert not report.passed
    failed = {(e.check, e.path) for c in report.cases for e in c.errors if not e.passed}
    assert ("autodiff", "q") in failed and ("autodiff", "v") not in failed


@pytest.mark.parametrize("make", [dot_product_attention_op, dot_product_attention_lean_op])
def test_bad_arguments_are_reported(make):
    name = make().name
    q, k, v = draw(jax.random.key(12), (2, 3, 4), (2, 5, 4), (2, 5, 3))
    with pytest.raises(ValueError, match=rf"{name}: expected k of shape \(2, 'Tk', 4\)"):
        make()(q, k[..., :3], v)
    with pytest.raises(ValueError, match=rf"{name}: expected v of shape \(2, 5, 'dv'\)"):
        make()(q, k, v[:, :4])
    with pytest.raises(ValueError, match=rf"{name}: expected q of rank >= 2"):
        make()(q[0, 0], k, v)
    with pytest.raises(ValueError, match=rf"{name}: expected a mask broadcastable to the scores' "
                       r"shape \(2, 3, 5\) \[..., Tq, Tk\], got shape \(4, 5\)"):  # fmt: skip
        make(mask="bool")(q, k, v, jnp.ones((4, 5), jnp.int32))
    with pytest.raises(ValueError, match=rf"{name}: expected a boolean or integer mask"):
        make(mask="bool")(q, k, v, jnp.ones((3, 5)))
    with pytest.raises(ValueError, match=rf"{name}: expected an additive mask of dtype float32"):
        make(mask="additive")(q, k, v, jnp.ones((3, 5), jnp.int32))
    with pytest.raises(ValueError, match=rf"{name}: expected one mask argument"):
        make(mask="additive")(q, k, v)
    with pytest.raises(ValueError, match=rf"{name}: expected mask to be one of"):
        make(mask="padding")
    with pytest.raises(TypeError, match=rf"{name}: expected causal to be a bool, got 1"):
        make(causal=1)
    with pytest.raises(ValueError, match=rf"{name}: expected q, k, v of one floating dtype"):
        make()(q.astype(jnp.int32), k, v)


def test_bad_block_size():
    with pytest.raises(ValueError, match="expected block_size to be a positive integer, got 0"):
        dot_product_attention_lean_op(block_size=0)
