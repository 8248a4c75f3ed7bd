"""Elementwise sum of two arrays of one shape: ``y = a + b`` (the join of a residual branch).

The Jacobian of the sum is ``[I, I]``, so the VJP hands ``dy`` to both terms and saves nothing.
"""

from __future__ import annotations

import jax.numpy as jnp

from funcnet.core.jvp_rules import linear_jvp
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory


@op_factory("add")
def add_op() -> Op:
    """The op ``(a, b) -> a + b`` for arrays of the same shape (no broadcasting)."""

    def forward(a, b):
        return jnp.add(a, b)

    def fwd(a, b):
        return forward(a, b), None

    def bwd(res, dy):
        # da = dy, db = dy
        del res
        return dy, dy

    return make_op("add", forward, fwd, bwd, jvp=linear_jvp(forward))  # ȧ + ḃ


add_cases(
    "add",
    lambda: [
        Case("matrix", add_op(), (Arg((4, 3)), Arg((4, 3))), second_order=True),
        Case("batch_axes", add_op(), (Arg((2, 3, 5)), Arg((2, 3, 5)))),
    ],
)
