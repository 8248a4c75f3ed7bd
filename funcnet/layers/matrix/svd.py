"""Thin singular value decomposition with a hand-written backward (Ionescu et al.; Townsend).

Shapes: ``a [..., m, n]`` -> ``(u [..., m, k], s [..., k], vh [..., k, n])``, ``k = min(m, n)``,
singular values descending, each column of ``u`` with its largest-magnitude entry positive (the
rows of ``vh`` follow). With ``A = U S Vᵀ``, ``F_ij = 1/(s_j² − s_i²)`` (i ≠ j), ``F_ii = 0``::

    dA = U [(F ∘ (Uᵀdu − duᵀU)) S + diag(ds) + S (F ∘ (Vᵀdv − dvᵀV))] Vᵀ
         + (I − UUᵀ) du S⁻¹ Vᵀ + U S⁻¹ dvᵀ (I − VVᵀ)                       saves u, s, vh

(``dv = dvhᵀ``; the last two terms only when ``m > k``, resp. ``n > k``.) Repeated singular
values are treated as eigh treats repeated eigenvalues: ``F_ij = 0`` where ``|s_i − s_j| <=
k·eps·max s``, and ``S⁻¹`` is the pseudo-inverse (0 for singular values at or below that).
``num_taylor_terms=K`` replaces ``F`` by its ``K``-term series in ``s_small²/s_big²`` (Wang et
al.), a surrogate whose gradient reference is :func:`svd_taylor_reference`. docs/matrix.md.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp

from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.matrix._helpers import (
    canonical_signs,
    check_matrix,
    check_num_taylor_terms,
    decompose,
    diag_embed,
    inverse_gaps,
    resolvable,
    taylor_gradient,
    taylor_inverse_gaps,
    transpose,
)


def _svd(a: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    check_matrix("svd", a, square=False)
    u, s, vh = decompose(partial(jnp.linalg.svd, full_matrices=False), a)
    signs = canonical_signs(u)
    return u * signs, s, vh * transpose(signs)


def _gaps(s: jax.Array, num_taylor_terms: int | None) -> jax.Array:
    """``F_ij = 1/(s_j² − s_i²)``, the difference of squares factored to avoid cancellation."""
    if num_taylor_terms is not None:
        return taylor_inverse_gaps(s * s, num_taylor_terms)
    sj, si = s[..., None, :], s[..., :, None]
    return inverse_gaps(s, (sj - si) * (sj + si))


def _pinv(s: jax.Array) -> jax.Array:
    keep = s > resolvable(s)[..., 0]
    return jnp.where(keep, 1 / jnp.where(keep, s, 1), 0)


@op_factory("svd")
def svd_op(*, num_taylor_terms: int | None = None) -> Op:
    """The op ``a [..., m, n] -> (u, s, vh)``, the thin SVD ``a = u diag(s) vh``.

    Args:
      num_taylor_terms: ``None`` for the exact gradient; ``K >= 1`` for the Taylor-regularised
        singular-vector gradient (finite at repeated singular values, biased).

    Examples:
      >>> import jax.numpy as jnp
      >>> u, s, vh = svd_op()(jnp.array([[3.0, 0.0], [0.0, -2.0], [0.0, 0.0]]))
      >>> s.tolist()
      [3.0, 2.0]
    """
    check_num_taylor_terms("svd", num_taylor_terms)

    def forward(a):
        return _svd(a)

    def fwd(a):
        y = _svd(a)
        return y, y

    def bwd(res, dy):
        # dA = U[(F∘(Uᵀdu−duᵀU))S + diag(ds) + S(F∘(Vᵀdv−dvᵀV))]Vᵀ + (I−UUᵀ)duS⁻¹Vᵀ + US⁻¹dvᵀ(I−VVᵀ)
        u, s, vh = res
        du, ds, dvh = dy
        (m, k), n = u.shape[-2:], vh.shape[-1]
        f = _gaps(s, num_taylor_terms)
        inner = jnp.zeros((*s.shape, k), s.dtype) if ds is None else diag_embed(ds)
        da = jnp.zeros((*s.shape[:-1], m, n), s.dtype)
        if du is not None:
            utdu = transpose(u) @ du
            inner = inner + (f * (utdu - transpose(utdu))) * s[..., None, :]
            if m > k:
                da = da + ((du - u @ utdu) * _pinv(s)[..., None, :]) @ vh
        if dvh is not None:
            v, dv = transpose(vh), transpose(dvh)
            vtdv = vh @ dv
            inner = inner + s[..., :, None] * (f * (vtdv - transpose(vtdv)))
            if n > k:
                da = da + (u * _pinv(s)[..., None, :]) @ transpose(dv - v @ vtdv)
        return (da + u @ inner @ vh,)

    def jvp(primals, tangents):
        # Ṗ = UᵀȦV, ṡ = diag Ṗ, U̇ = U(F∘(ṖS + SṖᵀ)) + (I−UUᵀ)ȦVS⁻¹, V̇ likewise with Ȧᵀ
        (a,), (da,) = primals, tangents
        u, s, vh = _svd(a)
        return (u, s, vh), _first_order(u, s, vh, _gaps(s, num_taylor_terms), da)

    intended = taylor_gradient("1/(σ_j² − σ_i²)", num_taylor_terms, svd_taylor_reference)
    return make_op("svd", forward, fwd, bwd, unused_outputs=True, jvp=jvp, **intended)


def _first_order(u: jax.Array, s: jax.Array, vh: jax.Array, f: jax.Array, da: jax.Array):
    """First-order perturbation ``(U̇, ṡ, V̇ᵀ)`` of the SVD ``(u, s, vh)`` along ``Ȧ``, with the
    gap matrix ``F`` and the pseudo-inverse of ``S``: the backward's terms transposed, the
    projector terms too only where ``m > k`` (resp. ``n > k``), as there."""
    (m, k), n = u.shape[-2:], vh.shape[-1]
    v, s_inv = transpose(vh), _pinv(s)
    dp = transpose(u) @ da @ v
    du = u @ (f * (dp * s[..., None, :] + s[..., :, None] * transpose(dp)))
    if m > k:
        du = du + (da @ v - u @ dp) * s_inv[..., None, :]
    dv = v @ (f * (s[..., :, None] * dp + transpose(dp) * s[..., None, :]))
    if n > k:
        dv = dv + (transpose(da) @ u - v @ transpose(dp)) * s_inv[..., None, :]
    return du, jnp.diagonal(dp, axis1=-2, axis2=-1), transpose(dv)


def first_order_svd(a: jax.Array, gaps: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The SVD of ``a`` with the values held constant and first-order perturbation terms
    (zero-valued, derivative as the backward above with ``F = gaps(s)``) added."""
    u0, s0, vh0 = jax.lax.stop_gradient(_svd(a))
    du, ds, dvh = _first_order(u0, s0, vh0, gaps(s0), a - jax.lax.stop_gradient(a))
    return u0 + du, s0 + ds, vh0 + dvh


def svd_taylor_reference(num_taylor_terms: int) -> Callable[[jax.Array], tuple]:
    """The gradient reference of ``svd_op(num_taylor_terms=K)``: the op's values, with JAX
    autodiff giving the Taylor-regularised backward (first derivative only)."""
    check_num_taylor_terms("svd_taylor_reference", num_taylor_terms)
    if num_taylor_terms is None:
        raise ValueError("svd_taylor_reference: expected a number of terms, got None.")
    return lambda a: first_order_svd(a, lambda s: _gaps(s, num_taylor_terms))


def _svd_cases() -> list[Case]:
    # One tall case (the (I − UUᵀ) term); tests/layers/matrix/test_svd.py checks a wide one.
    return [
        Case("tall_2x4x3", svd_op(), (Arg((2, 4, 3)),)),
        Case("taylor_3_tall_2x4x3", svd_op(num_taylor_terms=3), (Arg((2, 4, 3)),)),
    ]


add_cases("svd", _svd_cases)
