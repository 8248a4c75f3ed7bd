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
