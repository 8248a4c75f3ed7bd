"""Hand-written JVPs shared by many ops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


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
