"""Scaled dot-product attention, direct form: ``O = softmax(Q Kᵀ/√d + A) V``.

Shapes: ``q [..., Tq, d]``, ``k [..., Tk, d]``, ``v [..., Tk, dv]``, optional ``mask`` broadcastable
to ``[..., Tq, Tk]`` -> ``o [..., Tq, dv]`` (masks, causality, fully-masked rows:
:mod:`funcnet.layers.attention._common`). With ``S = Q Kᵀ/√d + A``, ``P = softmax(S)`` row-wise::

    dV = Pᵀ dO      dP = dO Vᵀ      dS = P ∘ (dP − rowsum(dO ∘ O))
    dQ = dS K/√d    dK = dSᵀ Q/√d   dA = dS (summed over the mask's broadcast axes)

Residuals: ``q, k, v``, the probabilities ``P`` (``Tq×Tk`` per head, kept as ``diag(r) E``: the
exponentials and the reciprocal row sums), ``O`` (and an additive mask, for its shape). The
memory-lean form that saves no ``P`` is :mod:`funcnet.layers.attention.lean`.
Derivation: docs/attention.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.attention._common import (
    allowed_entries,
    check_config,
    check_mask,
    check_qkv,
    masked_scores,
    safe_max,
    score_tangent,
    sum_to_shape,
)

NAME = "dot_product_attention"


def masked_softmax(s: jax.Array) -> jax.Array:
    """Row softmax of scores with ``−inf`` at masked entries; an all-``−inf`` row gives zeros."""
    e = jnp.exp(s - safe_max(s))
    total = jnp.sum(e, axis=-1, keepdims=True)
    return e / jnp.where(total == 0, 1.0, total)  # `== 0`, not `> 0`: a NaN total stays NaN


def _scores(q: jax.Array, k: jax.Array, mask: tuple, causal: bool, kind: str | None):
    q_len, k_len = q.shape[-2], k.shape[-2]
    m = mask[0] if mask else None
    allowed = allowed_entries(kind, m, causal, q_len, k_len, jnp.arange(k_len), q.ndim)
    return masked_scores(q, k, kind, m, allowed)


def attention_probabilities(
    q: jax.Array, k: jax.Array, mask: tuple, *, causal: bool, kind: str | None
) -> jax.Array:
    """``P = softmax(q kᵀ/√d + A)`` with masked entries exactly zero, ``[..., Tq, Tk]``."""
    return masked_softmax(_scores(q, k, mask, causal, kind))


def unnormalised_probabilities(
    q: jax.Array, k: jax.Array, mask: tuple, *, causal: bool, kind: str | None
) -> tuple[jax.Array, jax.Array]:
    """``(E, r)`` with ``P = diag(r) E``: ``E = exp(S − max S)``, ``r = 1/rowsum(E)`` (``0`` on
    a fully-masked row, where ``E`` is all zeros)."""
    s = _scores(q, k, mask, causal, kind)
    e = jnp.exp(s - safe_max(s))
    total = jnp.sum(e, axis=-1, keepdims=True)
    empty = total == 0  # False for a NaN total, which stays NaN
    return e, jnp.where(empty, 0.0, 1.0 / jnp.where(empty, 1.0, total))


@op_factory(NAME)
def dot_product_attention_op(causal: bool = False, mask: str | None = None) -> Op:
    """The attention op ``(q, k, v[, mask]) -> softmax(q kᵀ/√d + A) v``, saving ``P``.

    Args:
      causal: query ``i`` sees keys ``j ≤ i + Tk − Tq`` only.
      mask: ``None``, ``"bool"`` (an integer/boolean argument, nonzero = attend, no cotangent)
        or ``"additive"`` (a float argument added to the scores, with a cotangent).

    Shapes:
      q: ``[..., Tq, d]``, k: ``[..., Tk, d]``, v: ``[..., Tk, dv]``, mask: broadcastable to
      ``[..., Tq, Tk]`` -> ``[..., Tq, dv]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> op = dot_product_attention_op(causal=True)
      >>> q = k = jnp.zeros((3, 2)); v = jnp.arange(3.0)[:, None]
      >>> op(q, k, v)[:, 0].tolist()  # running means of v
      [0.0, 0.5, 1.0]
    """
    check_config(NAME, causal, mask)

    def probabilities(q, k, v, m):
        check_mask(NAME, mask, m, check_qkv(NAME, q, k, v), jnp.result_type(q))
        return attention_probabilities(q, k, m, causal=causal, kind=mask)

    def forward(q, k, v, *m):
        return jnp.einsum("...qk,...kd->...qd", probabilities(q, k, v, m), v)

    def factored(q, k, v, m):
        # P = diag(r) E with E = exp(S − max S) and r = 1/rowsum(E): P is kept in this factored
        # form, so no pass spends a Tq×Tk division on it; r scales Tq×d matrices instead
        check_mask(NAME, mask, m, check_qkv(NAME, q, k, v), jnp.result_type(q))
        e, r = unnormalised_probabilities(q, k, m, causal=causal, kind=mask)
        return e, r, jnp.einsum("...qk,...kd->...qd", e, v) * r

    def fwd(q, k, v, *m):
        e, r, o = factored(q, k, v, m)
        return o, (q, k, v, e, r, m if mask == "additive" else ())

    def bwd(res, do):
        # dV = Pᵀ dO, dP = dO Vᵀ, dS = P ∘ (dP − rowsum(P ∘ dP)), dQ = dS K/√d, dK = dSᵀ Q/√d;
        # rowsum(P ∘ dP) equals rowsum(dO ∘ O) (O = PV) but needs no saved O, which the next
        # layer (the output projection) already keeps in its own layout
        q, k, v, e, r, m = res  # P = diag(r) E
        scale = 1.0 / float(q.shape[-1]) ** 0.5
        dv = jnp.einsum("...qk,...qd->...kd", e, do * r)  # Pᵀ dO = Eᵀ (diag(r) dO)
        dp = jnp.einsum("...qd,...kd->...qk", do, v)
        dp_r = r * dp
        ds = e * (dp_r - r * jnp.sum(e * dp_r, axis=-1, keepdims=True))
        dq = jnp.einsum("...qk,...kd->...qd", ds, k) * scale
        dk = jnp.einsum("...qk,...qd->...kd", ds, q) * scale
        if mask is None:
            return dq, dk, dv
        # dA = dS (an additive mask enters S with coefficient one); a boolean mask: none
        return dq, dk, dv, sum_to_shape(ds, m[0].shape) if mask == "additive" else None

    def jvp(primals, tangents):
        # Ṡ = (Q̇Kᵀ + QK̇ᵀ)/√d + Ȧ, Ṗ = P ∘ (Ṡ − rowsum(P ∘ Ṡ)), Ȯ = ṖV + PV̇
        (q, k, v, *m), (dq, dk, dv, *dm) = primals, tangents
        e, r, o = factored(q, k, v, m)  # P = diag(r) E
        e_ds = e * score_tangent(q, k, dq, dk, dm if mask == "additive" else ())
        do = jnp.einsum("...qk,...kd->...qd", e_ds, v) + jnp.einsum("...qk,...kd->...qd", e, dv)
        return o, (do - jnp.sum(e_ds, axis=-1, keepdims=True) * o) * r  # ṖV = (P∘Ṡ)V − rowsum(P∘Ṡ)O

    return make_op(NAME, forward, fwd, bwd, jvp=jvp)


def _cases() -> list[Case]:
    flag = lambda shape: Arg(shape, kind="int", high=2)  # noqa: E731
    return [
        Case("plain", dot_product_attention_op(), (Arg((2, 3, 4)), Arg((2, 5, 4)), Arg((2, 5, 3))),
             second_order=True),
        Case("causal", dot_product_attention_op(causal=True),
             (Arg((2, 5, 3)), Arg((2, 5, 3)), Arg((2, 5, 3)))),
        # key padding: one row of key flags per batch entry, broadcast over the queries
        Case("key_padding", dot_product_attention_op(mask="bool"),
             (Arg((2, 3, 4)), Arg((2, 5, 4)), Arg((2, 5, 3)), flag((2, 1, 5)))),
        Case("additive_causal", dot_product_attention_op(causal=True, mask="additive"),
             (Arg((2, 5, 3)), Arg((2, 5, 3)), Arg((2, 5, 3)), Arg((5, 5)))),
    ]  # fmt: skip


add_cases(NAME, _cases)
