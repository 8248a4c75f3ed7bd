"""Trace-time checks shared by the losses.

Every check reads only static ``shape`` and ``dtype`` information, so calling it from a loss's
``forward`` and ``fwd`` costs nothing at run time. Each raises a ``ValueError`` naming the loss,
the expected value and the actual one, in one sentence.
"""

from __future__ import annotations

import numbers
from typing import Any

import jax.numpy as jnp


def check_floating(name: str, what: str, x: Any) -> None:
    """Raise unless ``x`` is floating point."""
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{name}: expected floating-point {what}, got dtype {dtype}.")


def check_like(name: str, what: str, x: Any, ref_what: str, ref: Any) -> None:
    """Raise unless ``x`` has the shape and dtype of ``ref`` (targets against predictions)."""
    shape, ref_shape = jnp.shape(x), jnp.shape(ref)
    if shape != ref_shape:
        raise ValueError(
            f"{name}: expected {what} of shape {ref_shape} (the shape of {ref_what}), got {shape}."
        )
    dtype, ref_dtype = jnp.result_type(x), jnp.result_type(ref)
    if dtype != ref_dtype:
        raise ValueError(
            f"{name}: expected {what} of dtype {ref_dtype} (the dtype of {ref_what}), "
            f"got {dtype}; cast with .astype({ref_dtype})."
        )


def check_axis_config(name: str, axis: Any) -> int:
    """Return ``axis`` as an ``int``, raising unless it is an integer (``bool`` excluded)."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise ValueError(f"{name}: expected axis to be an integer, got {axis!r}.")
    return int(axis)


def class_axis(name: str, logits: Any, axis: int) -> int:
    """Validate the logits of a softmax loss; return ``axis`` as a non-negative index."""
    check_floating(name, "logits", logits)
    shape = jnp.shape(logits)
    ndim = len(shape)
    if ndim == 0:
        raise ValueError(f"{name}: expected logits of rank >= 1 (with a class axis), got shape ().")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{name}: expected axis in [{-ndim}, {ndim}) for logits of shape {shape}, got {axis}."
        )
    if shape[axis] == 0:
        raise ValueError(
            f"{name}: expected a non-empty class axis {axis}, got logits of shape {shape}."
        )
    return axis % ndim


def batch_size(shape: tuple[int, ...], axis: int) -> int:
    """The number of rows of a softmax loss: the product of every axis but the class axis."""
    n = 1
    for i, d in enumerate(shape):
        if i != axis:
            n *= d
    return n
