"""The iterative matrix square root of iSQRT-COV (Li et al., 2018), with a hand-written backward
through the iterations (not through an eigendecomposition).

Shapes: ``a [..., n, n]`` -> ``y [..., n, n]``. For a symmetric positive semi-definite ``A``
(the op reads ``S = (A + Aᵀ)/2``) with trace ``t > 0``::

    Y₀ = S/t, Z₀ = I                          pre-normalisation: the spectrum lies in (0, 1]
    T_k = (3I − Z_k Y_k)/2,  Y_{k+1} = Y_k T_k,  Z_{k+1} = T_k Z_k       (K coupled iterations)
    y = √t · Y_K                              post-compensation; Y_K → (S/t)^½, Z_K → (S/t)^-½

Backward, from ``dY_K = √t·dy``, ``dt = ⟨dy, Y_K⟩/(2√t)``, ``dZ_K = 0``, for k = K−1, …, 0::

    dT = Y_kᵀ dY_{k+1} + dZ_{k+1} Z_kᵀ
    dY_k = dY_{k+1} T_kᵀ − Z_kᵀ dT / 2        dZ_k = T_kᵀ dZ_{k+1} − dT Y_kᵀ / 2

then ``dS = dY₀/t + (dt − ⟨dY₀, Y₀⟩/t)·I`` and ``dA = sym(dS)``. This is the exact VJP of the
computed iteration (no symmetry or commutation of the iterates is assumed). Both passes are
``lax.scan`` loops; saves ``Y₀…Y_{K−1}``, ``Z₀…Z_{K−1}``, ``Y_K`` and ``t``. A zero trace is
raised to the dtype's smallest normal number, so the zero matrix maps to zero, not to 0/0.
Derivation: docs/matrix.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.core.layer import check_positive_int
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.matrix._helpers import check_matrix, eye_like, symmetrize, transpose


def _step(eye: jax.Array, y: jax.Array, z: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One coupled iteration: ``(T, Y T, T Z)`` with ``T = (3I − Z Y)/2``."""
    t = (3 * eye - z @ y) / 2
    return t, y @ t, t @ z


def _normalised(a: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(S, t, I)``: the symmetric part, its trace (at least the smallest normal number),
    ``[..., 1, 1]``, and the identity."""
    check_matrix("newton_schulz_sqrt", a, square=True)
    s = symmetrize(a)
    trace = jnp.trace(s, axis1=-2, axis2=-1)[..., None, None]
    return s, jnp.maximum(trace, jnp.finfo(s.dtype).tiny), eye_like(s)


def _iterate(a: jax.Array, num_iterations: int):
    """``(y, (ys, zs, y_K, t))``: the output, the iterates ``Y_k, Z_k`` (k < K) and the trace."""
    s, t, eye = _normalised(a)

    def body(carry, _):
        y, z = carry
        _, y_next, z_next = _step(eye, y, z)
        return (y_next, z_next), (y, z)

    start = (s / t, jnp.broadcast_to(eye, s.shape))
    (y, _), (ys, zs) = jax.lax.scan(body, start, length=num_iterations)
    return jnp.sqrt(t) * y, (ys, zs, y, t)


@op_factory("newton_schulz_sqrt")
def newton_schulz_sqrt_op(num_iterations: int = 5) -> Op:
    """The op ``a [..., n, n] -> ≈ a^½`` by ``num_iterations`` coupled Newton–Schulz iterations.

    Args:
      num_iterations: the number of iterations ``K`` (iSQRT-COV uses 3 to 5); the output is an
        approximation whose accuracy grows with ``K`` and with the conditioning of ``a``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y = newton_schulz_sqrt_op(8)(jnp.array([[1.0, 0.0], [0.0, 2.0]]))
      >>> [round(v, 4) for v in jnp.diagonal(y).tolist()]
      [1.0, 1.4142]
    """
    check_positive_int("newton_schulz_sqrt", "num_iterations", num_iterations)

    def forward(a):
        return _iterate(a, num_iterations)[0]

    def fwd(a):
        return _iterate(a, num_iterations)

    def bwd(res, dy):
        # dT = Yₖᵀ dYₖ₊₁ + dZₖ₊₁ Zₖᵀ; dYₖ = dYₖ₊₁ Tₖᵀ − Zₖᵀ dT/2; dZₖ = Tₖᵀ dZₖ₊₁ − dT Yₖᵀ/2
        ys, zs, y_last, t = res
        eye, root = eye_like(y_last), jnp.sqrt(t)

        def body(carry, iterate):
            d_y, d_z = carry
            y, z = iterate
            tk = _step(eye, y, z)[0]
            dtk = transpose(y) @ d_y + d_z @ transpose(z)
            return (d_y @ transpose(tk) - transpose(z) @ dtk / 2,
                    transpose(tk) @ d_z - dtk @ transpose(y) / 2), None  # fmt: skip

        start = (root * dy, jnp.zeros_like(dy))  # dY_K, dZ_K = 0
        (d_y, _), _ = jax.lax.scan(body, start, (ys, zs), reverse=True)
        dt = jnp.sum(dy * y_last, axis=(-2, -1), keepdims=True) / (2 * root)
        dt = dt - jnp.sum(d_y * ys[0], axis=(-2, -1), keepdims=True) / t
        return (symmetrize(d_y / t + dt * eye),)

    def jvp(primals, tangents):
        # Ṫₖ = −(ŻₖYₖ + ZₖẎₖ)/2; Ẏₖ₊₁ = ẎₖTₖ + YₖṪₖ; Żₖ₊₁ = ṪₖZₖ + TₖŻₖ; ẏ = √t Ẏ_K + ṫ/(2√t) Y_K
        (a,), (da,) = primals, tangents
        (s, t, eye), ds = _normalised(a), symmetrize(da)
        dt = jnp.trace(ds, axis1=-2, axis2=-1)[..., None, None]  # ṫ = tr Ṡ, as the backward's dt

        def body(carry, _):
            y, z, d_y, d_z = carry
            tk, y_next, z_next = _step(eye, y, z)
            dtk = -(d_z @ y + z @ d_y) / 2
            return (y_next, z_next, d_y @ tk + y @ dtk, dtk @ z + tk @ d_z), None

        start = (s / t, jnp.broadcast_to(eye, s.shape), ds / t - s * (dt / t**2), jnp.zeros_like(s))
        (y, _, d_y, _), _ = jax.lax.scan(body, start, length=num_iterations)
        root = jnp.sqrt(t)
        return root * y, root * d_y + dt / (2 * root) * y

    return make_op("newton_schulz_sqrt", forward, fwd, bwd, jvp=jvp)


def _newton_schulz_cases() -> list[Case]:
    op = newton_schulz_sqrt_op(5)
    return [Case("k=5_2x3x3", op, (Arg((2, 3, 3), "symmetric", 0.2, 2.0),))]


add_cases("newton_schulz_sqrt", _newton_schulz_cases)
