"""Scaled dot-product attention, memory-lean form: blockwise over keys, ``O(N)`` residuals.

Same function as :mod:`funcnet.layers.attention.dot_product` (``O = softmax(Q Kᵀ/√d + A) V``),
computed one block of ``B`` keys at a time. The forward is an online softmax: a running row
maximum ``m``, normaliser ``ℓ`` and unnormalised output are rescaled by ``exp(m_old − m_new)``
as each block arrives. It saves only ``O`` and the row log-sum-exp ``L = m + log ℓ`` (besides
the inputs), and the backward recomputes each block of probabilities ``P_j = exp(S_j − L)``::

    D = rowsum(dO ∘ O)
    per key block j:   dV_j = P_jᵀ dO    dS_j = P_j ∘ (dO V_jᵀ − D)    dA_j = dS_j
                       dK_j = dS_jᵀ Q/√d     dQ += dS_j K_j/√d

Temporaries are ``Tq×B`` per head in both passes, residuals ``O(Tq·dv)``: no ``Tq×Tk`` matrix
is ever held. Derivation and memory: docs/attention.md.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from funcnet.core.layer import check_positive_int
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.attention._common import (
    allowed_entries,
    check_config,
    check_mask,
    check_qkv,
    lift,
    masked_scores,
    score_tangent,
    sum_to_shape,
)

NAME = "dot_product_attention_lean"


def _to_blocks(x: jax.Array, axis: int, block: int, count: int) -> jax.Array:
    """Pad ``axis`` of ``x`` to ``count·block`` and split it: ``[count, ..., block, ...]``."""
    axis = axis % x.ndim
    pad = [(0, 0)] * x.ndim
    pad[axis] = (0, count * block - x.shape[axis])
    x = jnp.pad(x, pad)
    x = x.reshape((*x.shape[:axis], count, block, *x.shape[axis + 1 :]))
    return jnp.moveaxis(x, axis, 0)


def _from_blocks(x: jax.Array, axis: int, length: int) -> jax.Array:
    """Undo :func:`_to_blocks`: ``[count, ..., block, ...] -> [..., length, ...]``."""
    x = jnp.moveaxis(x, 0, axis % (x.ndim - 1))
    axis = axis % (x.ndim - 1)
    x = x.reshape((*x.shape[:axis], -1, *x.shape[axis + 2 :]))
    return lax.slice_in_dim(x, 0, length, axis=axis)


@op_factory(NAME)
def dot_product_attention_lean_op(
    causal: bool = False, mask: str | None = None, block_size: int = 128
) -> Op:
    """The attention op of :func:`~funcnet.layers.attention.dot_product_attention_op`,
    computed over blocks of ``block_size`` keys and saving only ``O`` and the row log-sum-exp.

    Args:
      causal, mask: as for ``dot_product_attention_op``.
      block_size: keys per block (the last block is padded); temporaries scale with it.

    Shapes:
      q: ``[..., Tq, d]``, k: ``[..., Tk, d]``, v: ``[..., Tk, dv]``, mask: broadcastable to
      ``[..., Tq, Tk]`` -> ``[..., Tq, dv]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> op = dot_product_attention_lean_op(causal=True, block_size=2)
      >>> q = k = jnp.zeros((3, 2)); v = jnp.arange(3.0)[:, None]
      >>> op(q, k, v)[:, 0].tolist()  # running means of v
      [0.0, 0.5, 1.0]
    """
    check_config(NAME, causal, mask)
    check_positive_int(NAME, "block_size", block_size)

    def layout(q, k, v, m):
        """Validate; return the block size, block count, the key blocks and the mask blocks."""
        scores_shape = check_qkv(NAME, q, k, v)
        check_mask(NAME, mask, m, scores_shape, jnp.result_type(q))
        k_len = k.shape[-2]
        block = min(block_size, k_len)
        count = math.ceil(k_len / block)
        xs = {"k": _to_blocks(k, -2, block, count), "v": _to_blocks(v, -2, block, count),
              "start": jnp.arange(count) * block}  # fmt: skip
        # a mask with a key axis is cut into blocks with the keys; one without is shared
        lifted = lift(m[0], q.ndim) if m else None
        if m and lifted.shape[-1] != 1:
            xs["mask"] = _to_blocks(lifted, -1, block, count)
        return block, count, xs, lifted

    def block_scores(q, k_len, block, count, xs, lifted):
        """Masked scores of one key block, ``[..., Tq, B]`` (``−inf`` where not allowed)."""
        m = xs.get("mask", lifted)
        k_pos = xs["start"] + jnp.arange(block)
        padded = count * block != k_len
        allowed = allowed_entries(mask, m, causal, q.shape[-2], k_len, k_pos, q.ndim, padded)
        return masked_scores(q, xs["k"], mask, m, allowed)

    def run_forward(q, k, v, m):
        """Online softmax over key blocks: ``(O, L)`` with ``L`` the row log-sum-exp."""
        block, count, xs, lifted = layout(q, k, v, m)
        k_len = k.shape[-2]

        def step(carry, xs):
            row_max, total, acc = carry
            s = block_scores(q, k_len, block, count, xs, lifted)
            new_max = jnp.maximum(row_max, lax.stop_gradient(jnp.max(s, axis=-1, keepdims=True)))
            shift = jnp.where(new_max == -jnp.inf, 0.0, new_max)  # 0 while a row saw no key
            p = jnp.exp(s - shift)
            rescale = jnp.exp(row_max - shift)
            total = rescale * total + jnp.sum(p, axis=-1, keepdims=True)
            acc = rescale * acc + jnp.einsum("...qk,...kd->...qd", p, xs["v"])
            return (new_max, total, acc), None

        rows = (*q.shape[:-1], 1)
        init = (jnp.full(rows, -jnp.inf, q.dtype), jnp.zeros(rows, q.dtype),
                jnp.zeros((*q.shape[:-1], v.shape[-1]), q.dtype))  # fmt: skip
        (row_max, total, acc), _ = lax.scan(step, init, xs)
        seen = total != 0  # False on a fully-masked row (O = 0, L = 0 unused); True for NaN
        safe_total = jnp.where(seen, total, 1.0)
        lse = jnp.where(seen, jnp.where(seen, row_max, 0.0) + jnp.log(safe_total), 0.0)
        return acc / safe_total, lse

    def forward(q, k, v, *m):
        return run_forward(q, k, v, m)[0]

    def fwd(q, k, v, *m):
        o, lse = run_forward(q, k, v, m)
        return o, (q, k, v, o, lse, m)

    def bwd(res, do):
        # dV_j = P_jᵀdO, dS_j = P_j ∘ (dO V_jᵀ − rowsum(dO∘O)), dK_j = dS_jᵀQ/√d, dQ = ΣdS_j K_j/√d
        q, k, v, o, lse, m = res
        block, count, xs, lifted = layout(q, k, v, m)
        k_len, scale = k.shape[-2], 1.0 / float(q.shape[-1]) ** 0.5
        delta = jnp.sum(do * o, axis=-1, keepdims=True)
        shared_mask = mask == "additive" and "mask" not in xs  # dA accumulates over blocks

        def step(carry, xs):
            dq, da = carry
            s = block_scores(q, k_len, block, count, xs, lifted)
            p = jnp.exp(s - lse)  # P_j recomputed; exactly 0 where masked (s = −inf)
            dv_j = jnp.einsum("...qk,...qd->...kd", p, do)
            ds = p * (jnp.einsum("...qd,...kd->...qk", do, xs["v"]) - delta)
            dq = dq + jnp.einsum("...qk,...kd->...qd", ds, xs["k"]) * scale
            dk_j = jnp.einsum("...qk,...qd->...kd", ds, q) * scale
            out = {"k": dk_j, "v": dv_j}
            if mask == "additive":  # dA_j = dS_j, reduced to the mask's (block) shape
                if shared_mask:
                    da = da + sum_to_shape(ds, lifted.shape)
                else:
                    out["mask"] = sum_to_shape(ds, xs["mask"].shape)
            return (dq, da), out

        da0 = jnp.zeros(lifted.shape, q.dtype) if shared_mask else None
        (dq, da), grads = lax.scan(step, (jnp.zeros_like(q), da0), xs)
        dk = _from_blocks(grads["k"], -2, k_len)
        dv = _from_blocks(grads["v"], -2, k_len)
        if mask is None:
            return dq, dk, dv
        if mask == "bool":
            return dq, dk, dv, None
        if not shared_mask:
            da = _from_blocks(grads["mask"], -1, k_len)
        return dq, dk, dv, da.reshape(m[0].shape)

    def jvp(primals, tangents):
        # Ȯ = Σ_j (P_j∘Ṡ_j) V_j + P_j V̇_j − rowsum(P∘Ṡ) O, Ṡ_j = (Q̇K_jᵀ + QK̇_jᵀ)/√d + Ȧ_j
        (q, k, v, *m), (dq, dk, dv, *dm) = primals, tangents
        o, lse = run_forward(q, k, v, m)
        block, count, xs, lifted = layout(q, k, v, m)
        k_len = k.shape[-2]
        xs["dk"], xs["dv"] = _to_blocks(dk, -2, block, count), _to_blocks(dv, -2, block, count)
        d_lifted = lift(dm[0], q.ndim) if mask == "additive" else None
        if "mask" in xs and mask == "additive":
            xs["dmask"] = _to_blocks(d_lifted, -1, block, count)

        @jax.checkpoint  # JAX's transpose (reverse mode) recomputes P_j too, saving no Tq×Tk
        def step(carry, xs):
            acc, row_sum = carry
            p = jnp.exp(block_scores(q, k_len, block, count, xs, lifted) - lse)  # as in bwd
            da = (xs.get("dmask", d_lifted),) if mask == "additive" else ()
            p_ds = p * score_tangent(q, xs["k"], dq, xs["dk"], da)
            acc = acc + jnp.einsum("...qk,...kd->...qd", p_ds, xs["v"])
            acc = acc + jnp.einsum("...qk,...kd->...qd", p, xs["dv"])
            return (acc, row_sum + jnp.sum(p_ds, axis=-1, keepdims=True)), None

        init = (jnp.zeros_like(o), jnp.zeros_like(lse))
        (acc, row_sum), _ = lax.scan(step, init, xs)
        return o, acc - row_sum * o

    return make_op(NAME, forward, fwd, bwd, jvp=jvp)


def _cases() -> list[Case]:
    flag = lambda shape: Arg(shape, kind="int", high=2)  # noqa: E731
    lean = dot_product_attention_lean_op
    return [
        # 7 keys in blocks of 3: three blocks, the last one padded
        Case("blocks", lean(block_size=3), (Arg((2, 3, 4)), Arg((2, 7, 4)), Arg((2, 7, 3))),
             second_order=True),
        Case("causal", lean(causal=True, block_size=2),
             (Arg((2, 5, 3)), Arg((2, 5, 3)), Arg((2, 5, 3)))),
        Case("key_padding", lean(mask="bool", block_size=2),
             (Arg((2, 3, 4)), Arg((2, 5, 4)), Arg((2, 5, 3)), flag((2, 1, 5)))),
        Case("additive_causal", lean(causal=True, mask="additive", block_size=4),
             (Arg((2, 5, 3)), Arg((2, 5, 3)), Arg((2, 5, 3)), Arg((5, 5)))),
    ]  # fmt: skip


add_cases(NAME, _cases)
