"""Splitting features into attention heads and merging them back: pure index permutations.

``split_heads``: ``x [..., T, H·d] -> [..., H, T, d]`` (``y[..., h, t, i] = x[..., t, h·d + i]``);
``merge_heads`` is its inverse. Each is a permutation of entries, so its VJP is the inverse
permutation applied to the cotangent: ``dx = merge(dy)`` and ``dx = split(dy)``. Nothing is
saved. Used by :mod:`funcnet.layers.attention.multi_head`; docs/attention.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.core.jvp_rules import linear_jvp
from funcnet.core.layer import check_positive_int
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory


def split(x: jax.Array, num_heads: int, name: str = "split_heads") -> jax.Array:
    """``[..., T, H·d] -> [..., H, T, d]``."""
    shape = jnp.shape(x)
    if len(shape) < 2 or shape[-1] % num_heads:
        raise ValueError(
            f"{name}: expected an input [..., T, features] with features divisible by "
            f"num_heads={num_heads}, got shape {shape}."
        )
    x = x.reshape((*shape[:-1], num_heads, shape[-1] // num_heads))
    return jnp.swapaxes(x, -2, -3)


def merge(x: jax.Array, num_heads: int, name: str = "merge_heads") -> jax.Array:
    """``[..., H, T, d] -> [..., T, H·d]``."""
    shape = jnp.shape(x)
    if len(shape) < 3 or shape[-3] != num_heads:
        raise ValueError(
            f"{name}: expected an input [..., H, T, d] with H = num_heads = {num_heads}, "
            f"got shape {shape}."
        )
    x = jnp.swapaxes(x, -2, -3)
    return x.reshape((*shape[:-3], shape[-2], shape[-3] * shape[-1]))


@op_factory("split_heads")
def split_heads_op(num_heads: int) -> Op:
    """The op ``[..., T, H·d] -> [..., H, T, d]`` for ``H = num_heads``."""
    check_positive_int("split_heads", "num_heads", num_heads)

    def forward(x):
        return split(x, num_heads)

    def fwd(x):
        return forward(x), None

    def bwd(res, dy):
        # dx = merge(dy): the inverse permutation
        del res
        return (merge(dy, num_heads),)

    return make_op("split_heads", forward, fwd, bwd, jvp=linear_jvp(forward))  # ẋ split


@op_factory("merge_heads")
def merge_heads_op(num_heads: int) -> Op:
    """The op ``[..., H, T, d] -> [..., T, H·d]`` for ``H = num_heads``."""
    check_positive_int("merge_heads", "num_heads", num_heads)

    def forward(x):
        return merge(x, num_heads)

    def fwd(x):
        return forward(x), None

    def bwd(res, dy):
        # dx = split(dy): the inverse permutation
        del res
        return (split(dy, num_heads),)

    return make_op("merge_heads", forward, fwd, bwd, jvp=linear_jvp(forward))  # ẋ merged


add_cases(
    "split_heads",
    lambda: [Case("two_heads", split_heads_op(2), (Arg((2, 3, 4)),), second_order=True)],
)
add_cases("merge_heads", lambda: [Case("two_heads", merge_heads_op(2), (Arg((2, 2, 3, 2)),))])
