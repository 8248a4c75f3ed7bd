"""Matrix functions of a symmetric positive definite matrix through its spectrum, with the
Daleckii–Krein backward: ``matrix_log``, ``matrix_sqrt``, ``matrix_power(p)``.

Shapes: ``a [..., n, n]`` -> ``y [..., n, n]``. The op reads ``S = (A + Aᵀ)/2`` (symmetry of the
values is assumed, not checked) and, with ``S = V diag(λ) Vᵀ``, computes
``Y = V diag(f(max(λ, ε))) Vᵀ``: eigenvalues below ``eps`` (rounding of a rank-deficient
covariance, a matrix that is not positive definite) are raised to ``eps``, so no NaN comes back
from a negative eigenvalue. With ``h = f(max(·, ε))``::

    dA = V (L ∘ (Vᵀ sym(dY) V)) Vᵀ,   L_ij = (h(λ_i) − h(λ_j))/(λ_i − λ_j),  L_ii = h′(λ_i)

``L`` uses the cancellation-free divided differences of ``_divided_differences.py``, so the
gradient is finite and correct at repeated eigenvalues (identity-like covariances), where
autodiff through ``jnp.linalg.eigh`` returns NaN. Saves ``λ, V``. Derivation: docs/matrix.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.matrix._divided_differences import (
    DividedDifference,
    daleckii_krein,
    log_divided_difference,
    power_divided_difference,
    sqrt_divided_difference,
)
from funcnet.layers.matrix._helpers import (
    check_eps,
    check_matrix,
    decompose,
    symmetrize,
    transpose,
)

DEFAULT_EPS = 1e-6


def spectral_op(
    name: str, f: Callable[[jax.Array], jax.Array], dd: DividedDifference, eps: float
) -> Op:
    """The op ``a -> V f(max(λ, ε)) Vᵀ`` with the Daleckii–Krein backward built from ``dd``."""
    check_eps(name, eps)

    def values(a):
        check_matrix(name, a, square=True)
        w, v = decompose(jnp.linalg.eigh, a)  # reads (a + aᵀ)/2
        return (v * f(jnp.maximum(w, eps))[..., None, :]) @ transpose(v), (w, v)

    def forward(a):
        return values(a)[0]

    def fwd(a):
        return values(a)

    def bwd(res, dy):
        # dA = V (L ∘ (Vᵀ sym(dY) V)) Vᵀ,  L_ij = (h(λ_i) − h(λ_j))/(λ_i − λ_j), h = f(max(·, ε))
        w, v = res
        inner = daleckii_krein(dd, w, eps) * (transpose(v) @ symmetrize(dy) @ v)
        return (v @ inner @ transpose(v),)

    def jvp(primals, tangents):
        # Ẏ = V (L ∘ (Vᵀ sym(Ȧ) V)) Vᵀ, the same L: the backward's map is self-adjoint
        (a,), (da,) = primals, tangents
        y, (w, v) = values(a)
        inner = daleckii_krein(dd, w, eps) * (transpose(v) @ symmetrize(da) @ v)
        return y, v @ inner @ transpose(v)

    return make_op(name, forward, fwd, bwd, jvp=jvp)


@op_factory("matrix_log")
def matrix_log_op(*, eps: float = DEFAULT_EPS) -> Op:
    """The op ``a [..., n, n] -> log(a)``, the principal logarithm of ``(a + aᵀ)/2``.

    Args:
      eps: eigenvalues below it are raised to it before the logarithm.

    Examples:
      >>> import jax.numpy as jnp
      >>> y = matrix_log_op()(jnp.array([[1.0, 0.0], [0.0, 2.0]]))
      >>> [round(v, 4) for v in jnp.diagonal(y).tolist()]
      [0.0, 0.6931]
    """
    return spectral_op("matrix_log", jnp.log, log_divided_difference, eps)


@op_factory("matrix_sqrt")
def matrix_sqrt_op(*, eps: float = DEFAULT_EPS) -> Op:
    """The op ``a [..., n, n] -> a^½``, the principal square root of ``(a + aᵀ)/2``.

    Args:
      eps: eigenvalues below it are raised to it before the square root.

    Examples:
      >>> import jax.numpy as jnp
      >>> y = matrix_sqrt_op()(jnp.array([[4.0, 0.0], [0.0, 9.0]]))
      >>> jnp.diagonal(y).tolist()
      [2.0, 3.0]
    """
    return spectral_op("matrix_sqrt", jnp.sqrt, sqrt_divided_difference, eps)


@op_factory("matrix_power")
def matrix_power_op(p: float, *, eps: float = DEFAULT_EPS) -> Op:
    """The op ``a [..., n, n] -> a^p`` for a real exponent ``p``, of ``(a + aᵀ)/2``.

    Args:
      p: the exponent, a Python float (or int); fixed when the op is built.
      eps: eigenvalues below it are raised to it before the power.

    Examples:
      >>> import jax.numpy as jnp
      >>> y = matrix_power_op(-0.5)(jnp.array([[4.0, 0.0], [0.0, 16.0]]))
      >>> jnp.diagonal(y).tolist()
      [0.5, 0.25]
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"matrix_power: expected p to be a float, got {p!r}.")
    if not math.isfinite(p):
        raise ValueError(f"matrix_power: expected a finite p, got {p!r}.")
    p = float(p)
    return spectral_op("matrix_power", lambda x: x**p, power_divided_difference(p), eps)


def _matrix_log_cases() -> list[Case]:
    return [Case("spd_2x3x3", matrix_log_op(), (Arg((2, 3, 3), "symmetric", 0.2, 3.0),))]


def _matrix_sqrt_cases() -> list[Case]:
    # One eigenvalue of each matrix, in [-1.1, -0.4], is raised to eps = 0.1 (h is flat there).
    op = matrix_sqrt_op(eps=0.1)
    return [Case("clamped_2x3x3", op, (Arg((2, 3, 3), "symmetric", -1.5, 3.0),))]


def _matrix_power_cases() -> list[Case]:
    op = matrix_power_op(-0.5)
    return [Case("p=-0.5_2x3x3", op, (Arg((2, 3, 3), "symmetric", 0.3, 3.0),))]


add_cases("matrix_log", _matrix_log_cases)
add_cases("matrix_sqrt", _matrix_sqrt_cases)
add_cases("matrix_power", _matrix_power_cases)
