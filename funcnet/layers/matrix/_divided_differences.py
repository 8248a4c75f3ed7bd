"""Divided differences ``(f(a) − f(b))/(a − b)`` of log, square root and powers, without
cancellation, and the Daleckii–Krein matrix ``L`` built from them.

The naive quotient subtracts two nearly equal numbers when ``a ≈ b`` and loses about
``log10(|f(a)|/|f(a) − f(b)|)`` digits (all of them at a gap below ``eps·|a|``). Written with
``b = min(a, b)`` and the relative gap ``x = (a − b)/b``, none of the forms below cancels::

    log:    (log a − log b)/(a − b) = log1p(x)/(x·b)                  → 1/b       at x = 0
    sqrt:   (√a − √b)/(a − b) = 1/(√a + √b)                           (no quotient at all)
    power:  (a^p − b^p)/(a − b) = b^(p−1)·expm1(p·log1p(x))/x         → p·b^(p−1) at x = 0

``a − b`` is exact when ``a`` and ``b`` are close (Sterbenz), and ``log1p``/``expm1`` are
accurate to an ulp for every ``x``, so each form is accurate to a few ulps at *every* gap,
and continuous as the gap closes: the limit ``f′`` replaces the quotient only where the gap is
exactly zero (0/0). A positive coincidence threshold would add an error of order ``f″·gap``
for nothing. docs/matrix.md shows the error across gaps from 1e-2 to 1e-12.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

DividedDifference = Callable[[jax.Array, jax.Array], jax.Array]


def _relative_gap(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(lo, x, x == 0)`` with ``lo = min(a, b)``, ``x = (max − min)/min`` (0 where x is 0)."""
    lo = jnp.minimum(a, b)
    x = (jnp.maximum(a, b) - lo) / lo
    zero = x == 0
    return lo, jnp.where(zero, 1, x), zero


def log_divided_difference(a: jax.Array, b: jax.Array) -> jax.Array:
    """``(log a − log b)/(a − b)`` for positive ``a, b``; ``1/a`` where ``a = b``."""
    lo, x, zero = _relative_gap(a, b)
    return jnp.where(zero, 1, jnp.log1p(x) / x) / lo


def sqrt_divided_difference(a: jax.Array, b: jax.Array) -> jax.Array:
    """``(√a − √b)/(a − b) = 1/(√a + √b)`` for positive ``a, b``."""
    return 1 / (jnp.sqrt(a) + jnp.sqrt(b))


def power_divided_difference(p: float) -> DividedDifference:
    """``(a^p − b^p)/(a − b)`` for positive ``a, b``; ``p·a^(p−1)`` where ``a = b``."""

    def divided_difference(a: jax.Array, b: jax.Array) -> jax.Array:
        lo, x, zero = _relative_gap(a, b)
        return lo ** (p - 1) * jnp.where(zero, p, jnp.expm1(p * jnp.log1p(x)) / x)

    return divided_difference


def daleckii_krein(dd: DividedDifference, lam: jax.Array, eps: float) -> jax.Array:
    """``L_ij = (h(λ_i) − h(λ_j))/(λ_i − λ_j)`` (``h′(λ_i)`` where equal) for ``h = f(max(·, ε))``.

    ``lam [..., n] -> L [..., n, n]``. With ``λ̃ = max(λ, ε)``, ``L = dd(λ̃_i, λ̃_j)·R_ij`` where
    ``R_ij = (λ̃_i − λ̃_j)/(λ_i − λ_j)`` is 1 when neither value is clamped (exactly: the same
    difference twice), 0 when both are, and the fraction of the gap above ``ε`` otherwise;
    ``R = 1`` on repeats at or above ``ε`` and 0 below, where ``h`` is flat.
    """
    clamped = jnp.maximum(lam, eps)
    li, lj = lam[..., :, None], lam[..., None, :]
    ci, cj = clamped[..., :, None], clamped[..., None, :]
    equal = li == lj
    ratio = jnp.where(equal, jnp.where(li >= eps, 1, 0), (ci - cj) / jnp.where(equal, 1, li - lj))
    return dd(ci, cj) * ratio.astype(lam.dtype)
