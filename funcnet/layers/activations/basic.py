"""Piecewise and saturating activations, elementwise: ``y = f(x)``, ``dx = dy ∘ f′(x)``.

Shapes: ``x [...]`` -> ``y [...]`` (any shape). An elementwise op has a diagonal Jacobian, so
the VJP is the elementwise product of ``dy`` with the derivative, written from what is saved:

    identity     y = x                          dx = dy                           saves nothing
    sigmoid      y = 1 / (1 + e^(−x))           dx = dy ∘ y ∘ (1 − y)             saves y
    tanh         y = tanh x                     dx = dy ∘ (1 − y²)                saves y
    relu         y = max(x, 0)                  dx = dy ∘ [y > 0]                 saves y
    leaky_relu   y = x if x ≥ 0 else s·x        dx = dy ∘ (1 if x ≥ 0 else s)     saves [x ≥ 0]

Saving ``y`` rather than ``x`` costs nothing extra when the next layer keeps its input anyway.
leaky_relu saves a boolean mask because its slope may be ≤ 0, when ``y`` does not tell the side.
The smooth activations (elu, gelu, softplus) are in :mod:`funcnet.layers.activations.smooth`.
Derivations and stability notes: docs/activations.md.
"""

from __future__ import annotations

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


@op_factory("identity")
def identity_op() -> Op:
    """The identity op ``x -> x``."""

    def forward(x):
        return x

    def fwd(x):
        return x, ()

    def bwd(res, dy):
        # dx = dy
        return (dy,)

    def jvp(primals, tangents):
        # ẏ = ẋ
        return primals[0], tangents[0]

    return make_op("identity", forward, fwd, bwd, jvp=jvp)


@op_factory("sigmoid")
def sigmoid_op() -> Op:
    """The logistic sigmoid op ``x -> 1 / (1 + exp(−x))``."""

    def forward(x):
        return lax.logistic(x)  # saturates to 0 or 1 and never overflows

    def fwd(x):
        y = forward(x)
        return y, (y,)

    def bwd(res, dy):
        # dx = dy ∘ y ∘ (1 − y)
        (y,) = res
        return (dy * y * (1 - y),)

    jvp = diagonal_jvp(forward, lambda x, y: y * (1 - y))  # ẏ = ẋ ∘ y ∘ (1 − y)
    return make_op("sigmoid", forward, fwd, bwd, jvp=jvp)


@op_factory("tanh")
def tanh_op() -> Op:
    """The hyperbolic tangent op ``x -> tanh(x)``."""

    def forward(x):
        return jnp.tanh(x)

    def fwd(x):
        y = forward(x)
        return y, (y,)

    def bwd(res, dy):
        # dx = dy ∘ (1 − y²), as (1 − y)(1 + y) to keep accuracy where y is near ±1
        (y,) = res
        return (dy * (1 - y) * (1 + y),)

    jvp = diagonal_jvp(forward, lambda x, y: (1 - y) * (1 + y))  # ẏ = ẋ ∘ (1 − y²)
    return make_op("tanh", forward, fwd, bwd, jvp=jvp)


@op_factory("relu")
def relu_op() -> Op:
    """The rectifier op ``x -> max(x, 0)`` (derivative 0 taken at the kink)."""

    def forward(x):
        # `where`, not `maximum`: autodiff then takes relu'(0) = 0 as the backward does
        # (jnp.maximum splits a tie and would give 1/2); `x <= 0` is False for NaN, which
        # passes through as it does in jax.nn.relu.
        return jnp.where(x <= 0, jnp.zeros_like(x), x)

    def fwd(x):
        y = forward(x)
        return y, (y,)

    def bwd(res, dy):
        # dx = dy ∘ [y > 0]
        (y,) = res
        return (jnp.where(y > 0, dy, 0),)

    jvp = diagonal_jvp(forward, lambda x, y: (y > 0).astype(y.dtype))  # ẏ = ẋ ∘ [y > 0]
    return make_op("relu", forward, fwd, bwd, jvp=jvp)


@op_factory("leaky_relu")
def leaky_relu_op(negative_slope: float = 0.01) -> Op:
    """The leaky rectifier op ``x -> x if x ≥ 0 else negative_slope · x``."""
    slope = finite_float("leaky_relu", "negative_slope", negative_slope)

    def forward(x):
        return jnp.where(x >= 0, x, slope * x)

    def fwd(x):
        return forward(x), (x >= 0,)

    def bwd(res, dy):
        # dx = dy ∘ (1 if x ≥ 0 else s)
        (nonnegative,) = res
        return (jnp.where(nonnegative, dy, slope * dy),)

    # ẏ = ẋ ∘ (1 if x ≥ 0 else s)
    jvp = diagonal_jvp(forward, lambda x, y: jnp.where(x >= 0, 1.0, slope).astype(y.dtype))
    return make_op("leaky_relu", forward, fwd, bwd, jvp=jvp)


@layer_factory("identity")
def identity() -> Layer:
    """A layer returning its input unchanged.

    Shapes:
      x: ``[...]`` -> y: ``[...]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = identity().apply((), (), jnp.array([-1.0, 2.0]))
      >>> y.tolist()
      [-1.0, 2.0]
    """
    return elementwise(identity_op())


@layer_factory("sigmoid")
def sigmoid() -> Layer:
    """A layer applying the logistic sigmoid ``1 / (1 + exp(−x))`` elementwise.

    Shapes:
      x: ``[...]`` -> y: ``[...]``, values in ``[0, 1]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = sigmoid().apply((), (), jnp.array([-1e4, 0.0, 1e4]))
      >>> y.tolist()
      [0.0, 0.5, 1.0]
    """
    return elementwise(sigmoid_op())


@layer_factory("tanh")
def tanh() -> Layer:
    """A layer applying the hyperbolic tangent elementwise.

    Shapes:
      x: ``[...]`` -> y: ``[...]``, values in ``[−1, 1]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = tanh().apply((), (), jnp.array([-1e4, 0.0, 1e4]))
      >>> y.tolist()
      [-1.0, 0.0, 1.0]
    """
    return elementwise(tanh_op())


@layer_factory("relu")
def relu() -> Layer:
    """A layer applying the rectifier ``max(x, 0)`` elementwise.

    Shapes:
      x: ``[...]`` -> y: ``[...]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = relu().apply((), (), jnp.array([-2.0, 0.0, 3.0]))
      >>> y.tolist()
      [0.0, 0.0, 3.0]
    """
    return elementwise(relu_op())


@layer_factory("leaky_relu")
def leaky_relu(negative_slope: float = 0.01) -> Layer:
    """A layer applying ``x if x ≥ 0 else negative_slope · x`` elementwise.

    Args:
      negative_slope: the slope for negative inputs, a finite float.

    Shapes:
      x: ``[...]`` -> y: ``[...]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = leaky_relu(0.5).apply((), (), jnp.array([-2.0, 0.0, 3.0]))
      >>> y.tolist()
      [-1.0, 0.0, 3.0]
    """
    return elementwise(leaky_relu_op(negative_slope))


add_cases(
    "identity",
    lambda: shape_cases(identity_op(), Case("matrix", identity_op(), (Arg((4, 5)),), True)),
)
add_cases(
    "sigmoid",
    lambda: shape_cases(
        sigmoid_op(),
        Case("matrix_saturating", sigmoid_op(), (Arg((4, 5), low=-12.0, high=12.0),), True),
    ),
)
add_cases(
    "tanh",
    lambda: shape_cases(
        tanh_op(), Case("matrix_saturating", tanh_op(), (Arg((4, 5), low=-6.0, high=6.0),), True)
    ),
)
add_cases("relu", lambda: shape_cases(relu_op(), Case("matrix", relu_op(), (Arg((4, 5), **KINK),))))
add_cases(
    "leaky_relu",
    lambda: shape_cases(
        leaky_relu_op(), Case("matrix_slope_-0.5", leaky_relu_op(-0.5), (Arg((4, 5), **KINK),))
    ),
)
add_activation_layer_cases("identity", identity)
add_activation_layer_cases("sigmoid", sigmoid)
add_activation_layer_cases("tanh", tanh)
add_activation_layer_cases("relu", relu)
add_activation_layer_cases("leaky_relu", lambda: leaky_relu(-0.5))
