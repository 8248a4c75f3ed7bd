"""Softmax and log-softmax along one axis.

Shapes: ``x [...]`` -> ``y [...]``; each slice along ``axis`` (length n) is normalised alone.
On one slice, with ``s = softmax(x)``, ``s_i = e^(x_i) / Σ_j e^(x_j)``, the Jacobians and VJPs are::

    softmax:      J = diag(s) − s sᵀ    dx = Jᵀ dy = s ∘ (dy − (sᵀ dy) 1)    saves s
    log_softmax:  J = I − 1 sᵀ          dx = Jᵀ dy = dy − s (1ᵀ dy)          saves y; s = exp(y)

Both forwards subtract the slice maximum first, so no exponential exceeds 1 (logits of ±1e4
are fine); log_softmax is ``z − log Σ e^z`` with ``z = x − max x`` and never takes a log of 0.
The shift is held constant (``stop_gradient``): the result does not depend on it.
Derivations: docs/activations.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
from jax import lax

from funcnet.core.layer import Layer, check_negative_axes, elementwise
from funcnet.core.layer_registry import layer_factory
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.activations._helpers import add_activation_layer_cases


def check_axis_type(name: str, axis: Any) -> int:
    """Return ``axis``, raising a TypeError unless it is a Python int."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"{name}: expected axis to be an int, got {axis!r}.")
    return axis


def check_axis_in_range(name: str, axis: int, shape: Sequence[int]) -> None:
    """Raise a ValueError unless ``axis`` indexes an input of shape ``shape``."""
    r = len(shape)
    if not -r <= axis < r:
        raise ValueError(
            f"{name}: expected axis in [{-r}, {r}) for an input of rank {r}, "
            f"got axis={axis} for shape {tuple(shape)}."
        )


def _shifted(x: Any, axis: int) -> Any:
    """``x − max_axis x``, the shift held constant: every exponent is ≤ 0."""
    return x - lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True))


@op_factory("softmax")
def softmax_op(axis: int = -1) -> Op:
    """The softmax op ``x -> exp(x) / Σ_axis exp(x)``."""
    axis = check_axis_type("softmax", axis)

    def forward(x):
        check_axis_in_range("softmax", axis, jnp.shape(x))
        e = jnp.exp(_shifted(x, axis))
        return e / jnp.sum(e, axis=axis, keepdims=True)

    def fwd(x):
        y = forward(x)
        return y, (y,)

    def bwd(res, dy):
        # dx = y ∘ (dy − Σ_axis(dy ∘ y))   (J = diag(y) − y yᵀ per slice)
        (y,) = res
        return (y * (dy - jnp.sum(dy * y, axis=axis, keepdims=True)),)

    def jvp(primals, tangents):
        # ẏ = y ∘ (ẋ − Σ_axis(y ∘ ẋ)): the same symmetric J = diag(y) − y yᵀ
        (x,), (dx,) = primals, tangents
        y = forward(x)
        return y, y * (dx - jnp.sum(y * dx, axis=axis, keepdims=True))

    return make_op("softmax", forward, fwd, bwd, jvp=jvp)


@op_factory("log_softmax")
def log_softmax_op(axis: int = -1) -> Op:
    """The log-softmax op ``x -> x − log Σ_axis exp(x)``."""
    axis = check_axis_type("log_softmax", axis)

    def forward(x):
        check_axis_in_range("log_softmax", axis, jnp.shape(x))
        z = _shifted(x, axis)
        return z - jnp.log(jnp.sum(jnp.exp(z), axis=axis, keepdims=True))

    def fwd(x):
        y = forward(x)
        return y, (y,)

    def bwd(res, dy):
        # dx = dy − softmax ∘ Σ_axis dy, with softmax = exp(y)
        (y,) = res
        return (dy - jnp.exp(y) * jnp.sum(dy, axis=axis, keepdims=True),)

    def jvp(primals, tangents):
        # ẏ = ẋ − Σ_axis(softmax ∘ ẋ), softmax = exp(y)
        (x,), (dx,) = primals, tangents
        y = forward(x)
        return y, dx - jnp.sum(jnp.exp(y) * dx, axis=axis, keepdims=True)

    return make_op("log_softmax", forward, fwd, bwd, jvp=jvp)


@layer_factory("softmax")
def softmax(axis: int = -1) -> Layer:
    """A layer normalising ``exp(x)`` to sum to one along ``axis``.

    Args:
      axis: the axis to normalise along, negative (counted from the end, so that the layer
        means the same with any number of leading batch axes).

    Shapes:
      x: ``[...]`` -> y: ``[...]``, non-negative and summing to one along ``axis``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = softmax().apply((), (), jnp.array([[0.0, 0.0], [1e4, -1e4]]))
      >>> y.tolist()
      [[0.5, 0.5], [1.0, 0.0]]
    """
    return _along_axis(softmax_op(axis), axis)


@layer_factory("log_softmax")
def log_softmax(axis: int = -1) -> Layer:
    """A layer computing ``x − log Σ_axis exp(x)``, the log of :func:`softmax`.

    Args:
      axis: as for :func:`softmax`.

    Shapes:
      x: ``[...]`` -> y: ``[...]``, non-positive, with ``exp(y)`` summing to one along ``axis``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = log_softmax().apply((), (), jnp.array([[0.0, 0.0], [1e4, -1e4]]))
      >>> [[round(v, 6) for v in row] for row in y.tolist()]
      [[-0.693147, -0.693147], [0.0, -20000.0]]
    """
    return _along_axis(log_softmax_op(axis), axis)


def _along_axis(op: Op, axis: int) -> Layer:
    """The layer applying ``op`` along a negative ``axis``, checked against the input's rank."""
    check_negative_axes(op.name, axis)
    return elementwise(op, check=lambda shape: check_axis_in_range(op.name, axis, shape))


def _cases(make: Any) -> list[Case]:
    return [
        Case("vector", make(-1), (Arg((7,)),)),
        Case("matrix_wide", make(-1), (Arg((4, 5), low=-10.0, high=10.0),)),
        Case("batch_3d", make(-1), (Arg((2, 3, 4)),)),
        Case("batch_3d_axis0", make(0), (Arg((2, 3, 4)),), second_order=True),
        Case("batch_3d_axis1", make(1), (Arg((2, 3, 4)),)),
    ]


add_cases("softmax", lambda: _cases(softmax_op))
add_cases("log_softmax", lambda: _cases(log_softmax_op))
add_activation_layer_cases("softmax", softmax)
add_activation_layer_cases("log_softmax", log_softmax)
