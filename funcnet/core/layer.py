"""The layer contract: a pure ``(init, apply)`` pair over pytrees.

A layer factory (``dense(512)``, ``relu()``) closes over its configuration and returns a
:class:`Layer`::

    init(key, input_shape) -> (output_shape, params, state)
    apply(params, state, x, *, key=None, train=False, backward="manual") -> (y, state)

``input_shape`` includes the leading batch axes. ``params`` and ``state`` are pytrees of arrays
(``()`` when there are none). Randomness comes from ``key``; running statistics travel in
``state``. ``backward`` picks the hand-written backward (``"manual"``) or JAX autodiff of the
reference forward (``"autodiff"``); it is a plain Python value, so it is static under ``jit``.

The leading axes of an input are batch axes, any number of them (none included): a layer's
meaning never depends on how many there are, so ``jax.vmap(apply)`` over examples equals
``apply`` on the batch. An axis option is therefore counted from the end (negative), and a layer
that cannot tell where an example starts takes the number of axes an example has from its
factory (``num_position_axes``).

A wrong value (a shape, a size, a dtype) is a ``ValueError`` and a wrong kind of object (a
string where a shape is expected, a float where an int is) a ``TypeError``, raised at trace
time naming the layer, the expected value and the actual one; the helpers below phrase them
uniformly.
"""

from __future__ import annotations

import operator
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
    if not -len(shape) <= axis < len(shape) or shape[axis] != expected:
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


def check_int(name: str, what: str, value: Any, minimum: int = 1) -> int:
    """Return ``value``, raising a TypeError unless it is a Python int (not a bool) and a
    ValueError unless it is at least ``minimum``."""
    expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected {what} to be {expected}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name}: expected {what} to be {expected}, got {value!r}.")
    return value


def check_option_applies(name: str, option: str, value: Any, applies: bool, when: str) -> None:
    """Raise a TypeError for an option given (not ``None``) where it has no effect, as Python
    does for a keyword a function does not take: an option is never accepted and ignored."""
    if value is not None and not applies:
        raise TypeError(f"{name}: {option} applies only {when}, got {option}={value!r}.")


def check_float_dtype(name: str, dtype: Any) -> None:
    """Raise unless ``dtype`` (a layer's parameter dtype) is floating point."""
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{name}: expected a floating-point dtype, got {jnp.dtype(dtype)}.")


def check_positive_int(name: str, what: str, value: Any) -> None:
    """Raise unless ``value`` is a positive Python integer (see :func:`check_int`)."""
    check_int(name, what, value)


def check_negative_axes(name: str, axis: Any) -> None:
    """Raise a ValueError unless every axis in ``axis`` (an int or a sequence) counts from the end.

    An axis counted from the front would name a different axis of an example under ``vmap``
    than of a batch, so a layer takes only negative axes.
    """
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    if any(a >= 0 for a in axes):
        raise ValueError(
            f"{name}: expected a negative axis (counted from the end, so that the layer means the "
            f"same with any number of leading batch axes), got axis={axis!r}."
        )


def check_input_shape(name: str, input_shape: Any) -> Shape:
    """Return ``input_shape`` as a tuple of ints: a TypeError unless it is a sequence of ints,
    a ValueError if a dimension is not positive."""
    try:
        if isinstance(input_shape, str):
            raise TypeError
        shape = tuple(operator.index(d) for d in input_shape)
    except TypeError:
        raise TypeError(
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
    check: Callable[[Shape], None] | None = None,
) -> Layer:
    """A parameter-free layer applying ``op`` to a floating input of rank ``>= min_rank``.

    ``output_shape`` maps the input shape to the output shape (the identity by default);
    ``check`` validates the input's shape further (in ``init`` and, at trace time, ``apply``).
    """

    def check_shape(shape: Shape) -> None:
        check_shape_rank(op.name, shape, min_rank, what)
        if check is not None:
            check(shape)

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple, tuple]:
        del key
        shape = check_input_shape(op.name, input_shape)
        check_shape(shape)
        return (output_shape(shape) if output_shape else shape), (), ()

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        del params, key, train
        check_backward(backward, op.name)
        check_shape(jnp.shape(x))
        check_floating(op.name, x)
        return op(x, backward=backward), state

    return Layer(op.name, init, apply)


def elementwise(op: Op, check: Callable[[Shape], None] | None = None) -> Layer:
    """A parameter-free layer applying a shape-preserving ``op`` to its input."""
    return op_layer(op, check=check)
