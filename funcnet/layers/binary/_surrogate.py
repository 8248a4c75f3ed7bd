"""The shape every elementwise quantiser shares: a piecewise-constant forward ``q(x)`` and an
intended gradient ``dx = dy ⊙ s′(x)``, the derivative of a chosen smooth (or piecewise-linear)
function ``s`` — the *surrogate*; the intended JVP ``ẏ = ẋ ⊙ s′(x)`` is its transpose. The
gradient reference is ``s(x) + stop_gradient(q(x) − s(x))``: the forward's values, ``s``'s
derivative. Finite differences are taken of ``s`` itself.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from funcnet.core.jvp_rules import diagonal_jvp, intended_primal
from funcnet.core.op import Op, make_op
from funcnet.layers.activations._helpers import finite_float

Fn = Callable[[jax.Array], jax.Array]


def check_float_input(name: str, x: jax.Array) -> None:
    """Raise (at trace time) unless ``x`` is floating point: a quantiser's input has a gradient."""
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{name}: expected a floating-point input, got dtype {dtype}.")


def positive_float(name: str, what: str, value: float, *, zero: bool = False) -> float:
    """``value`` as a float: a TypeError unless a real number, a ValueError unless finite and
    positive (or zero, with ``zero``)."""
    value = finite_float(name, what, value)
    if value < 0 or (value == 0 and not zero):
        expected = "non-negative" if zero else "positive"
        raise ValueError(f"{name}: expected {what} to be {expected}, got {value!r}.")
    return value


def sign(x: jax.Array) -> jax.Array:
    """``+1`` for ``x ≥ 0`` (zero maps to +1, as in Larq), ``−1`` for ``x < 0``, NaN for NaN."""
    one = jnp.ones_like(x)
    return jnp.where(x < 0, -one, jnp.where(x >= 0, one, x))


def surrogate_op(name: str, forward: Fn, smooth: Fn, derivative: Fn, gradient: str) -> Op:
    """The op ``x -> forward(x)`` whose backward is ``dy ⊙ derivative(x)``, ``derivative``
    being ``smooth``'s derivative (written out by hand, never differentiated)."""

    def checked_forward(x):
        check_float_input(name, x)
        return forward(x)

    def reference(x):
        s = smooth(x)
        return s + lax.stop_gradient(checked_forward(x) - s)

    def fwd(x):
        return checked_forward(x), (x,)

    def bwd(res, dy):
        # dx = dy ⊙ s′(x)
        (x,) = res
        dx = dy * derivative(x).astype(dy.dtype)
        # XLA rewrites dy·[mask] as a select, which would turn a NaN dy into 0 where the
        # surrogate's derivative is 0: keep NaN in, NaN out (as autodiff of the reference does)
        return (jnp.where(jnp.isnan(dy), dy, dx),)

    # ẏ = ẋ ⊙ s′(x): the intended diagonal Jacobian the backward applies
    primal = lambda x: intended_primal(checked_forward(x), smooth(x))  # noqa: E731
    jvp = diagonal_jvp(primal, lambda x, y: derivative(x).astype(x.dtype))
    return make_op(
        name,
        checked_forward,
        fwd,
        bwd,
        jvp=jvp,
        gradient=f"surrogate: {gradient}",
        gradient_reference=reference,
        finite_differences=smooth,
    )
