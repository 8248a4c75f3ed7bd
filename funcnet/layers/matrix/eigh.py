"""Symmetric eigendecomposition with a hand-written backward in the K-matrix form.

Shapes: ``a [..., n, n]`` -> ``(w [..., n], v [..., n, n])``: eigenvalues ascending, unit
eigenvectors in the columns, each column's largest-magnitude entry positive. The op reads
``S = (A + Aᵀ)/2`` (as ``jnp.linalg.eigh`` does), so a symmetric input is assumed, not checked,
and the gradient is symmetric. With ``S = V diag(λ) Vᵀ``::

    dλ = diag(Vᵀ dS V)     dV = V (F ∘ (Vᵀ dS V))     F_ij = 1/(λ_j − λ_i) (i ≠ j), F_ii = 0
    dA = sym(V (diag(dw) + F ∘ (Vᵀ dv)) Vᵀ)                                     saves w, v

Repeated eigenvalues: there the eigenvectors are not unique, not differentiable, and ``F`` is
infinite. Gaps at or below ``n·eps·max|λ|`` (what the eigensolver can resolve) get ``F_ij = 0``:
the gradient is finite, exact along every perturbation that is diagonal within each degenerate
eigenspace in the returned basis (along those the returned eigenvectors are differentiable), and
has no component along the others (within-eigenspace rotations). A matrix function needs those
too (``f′(λ)`` there): use the Daleckii–Krein ops of functions.py, not eigh (docs/matrix.md).
``num_taylor_terms=K`` replaces ``F`` by its ``K``-term Taylor series (Wang et al., "Robust
differentiable SVD"): finite, biased, *not* the derivative (a surrogate; its gradient reference
is :func:`eigh_taylor_reference`). Derivation and tables: docs/matrix.md.
"""

from __future__ import annotations

from collections.abc import Callable

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
    symmetrize,
    taylor_gradient,
    taylor_inverse_gaps,
    transpose,
)


def _eigh(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    check_matrix("eigh", a, square=True)
    w, v = decompose(jnp.linalg.eigh, a)  # reads (a + aᵀ)/2
    return w, v * canonical_signs(v)


def _gaps(w: jax.Array, num_taylor_terms: int | None) -> jax.Array:
    if num_taylor_terms is None:
        return inverse_gaps(w)
    return taylor_inverse_gaps(w, num_taylor_terms)


@op_factory("eigh")
def eigh_op(*, num_taylor_terms: int | None = None) -> Op:
    """The op ``a [..., n, n] -> (w [..., n], v [..., n, n])`` of ``(a + aᵀ)/2``.

    Args:
      num_taylor_terms: ``None`` for the exact gradient; ``K >= 1`` for the Taylor-regularised
        eigenvector gradient (finite at repeated eigenvalues, biased; meant for positive
        definite inputs).

    Examples:
      >>> import jax.numpy as jnp
      >>> w, v = eigh_op()(jnp.array([[2.0, 1.0], [1.0, 2.0]]))
      >>> w.tolist()
      [1.0, 3.0]
    """
    check_num_taylor_terms("eigh", num_taylor_terms)

    def forward(a):
        return _eigh(a)

    def fwd(a):
        w, v = _eigh(a)
        return (w, v), (w, v)

    def bwd(res, dy):
        # dA = sym(V (diag(dw) + F ∘ (Vᵀ dv)) Vᵀ),  F_ij = 1/(λ_j − λ_i), 0 at unresolved gaps
        w, v = res
        dw, dv = dy
        inner = jnp.zeros_like(v) if dw is None else diag_embed(dw)
        if dv is not None:
            inner = inner + _gaps(w, num_taylor_terms) * (transpose(v) @ dv)
        return (symmetrize(v @ inner @ transpose(v)),)

    def jvp(primals, tangents):
        # λ̇ = diag(Vᵀ Ȧ V), V̇ = V (F ∘ (Vᵀ Ȧ V)) with Ȧ symmetrised and the backward's F
        (a,), (da,) = primals, tangents
        w, v = _eigh(a)
        return (w, v), _first_order(v, _gaps(w, num_taylor_terms), symmetrize(da))

    intended = taylor_gradient("1/(λ_j − λ_i)", num_taylor_terms, eigh_taylor_reference)
    return make_op("eigh", forward, fwd, bwd, unused_outputs=True, jvp=jvp, **intended)


def _first_order(v: jax.Array, f: jax.Array, ds: jax.Array) -> tuple[jax.Array, jax.Array]:
    """First-order perturbation of ``(λ, V)`` along a symmetric ``Ṡ``: ``(diag M, V (F ∘ M))``
    with ``M = Vᵀ Ṡ V`` and the gap matrix ``F``."""
    m = transpose(v) @ ds @ v
    return jnp.diagonal(m, axis1=-2, axis2=-1), v @ (f * m)


def eigh_taylor_reference(num_taylor_terms: int) -> Callable[[jax.Array], tuple]:
    """The gradient reference of ``eigh_op(num_taylor_terms=K)``: a function with the op's
    values whose JAX autodiff is the Taylor-regularised backward.

    With ``(λ₀, V₀)`` the eigendecomposition held constant (``stop_gradient``) and
    ``M = V₀ᵀ (S − stop_gradient(S)) V₀`` (zero, with derivative ``V₀ᵀ dS V₀``), it returns
    ``(λ₀ + diag M, V₀ + V₀ (F̃ ∘ M))``: first-order perturbation theory with ``F̃`` in place
    of ``F``. Only its first derivative is meaningful.
    """
    check_num_taylor_terms("eigh_taylor_reference", num_taylor_terms)
    if num_taylor_terms is None:
        raise ValueError("eigh_taylor_reference: expected a number of terms, got None.")

    def reference(a: jax.Array) -> tuple[jax.Array, jax.Array]:
        w0, v0 = jax.lax.stop_gradient(_eigh(a))
        s = symmetrize(a)
        f = taylor_inverse_gaps(w0, num_taylor_terms)
        dw, dv = _first_order(v0, f, s - jax.lax.stop_gradient(s))
        return w0 + dw, v0 + dv

    return reference


def _eigh_cases() -> list[Case]:
    return [
        Case("indefinite_2x3x3", eigh_op(), (Arg((2, 3, 3), "symmetric", -2.0, 2.0),)),
        Case("taylor_3_2x3x3", eigh_op(num_taylor_terms=3), (Arg((2, 3, 3), "symmetric", 0.5, 3),)),
    ]


add_cases("eigh", _eigh_cases)
