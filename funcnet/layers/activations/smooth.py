"""Smooth activations, elementwise: elu, gelu (exact and tanh form) and softplus.

Shapes: ``x [...]`` -> ``y [...]`` (any shape). The Jacobian is diagonal, so ``dx = dy ∘ f′(x)``:

    elu       y = x if x > 0 else α(eˣ − 1)        dx = dy ∘ (1 if y > 0 else y + α)   saves y
    gelu      y = x Φ(x)                           dx = dy ∘ (Φ(x) + x φ(x))          saves x
    gelu≈     y = ½x(1 + tanh u), u = k(x + c x³)  dx = dy ∘ (½(1 + t) + ½x(1 − t²)u′)  saves x
    softplus  y = log(1 + eˣ)                      dx = dy ∘ σ(x) = dy ∘ (1 − e^(−y))  saves y

with ``Φ``/``φ`` the standard normal cdf/pdf, ``k = √(2/π)``, ``c = 0.044715``, ``t = tanh u``,
``u′ = k(1 + 3c x²)``. elu and softplus recover their derivative from ``y`` (elu needs α > 0 so
that ``y > 0`` exactly when ``x > 0``); gelu's derivative needs ``x`` itself.
Stability: elu takes ``expm1`` of ``min(x, 0)`` only; Φ is computed as ``½ erfc(−x/√2)``;
softplus is ``logaddexp(x, 0)``. Derivations: docs/activations.md.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import lax

from funcnet.core.jvp_rules import diagonal_jvp
from funcnet.core.layer import Layer, elementwise
from funcnet.core.layer_registry import layer_factory
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.activations._helpers import (
    KINK,
    add_activation_layer_cases,
    finite_float,
    shape_cases,
)

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_K = math.sqrt(2 / math.pi)  # tanh-form gelu constants
_C = 0.044715


@op_factory("elu")
def elu_op(alpha: float = 1.0) -> Op:
    """The exponential linear unit ``x -> x if x > 0 else alpha · (exp(x) − 1)``."""
    alpha = finite_float("elu", "alpha", alpha)
    if alpha <= 0:
        raise ValueError(f"elu: expected alpha > 0, got {alpha!r}.")

    def forward(x):
        return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0)))

    def fwd(x):
        y = forward(x)
        return y, (y,)

    def bwd(res, dy):
        # dx = dy ∘ (1 if y > 0 else y + α), since α eˣ = y + α for x ≤ 0
        (y,) = res
        return (jnp.where(y > 0, dy, dy * (y + alpha)),)

    # ẏ = ẋ ∘ (1 if y > 0 else y + α)
    jvp = diagonal_jvp(forward, lambda x, y: jnp.where(y > 0, 1.0, y + alpha).astype(y.dtype))
    return make_op("elu", forward, fwd, bwd, jvp=jvp)


@op_factory("gelu")
def gelu_op(approximate: bool = False) -> Op:
    """The Gaussian error linear unit ``x -> x Φ(x)``, or its tanh approximation."""
    if not isinstance(approximate, bool):
        raise TypeError(f"gelu: expected approximate to be a bool, got {approximate!r}.")

    def forward(x):
        if approximate:
            return 0.5 * x * (1 + jnp.tanh(_K * (x + _C * x**3)))
        return x * (0.5 * lax.erfc(-x * _SQRT_HALF))  # erfc keeps Φ accurate for x ≪ 0

    def fwd(x):
        return forward(x), (x,)

    def bwd(res, dy):
        # dx = dy ∘ f′(x), f′ below
        (x,) = res
        return (dy * derivative(x),)

    def derivative(x):
        # f′(x) = Φ(x) + x φ(x); tanh form: ½(1 + t) + ½ x (1 − t²) k (1 + 3c x²). Φ(x) and t
        # are written differently from the forward's on purpose: the same expression would be
        # merged with the forward's by XLA (CSE), and its intermediates (erfc's: three arrays
        # the size of x) kept in memory from the forward to the backward (docs/activations.md)
        if approximate:
            t = jnp.tanh(_K * x + (_K * _C) * x**3)
            x2 = jnp.minimum(x * x, 100.0)  # 1 − t² is exactly 0 past |x| = 10: no 0 · ∞
            return 0.5 * (1 + t) + 0.5 * x * (1 - t) * (1 + t) * _K * (1 + 3 * _C * x2)
        cdf = 0.5 * lax.erfc(x * -_SQRT_HALF)
        return cdf + x * (_INV_SQRT_2PI * jnp.exp(-0.5 * x * x))

    jvp = diagonal_jvp(forward, lambda x, y: derivative(x))  # ẏ = ẋ ∘ f′(x)
    return make_op("gelu", forward, fwd, bwd, jvp=jvp)


@op_factory("softplus")
def softplus_op() -> Op:
    """The softplus op ``x -> log(1 + exp(x))``."""

    def forward(x):
        return jnp.logaddexp(x, 0)

    def fwd(x):
        y = forward(x)
        return y, (y,)

    def bwd(res, dy):
        # dx = dy ∘ σ(x) = dy ∘ (1 − e^(−y)), computed as −expm1(−y) (accurate for small y)
        (y,) = res
        return (-dy * jnp.expm1(-y),)

    jvp = diagonal_jvp(forward, lambda x, y: -jnp.expm1(-y))  # ẏ = ẋ ∘ σ(x) = ẋ ∘ (1 − e^(−y))
    return make_op("softplus", forward, fwd, bwd, jvp=jvp)


@layer_factory("elu")
def elu(alpha: float = 1.0) -> Layer:
    """A layer applying ``x if x > 0 else alpha · (exp(x) − 1)`` elementwise.

    Args:
      alpha: the negative saturation value is ``−alpha``; a finite float > 0.

    Shapes:
      x: ``[...]`` -> y: ``[...]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = elu().apply((), (), jnp.array([-1e4, 0.0, 2.0]))
      >>> y.tolist()
      [-1.0, 0.0, 2.0]
    """
    return elementwise(elu_op(alpha))


@layer_factory("gelu")
def gelu(approximate: bool = False) -> Layer:
    """A layer applying the GELU ``x Φ(x)`` elementwise.

    Args:
      approximate: use ``½x(1 + tanh(√(2/π)(x + 0.044715x³)))`` instead of the exact erf form.

    Shapes:
      x: ``[...]`` -> y: ``[...]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = gelu().apply((), (), jnp.array([-40.0, 0.0, 1.0]))
      >>> [round(v, 6) for v in y.tolist()]
      [-0.0, 0.0, 0.841345]
    """
    return elementwise(gelu_op(approximate))


@layer_factory("softplus")
def softplus() -> Layer:
    """A layer applying ``log(1 + exp(x))`` elementwise.

    Shapes:
      x: ``[...]`` -> y: ``[...]``, values ``> 0`` (``0`` where ``exp(x)`` underflows).

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = softplus().apply((), (), jnp.array([-1e4, 0.0, 1e4]))
      >>> [round(v, 6) for v in y.tolist()]
      [0.0, 0.693147, 10000.0]
    """
    return elementwise(softplus_op())


add_cases(
    "elu",
    lambda: shape_cases(
        elu_op(),
        Case("matrix_alpha_0.5", elu_op(0.5), (Arg((4, 5), low=-20.0, high=3.0, **KINK),), True),
    ),
)
add_cases(
    "gelu",
    lambda: [
        *shape_cases(
            gelu_op(), Case("matrix", gelu_op(), (Arg((4, 5), low=-8.0, high=8.0),), True)
        ),
        Case("approximate_matrix", gelu_op(True), (Arg((4, 5), low=-8.0, high=8.0),), True),
    ],
)
add_cases(
    "softplus",
    lambda: shape_cases(
        softplus_op(), Case("matrix", softplus_op(), (Arg((4, 5), low=-30.0, high=30.0),), True)
    ),
)
add_activation_layer_cases("elu", elu)
add_activation_layer_cases("gelu", lambda: gelu(approximate=True))
add_activation_layer_cases("softplus", softplus)
