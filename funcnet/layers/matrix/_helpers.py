"""What the matrix ops share: input checks, transposes, sign conventions, and the gap matrices
``F_ij = 1/(λ_j − λ_i)`` of the eigenvector and singular-vector backward passes.

Gaps the eigensolver cannot resolve count as zero. A symmetric eigensolver determines each
eigenvalue to an absolute accuracy of a modest multiple of ``eps·‖A‖₂`` (``‖A‖₂ = max|λ|``),
so a computed gap of at most ``n·eps·max|λ|`` is indistinguishable from an exact repeat; there
``F_ij`` is set to 0 (the pseudo-inverse of the gap). docs/matrix.md says what gradient results.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def check_matrix(name: str, x: Any, square: bool) -> None:
    """Raise at trace time unless ``x`` is a floating array of matrices (square if asked)."""
    shape, dtype = jnp.shape(x), jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{name}: expected a floating-point matrix, got dtype {dtype}.")
    if len(shape) < 2 or (square and shape[-1] != shape[-2]):
        what = "square matrices [..., n, n]" if square else "matrices [..., m, n]"
        raise ValueError(f"{name}: expected {what}, got shape {tuple(shape)}.")


def decompose(decomposition: Callable[[jax.Array], Any], a: jax.Array) -> Any:
    """``decomposition(a)`` (``jnp.linalg.eigh``, ``svd``) in ``a``'s dtype. LAPACK has no
    bfloat16/float16 routines, so a half-precision matrix is decomposed in float32 and the
    factors are rounded back to its dtype (an upcast inside, the caller's dtype outside)."""
    if jnp.finfo(a.dtype).bits >= 32:
        return decomposition(a)
    return jax.tree.map(lambda t: t.astype(a.dtype), decomposition(a.astype(jnp.float32)))


def transpose(x: jax.Array) -> jax.Array:
    """Swap the last two axes."""
    return jnp.swapaxes(x, -1, -2)


def symmetrize(x: jax.Array) -> jax.Array:
    """``(x + xᵀ)/2`` over the last two axes."""
    return (x + transpose(x)) / 2


def eye_like(x: jax.Array, dtype: Any = None) -> jax.Array:
    """The identity of ``x``'s last axis with ``x``'s rank (batch axes of size 1), ``x``'s dtype
    unless one is given."""
    n = x.shape[-1]
    eye = jnp.eye(n, dtype=x.dtype if dtype is None else dtype)
    return eye.reshape((1,) * (x.ndim - 2) + (n, n))


def diag_embed(d: jax.Array) -> jax.Array:
    """``[..., n] -> [..., n, n]`` with ``d`` on the diagonal."""
    return d[..., :, None] * eye_like(d[..., None, :])


def canonical_signs(v: jax.Array) -> jax.Array:
    """``±1 [..., 1, k]`` per column of ``v [..., m, k]``: the sign of its largest-magnitude entry.

    Multiplying by it makes that entry positive, which fixes the sign of each eigenvector or
    singular vector (a solver may return either) as a locally smooth function of the input.
    """
    index = jnp.argmax(jnp.abs(v), axis=-2, keepdims=True)
    return jnp.where(jnp.take_along_axis(v, index, axis=-2) < 0, -1.0, 1.0).astype(v.dtype)


def resolvable(lam: jax.Array) -> jax.Array:
    """The gap below which two of the values ``lam [..., n]`` count as equal: ``n·eps·max|λ|``."""
    scale = jnp.max(jnp.abs(lam), axis=-1, keepdims=True)[..., None]
    return lam.shape[-1] * jnp.finfo(lam.dtype).eps * scale


def inverse_gaps(lam: jax.Array, gap: jax.Array | None = None) -> jax.Array:
    """``F_ij = 1/gap_ij`` where the gap is resolvable, else 0; ``gap_ij = λ_j − λ_i`` by default.

    ``lam [..., n]``; ``gap [..., n, n]`` may be given in factored form by the caller (the SVD
    passes ``(s_j − s_i)(s_j + s_i)``, resolvable when ``|s_j − s_i|`` is).
    """
    difference = lam[..., None, :] - lam[..., :, None]
    gap = difference if gap is None else gap
    keep = jnp.abs(difference) > resolvable(lam)
    return jnp.where(keep, 1 / jnp.where(keep, gap, 1), 0)


def taylor_inverse_gaps(lam: jax.Array, num_terms: int) -> jax.Array:
    """``F̃_ij ≈ 1/(λ_j − λ_i)`` by the first ``num_terms`` terms of a geometric series.

    With ``b`` the larger of ``λ_i, λ_j`` in magnitude (ties: the later index) and ``a`` the
    other, ``1/(b − a) = (1/b) Σ_k (a/b)^k``; the sign follows from which one is ``b``, so
    ``F̃`` is antisymmetric like ``F``. At a repeat the truncated sum is ``num_terms/λ``
    instead of infinity (Wang et al.). A zero ``b`` (both values zero) gives 0.
    """
    li, lj = lam[..., :, None], lam[..., None, :]
    later = jnp.triu(jnp.ones_like(li * lj, bool), 1)
    j_big = (jnp.abs(lj) > jnp.abs(li)) | ((jnp.abs(lj) == jnp.abs(li)) & later)
    big, small = jnp.where(j_big, lj, li), jnp.where(j_big, li, lj)
    safe = jnp.where(big == 0, 1, big)
    ratio, total = small / safe, jnp.ones_like(small)
    for _ in range(num_terms - 1):  # Horner: 1 + r(1 + r(1 + …))
        total = 1 + ratio * total
    series = jnp.where(big == 0, 0, total / safe)
    return jnp.where(eye_like(series, bool), 0, jnp.where(j_big, series, -series))


def check_num_taylor_terms(name: str, num_taylor_terms: Any) -> None:
    """Raise unless ``num_taylor_terms`` is ``None`` (exact gradient) or a positive int."""
    if num_taylor_terms is None:
        return
    if isinstance(num_taylor_terms, bool) or not isinstance(num_taylor_terms, int):
        raise TypeError(
            f"{name}: expected num_taylor_terms to be None or an int, got {num_taylor_terms!r}."
        )
    if num_taylor_terms < 1:
        raise ValueError(
            f"{name}: expected num_taylor_terms to be positive, got {num_taylor_terms}."
        )


def taylor_gradient(
    gaps: str, num_taylor_terms: int | None, reference: Callable[[int], Callable[..., Any]]
) -> dict[str, Any]:
    """``make_op``'s intended-gradient arguments of a Taylor-regularised decomposition (none for
    the exact gradient): ``gaps`` names the gap matrix replaced, ``reference(K)`` builds the
    function whose autodiff is the regularised backward."""
    if num_taylor_terms is None:
        return {}
    return {
        "gradient": f"surrogate: {gaps} replaced by its {num_taylor_terms}-term Taylor series "
        "(Wang et al.)",
        "gradient_reference": reference(num_taylor_terms),
        "finite_differences": "the Taylor-regularised gradient is the derivative of no known "
        "function of the matrix; the exact op (num_taylor_terms=None) is held to finite "
        "differences",
    }


def check_eps(name: str, eps: Any, *, allow_zero: bool = False) -> None:
    """Raise unless ``eps`` is a finite Python number, positive (or zero if allowed)."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise TypeError(f"{name}: expected eps to be a float, got {eps!r}.")
    if not (eps >= 0 if allow_zero else eps > 0) or not math.isfinite(eps):
        what = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name}: expected eps to be {what} and finite, got {eps!r}.")
