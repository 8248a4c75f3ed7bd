"""Casting between floating dtypes: ``y = x`` rounded to ``dtype`` (the mixed-precision boundary).

The Jacobian of a cast is the identity (rounding has derivative one almost everywhere), so the
VJP casts the cotangent back: ``dx = dy`` in ``x``'s dtype. Residual: an empty array recording
``x``'s dtype. Mixed precision (funcnet/train/precision.py) puts casts at a model's boundary.

The sample cases cast *up* (to float64): a down-cast rounds, and central differences of a
rounded function measure the rounding, not the derivative.

Inside :func:`casts_in_float64` (the verifier's oracle for a mixed-precision model, see
funcnet/verify/model_check.py) a cast to a float narrower than float64 casts to float64: the
same model, computed exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp

from funcnet.core.jvp_rules import linear_jvp
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory


def _floating(dtype: Any) -> jnp.dtype:
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"cast: expected a floating-point dtype, got {dtype}.")
    return dtype


# Part of JAX's trace-cache key: a function traced inside the context is never reused outside.
_IN_FLOAT64 = jax.make_user_context(False)


@contextlib.contextmanager
def casts_in_float64() -> Iterator[None]:
    """Within this context, every cast to a float narrower than float64 casts to float64.

    For the verifier only: it computes the float64 oracle of a model that runs in a lower
    precision (``mixed_precision``) by running the same model with its casts widened.
    """
    with _IN_FLOAT64(True):
        yield


@op_factory("cast")
def cast_op(dtype: Any) -> Op:
    """The op ``x -> x.astype(dtype)`` for floating ``x``."""
    dtype = _floating(dtype)

    def forward(x):
        widen = _IN_FLOAT64.value and jnp.finfo(dtype).bits < 64
        return x.astype(jnp.float64 if widen else dtype)

    def fwd(x):
        return forward(x), jnp.zeros((0,), x.dtype)

    def bwd(witness, dy):
        # dx = dy, in x's dtype
        return (dy.astype(witness.dtype),)

    return make_op("cast", forward, fwd, bwd, jvp=linear_jvp(forward))  # ẋ cast


def _cases() -> list[Case]:
    return [
        Case("to_float64", cast_op(jnp.float64), (Arg((3, 4)),), second_order=True),
    ]


add_cases("cast", _cases)
