"""Flatten: every axis after the batch axis into one, row-major (a reshape).

Shapes: ``x [N, ...]`` -> ``y [N, Π ...]``::

    y = x (a reshape)       dx = dy reshaped back      (the Jacobian is the identity)

Residuals: nothing but the input's shape. Docs: docs/pooling.md.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from funcnet.core.layer import Layer, check_shape_rank, op_layer
from funcnet.core.op import Op, make_op, shape_witness
from funcnet.core.registry import Arg, Case, add_cases, op_factory


@op_factory("flatten")
def flatten_op() -> Op:
    """The op ``x [N, ...] -> y [N, Π ...]`` (row-major)."""

    def forward(x):
        check_shape_rank("flatten", jnp.shape(x), 1)
        return jnp.reshape(x, (x.shape[0], math.prod(x.shape[1:])))

    def fwd(x):
        return forward(x), (shape_witness(x.shape),)

    def bwd(res, dy):
        # dx = dy reshaped to x's shape (the Jacobian is the identity)
        return (dy.reshape(res[0].shape[1:]),)

    return make_op("flatten", forward, fwd, bwd)


def flatten() -> Layer:
    """A layer flattening every axis after the batch axis (row-major, as ``reshape``).

    Shapes:
      x: ``[N, ...]`` -> y: ``[N, Π ...]`` (``[N]`` becomes ``[N, 1]``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> out_shape, params, state = flatten().init(jax.random.key(0), (8, 7, 7, 64))
      >>> out_shape
      (8, 3136)
    """
    op = flatten_op()
    return op_layer(op, min_rank=1, output_shape=lambda s: (s[0], math.prod(s[1:])))


def _flatten_cases() -> list[Case]:
    return [
        Case("flatten_4d", flatten_op(), (Arg((2, 3, 4, 2)),), second_order=True),
        Case("flatten_2d", flatten_op(), (Arg((3, 5)),)),
    ]


add_cases("flatten", _flatten_cases)
