"""The layer contract: a pure ``(init, apply)`` pair over pytrees.

A layer factory (``dense(512)``, ``relu()``) closes over its configuration and returns a
:class:`Layer`::

    init(key, input_shape) -> (output_shape, params, state)
    apply(params, state, x, *, key=None, train=False, backward="manual") -> (y, state)

``input_shape`` includes the leading batch axes. ``params`` and ``state`` are pytrees of arrays
(``()`` when there are none). Randomness comes from ``key``; running statistics travel in
``state``. ``backward`` picks the hand-written backward (``"manual"``) or JAX autodiff of the
reference forward (``"autodiff"``); it is a plain Python value, so it is static under ``jit``.

Shape, dtype and hyperparameter errors are ``ValueError``s raised at trace time naming the
layer, the expected value and the actual one; the helpers below phrase them uniformly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from funcnet.core.op import Backward, Op, check_backward

Shape = tuple[int, ...]


class InitFn(Protocol):
    def __call__(self, key: jax.Array, input_shape: Shape) -> tuple[Any, Any, Any]: ...


class ApplyFn(Protocol):
    def __call__(
        self,
        params: Any,
        state: Any,
        x: Any,
        *,
        key: jax.Array | None = None,
        train: bool = False,
        backward: Backward = "manual",
    ) -> tuple[Any, Any]: ...


class Layer(NamedTuple):
    """A named pair of pure functions; see the module docstring for the signatures."""

    name: str
    init: InitFn
    apply: ApplyFn


def check_shape_rank(name: str, shape: Sequence[int], min_rank: int, what: str = "input") -> None:
    """Raise unless ``shape`` has at least ``min_rank`` axes."""
    if len(shape) < min_rank:
        raise ValueError(
            f"{name}: expected an {what} of rank >= {min_rank}, got shape {tuple(shape)}."
        )


def check_axis_size(name: str, shape: Sequence[int], axis: int, expected: int) -> None:
    """Raise unless ``shape[axis] == expected``."""
    if shape[axis] != expected:
        raise ValueError(
            f"{name}: expected input axis {axis} of size {expected}, got shape {tuple(shape)}."
        )


def check_floating(name: str, x: Any, expected_dtype: Any = None) -> None:
    """Raise unless ``x`` is floating point (and of ``expected_dtype`` when one is given).

    A mismatch with the parameters' dtype is an error rather than a cast: casting would either
    silently downcast the input or silently promote the computation.
    """
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{name}: expected a floating-point input, got dtype {dtype}.")
    if expected_dtype is not None and dtype != jnp.dtype(expected_dtype):
        raise ValueError(
            f"{name}: expected input dtype {jnp.dtype(expected_dtype)} (the parameters' "
            f"dtype), got {dtype}; cast the input or initialise the layer with dtype={dtype}."
        )


def check_positive_int(name: str, what: str, value: Any) -> None:
    """Raise unless ``value`` is a positive Python integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: expected {what} to be a positive integer, got {value!r}.")


def check_input_shape(name: str, input_shape: Any) -> Shape:
    """Return ``input_shape`` as a tuple of ints, raising if it is not one."""
    try:
        shape = tuple(int(d) for d in input_shape)
    except TypeError:
        raise ValueError(
            f"{name}: expected input_shape to be a tuple of ints, got {input_shape!r}."
        ) from None
    if any(d <= 0 for d in shape):
        raise ValueError(f"{name}: expected positive dimensions, got input_shape {shape}.")
    return shape


def op_layer(
    op: Op,
    *,
    min_rank: int = 0,
    what: str = "input",
    output_shape: Callable[[Shape], Shape] | None = None,
    check: Callable[[Any], None] | None = None,
) -> Layer:
    """A parameter-free layer applying ``op`` to a floating input of rank ``>= min_rank``.

    ``output_shape`` maps the input shape to the output shape (the identity by default);
    ``check`` validates the input further (at trace time).
    """

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple, tuple]:
        del key
        shape = check_input_shape(op.name, input_shape)
        check_shape_rank(op.name, shape, min_rank, what)
        return (output_shape(shape) if output_shape else shape), (), ()

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        del params, key, train
        check_backward(backward, op.name)
        check_shape_rank(op.name, jnp.shape(x), min_rank, what)
        check_floating(op.name, x)
        if check is not None:
            check(x)
        return op(x, backward=backward), state

    return Layer(op.name, init, apply)


def elementwise(op: Op, check: Callable[[Any], None] | None = None) -> Layer:
    """A parameter-free layer applying a shape-preserving ``op`` to its input."""
    return op_layer(op, check=check)
