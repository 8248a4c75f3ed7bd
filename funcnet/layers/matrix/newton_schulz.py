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
computed iteration (no symmetry or commutation of the iterates is assumed). Saves ``Y₀…Y_{K−1}``,
``Z₁…Z_{K−1}``, ``Y_K`` and ``t``. A zero trace is raised to the dtype's smallest normal number,
so the zero matrix maps to zero instead of 0/0. Derivation: docs/matrix.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.core.layer import check_positive_int
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.matrix._helpers import check_matrix, eye_like, symmetrize, transpose


def _iterate(a: jax.Array, num_iterations: int):
    """``(y, (ys, zs, y_K, t))``: the output and every iterate the backward needs."""
    check_matrix("newton_schulz_sqrt", a, square=True)
    s = symmetrize(a)
    trace = jnp.trace(s, axis1=-2, axis2=-1)[..., None, None]
    t = jnp.maximum(trace, jnp.finfo(s.dtype).tiny)
    eye = eye_like(s)
    y, z = s / t, jnp.broadcast_to(eye, s.shape)
    ys, zs = [], []
    for _ in range(num_iterations):
        ys.append(y)
        zs.append(z)
        tk = (3 * eye - z @ y) / 2
        y, z = y @ tk, tk @ z
    return jnp.sqrt(t) * y, (tuple(ys), tuple(zs[1:]), y, t)


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
        eye = eye_like(y_last)
        root = jnp.sqrt(t)
        dt = jnp.sum(dy * y_last, axis=(-2, -1), keepdims=True) / (2 * root)
        d_y, d_z = root * dy, None  # dZ_K = 0
        for k in reversed(range(num_iterations)):
            y, z = ys[k], (zs[k - 1] if k else eye)  # Z₀ = I
            tk = (3 * eye - z @ y) / 2
            dtk = transpose(y) @ d_y + (0 if d_z is None else d_z @ transpose(z))
            d_z = (0 if d_z is None else transpose(tk) @ d_z) - dtk @ transpose(y) / 2
            d_y = d_y @ transpose(tk) - transpose(z) @ dtk / 2
        dt = dt - jnp.sum(d_y * ys[0], axis=(-2, -1), keepdims=True) / t
        return (symmetrize(d_y / t + dt * eye),)

    return make_op("newton_schulz_sqrt", forward, fwd, bwd)


def _newton_schulz_cases() -> list[Case]:
    return [
        Case("k=3_3x3", newton_schulz_sqrt_op(3), (Arg((3, 3), "symmetric", 0.5, 3.0),)),
        Case("k=5_batched", newton_schulz_sqrt_op(5), (Arg((2, 3, 3), "symmetric", 0.2, 2.0),)),
    ]


add_cases("newton_schulz_sqrt", _newton_schulz_cases)
