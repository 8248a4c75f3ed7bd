"""Shared pieces of the attention ops: argument checks, masks and the masked scores.

Shapes: ``q [..., Tq, d]``, ``k [..., Tk, d]``, ``v [..., Tk, dv]`` with equal leading axes;
the scores ``S = q kᵀ/√d (+ A)`` are ``[..., Tq, Tk]``. A mask is broadcastable to the scores
(numpy rules, aligned on the right, no more axes than the scores):

* ``"bool"``: an integer or boolean array, nonzero = attend; it gets no cotangent;
* ``"additive"``: a float array ``A`` added to the scores (``−inf`` entries are masked out);
  it gets the cotangent ``dA = dS`` summed over the axes it was broadcast along.

``causal=True`` lets query ``i`` see keys ``j ≤ i + (Tk − Tq)`` (aligned at the bottom right, so
that ``Tq = Tk`` is the usual lower triangle and a short query block sees a longer history).
A query row that can see no key at all is *fully masked*: its output is zero and so are the
gradients flowing through it. Derivations: docs/attention.md.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

MASK_KINDS = (None, "bool", "additive")


def check_config(name: str, causal: Any, mask: Any) -> None:
    """Validate the configuration closed over by an attention op factory."""
    if not isinstance(causal, bool):
        raise TypeError(f"{name}: expected causal to be a bool, got {causal!r}.")
    if mask not in MASK_KINDS:
        raise ValueError(f"{name}: expected mask to be one of {MASK_KINDS}, got {mask!r}.")


def check_qkv(name: str, q: Any, k: Any, v: Any) -> tuple[int, ...]:
    """Validate ``q, k, v`` (see the module docstring); return the scores' shape."""
    qs, ks, vs = jnp.shape(q), jnp.shape(k), jnp.shape(v)
    for what, shape in (("q", qs), ("k", ks), ("v", vs)):
        if len(shape) < 2:
            raise ValueError(
                f"{name}: expected {what} of rank >= 2 [..., T, d], got shape {shape}."
            )
    dtypes = {jnp.result_type(x) for x in (q, k, v)}
    if len(dtypes) != 1 or not jnp.issubdtype(next(iter(dtypes)), jnp.floating):
        raise ValueError(
            f"{name}: expected q, k, v of one floating dtype, got "
            f"{jnp.result_type(q)}, {jnp.result_type(k)}, {jnp.result_type(v)}."
        )
    if ks[:-2] != qs[:-2] or ks[-1] != qs[-1]:
        raise ValueError(
            f"{name}: expected k of shape {(*qs[:-2], 'Tk', qs[-1])} (q's leading axes and "
            f"head dim), got {ks} for q of shape {qs}."
        )
    if vs[:-1] != ks[:-1]:
        raise ValueError(
            f"{name}: expected v of shape {(*ks[:-1], 'dv')} (k's leading axes and length), "
            f"got {vs} for k of shape {ks}."
        )
    return (*qs[:-1], ks[-2])


def check_mask(name: str, kind: str | None, mask: tuple, scores_shape: tuple, dtype: Any) -> None:
    """Validate the mask argument (``mask`` is the op's ``*mask`` tuple) against the scores."""
    if kind is None:
        if mask:
            raise ValueError(f"{name}: expected no mask argument (mask=None), got {len(mask)}.")
        return
    if len(mask) != 1:
        raise ValueError(f"{name}: expected one mask argument (mask={kind!r}), got {len(mask)}.")
    m = mask[0]
    shape, m_dtype = jnp.shape(m), jnp.result_type(m)
    if kind == "bool" and not (jnp.issubdtype(m_dtype, jnp.integer) or m_dtype == jnp.bool_):
        raise ValueError(f"{name}: expected a boolean or integer mask, got dtype {m_dtype}.")
    if kind == "additive" and m_dtype != jnp.dtype(dtype):
        raise ValueError(
            f"{name}: expected an additive mask of dtype {jnp.dtype(dtype)} (q's dtype), "
            f"got {m_dtype}."
        )
    check_mask_shape(name, shape, scores_shape, "the scores' shape", "[..., Tq, Tk]")


def check_mask_shape(name: str, shape: tuple, scores_shape: tuple, what: str, layout: str) -> None:
    """Raise unless a mask of ``shape`` broadcasts to ``scores_shape`` (aligned on the right)."""
    fits = len(shape) <= len(scores_shape) and all(
        a in (1, b) for a, b in zip(shape[::-1], scores_shape[::-1], strict=False)
    )
    if not fits:
        raise ValueError(
            f"{name}: expected a mask broadcastable to {what} {scores_shape} {layout}, "
            f"got shape {shape}."
        )


def lift(x: jax.Array, ndim: int) -> jax.Array:
    """``x`` with leading axes of size one up to rank ``ndim`` (explicit rank promotion)."""
    return x.reshape((1,) * (ndim - x.ndim) + x.shape)


def sum_to_shape(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Sum ``x`` over the axes along which an array of ``shape`` was broadcast to ``x.shape``."""
    x = jnp.sum(x, axis=tuple(range(x.ndim - len(shape))))
    axes = tuple(i for i, (a, b) in enumerate(zip(shape, x.shape, strict=True)) if a == 1 != b)
    return jnp.sum(x, axis=axes, keepdims=True).reshape(shape)


def causal_allowed(q_len: int, k_len: int, k_pos: jax.Array) -> jax.Array:
    """``[Tq, n]`` booleans: query ``i`` may see key position ``k_pos[j]``."""
    q_pos = jnp.arange(q_len)[:, None] + (k_len - q_len)
    return k_pos[None, :] <= q_pos


def allowed_entries(
    kind: str | None,
    mask: jax.Array | None,
    causal: bool,
    q_len: int,
    k_len: int,
    k_pos: jax.Array,
    ndim: int,
    padded: bool = False,
) -> jax.Array | None:
    """Which score entries a query may attend to, broadcastable to the scores (rank ``ndim``).

    ``k_pos`` are the positions of the key columns at hand (all of them, or one block); when
    ``padded``, positions ``≥ k_len`` are padding and never allowed. ``None`` when everything
    is allowed.
    """
    allowed = None
    if causal:
        allowed = causal_allowed(q_len, k_len, k_pos)
    if padded:
        in_range = (k_pos < k_len)[None, :]
        allowed = in_range if allowed is None else allowed & in_range
    if allowed is not None:
        allowed = lift(allowed, ndim)
    if kind is not None:
        # `!= −inf`, not `> −inf`: a NaN in an additive mask reaches the scores
        from_mask = lift(mask != 0 if kind == "bool" else mask != -jnp.inf, ndim)
        allowed = from_mask if allowed is None else allowed & from_mask
    return allowed


def masked_scores(
    q: jax.Array, k: jax.Array, kind: str | None, mask: jax.Array | None, allowed: Any
) -> jax.Array:
    """``q kᵀ/√d (+ A)`` with the entries that are not allowed set to ``−inf``."""
    s = jnp.einsum("...qd,...kd->...qk", q, k) * (1.0 / float(q.shape[-1]) ** 0.5)
    if kind == "additive":
        s = s + lift(mask, s.ndim)
    return s if allowed is None else jnp.where(allowed, s, -jnp.inf)


def score_tangent(
    q: jax.Array, k: jax.Array, dq: jax.Array, dk: jax.Array, dmask: tuple
) -> jax.Array:
    """``Ṡ = (Q̇ Kᵀ + Q K̇ᵀ)/√d (+ Ȧ)``, the scores' tangent (``dmask``: ``(Ȧ,)`` for an additive
    mask, else ``()``); entries the mask forbids carry any finite value, as ``P`` is 0 there."""
    ds = jnp.einsum("...qd,...kd->...qk", dq, k) + jnp.einsum("...qd,...kd->...qk", q, dk)
    ds = ds * (1.0 / float(q.shape[-1]) ** 0.5)
    return ds + lift(dmask[0], ds.ndim) if dmask else ds


def safe_max(s: jax.Array) -> jax.Array:
    """Row maximum of ``s`` held constant, ``0`` for a row that is all ``−inf`` (fully masked);
    NaN for a row holding a NaN, which then spreads over the row as in ``jax.nn.softmax``."""
    m = jax.lax.stop_gradient(jnp.max(s, axis=-1, keepdims=True))
    return jnp.where(m == -jnp.inf, 0.0, m)
