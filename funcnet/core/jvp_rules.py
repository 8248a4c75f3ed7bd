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
