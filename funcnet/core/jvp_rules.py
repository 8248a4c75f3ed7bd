"""Hand-written JVPs shared by many ops."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def linear_jvp(forward: Callable[..., Any]) -> Callable[[tuple, tuple], tuple[Any, Any]]:
    """The JVP of an op that is linear in all its arguments jointly (``y = A x``, a sum, a
    reshape, a cast): ``ẏ = A ẋ``, the op itself applied to the tangents."""

    def jvp(primals: tuple, tangents: tuple) -> tuple[Any, Any]:
        return forward(*primals), forward(*tangents)

    return jvp


def diagonal_jvp(
    forward: Callable[[Any], Any], slope: Callable[[Any, Any], Any]
) -> Callable[[tuple, tuple], tuple[Any, Any]]:
    """The JVP of an elementwise op whose derivative at ``x`` is ``slope(x, y)``, ``y`` its
    output: ``ẏ = ẋ ∘ f′(x)``, the same diagonal Jacobian the backward applies."""

    def jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        y = forward(x)
        return y, dx * slope(x, y)

    return jvp


def bilinear_jvp(
    forward: Callable[..., Any], product: Callable[[Any, Any], Any]
) -> Callable[[tuple, tuple], tuple[Any, Any]]:
    """The JVP of ``y = forward(x, w[, b]) = product(x, w) (+ b)``, ``product`` bilinear (a
    matrix product, a convolution): ``ẏ = product(ẋ, w) + product(x, ẇ) (+ ḃ)``, the forward
    applied to ``(ẋ, w, ḃ)`` plus the product with ``ẇ``. Each term has the tangent as one
    operand of the same product, so JAX transposes it exactly as the forward's VJP."""

    def jvp(primals: tuple, tangents: tuple) -> tuple[Any, Any]:
        (x, w, *b), (dx, dw, *db) = primals, tangents
        return forward(x, w, *b), forward(dx, w, *db) + product(x, dw)

    return jvp


def linear_in_floats_jvp(forward: Callable[..., Any]) -> Callable[[tuple, tuple], tuple[Any, Any]]:
    """The JVP of an op linear in its floating-point arguments jointly, its integer arguments
    (indices, keep masks) held fixed: ``ẏ = A(ids) ẋ``, the op applied to the tangents with the
    integer arguments' own values in place of their ``float0`` tangents."""

    def jvp(primals: tuple, tangents: tuple) -> tuple[Any, Any]:
        held = tuple(p if _is_float0(t) else t for p, t in zip(primals, tangents, strict=True))
        return forward(*primals), forward(*held)

    return jvp


def scalar_jvp(
    fwd: Callable[..., tuple[Any, Any]], bwd: Callable[[Any, Any], tuple[Any, ...]]
) -> Callable[[tuple, tuple], tuple[Any, Any]]:
    """The JVP of an op with a scalar output (a loss): its Jacobian is the one row ``∇f(x)ᵀ``,
    which the backward applies as ``g ∇f(x)``, so ``ẏ = Σ_i ⟨∇_i f(x), ẋ_i⟩`` with the gradients
    from ``bwd`` at cotangent 1; an argument whose cotangent is ``None`` (integer labels) adds
    nothing."""

    def jvp(primals: tuple, tangents: tuple) -> tuple[Any, Any]:
        # ẏ = ∇f(x)ᵀ ẋ: the same row the backward scales by g
        y, res = fwd(*primals)
        grads = bwd(res, jnp.ones_like(y))
        terms = [jnp.sum(g * t) for g, t in zip(grads, tangents, strict=True) if g is not None]
        return y, functools.reduce(operator.add, terms)

    return jvp


def _is_float0(t: Any) -> bool:
    return getattr(t, "dtype", None) == jax.dtypes.float0


def intended_primal(y: Any, s: Any) -> Any:
    """``y``'s values with ``s``'s derivative, ``stop_gradient(y) + (s − stop_gradient(s))``:
    the primal output of an intended-gradient JVP (surrogate ``s``), so that a second derivative
    taken through the JVP (``jax.hessian`` on the ``"manual_jvp"`` path) sees the intended first
    derivative, as the gradient reference does, not the true one (zero, for a quantiser). Where
    ``s`` is not finite (``x·(1 − σ(x))`` at ``x = ∞``) the values stay ``y``'s, not NaN."""
    stop = jax.lax.stop_gradient
    zero = s - stop(s)  # 0, with s's derivative
    return stop(y) + jnp.where(jnp.isnan(zero), 0, zero)
