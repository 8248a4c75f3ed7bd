"""Flatten: each example's position and channel axes into one, row-major (a reshape).

Shapes: ``x [..., *positions, C]`` -> ``y [..., Π positions · C]``, with ``k = num_position_axes``
position axes (counted from the end, before the channels) and any leading batch axes. A layer
cannot tell batch axes from position axes, so the factory is told ``k``::

    y = x (a reshape)       dx = dy reshaped back      (the Jacobian is the identity)

Residuals: nothing but the input's shape. Docs: docs/pooling.md.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from funcnet.core.jvp_rules import linear_jvp
from funcnet.core.layer import Layer, check_int, check_shape_rank, op_layer
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, make_op, shape_witness
from funcnet.core.registry import Arg, Case, add_cases, op_factory

LAYOUT = "input [..., *positions, C]"


@op_factory("flatten")
def flatten_op(*, num_position_axes: int) -> Op:
    """The op ``x [..., *positions, C] -> y [..., Π positions · C]`` (row-major)."""
    k = check_int("flatten", "num_position_axes", num_position_axes, minimum=0)

    def forward(x):
        check_shape_rank("flatten", jnp.shape(x), k + 1, LAYOUT)
        batch = x.shape[: x.ndim - k - 1]
        return jnp.reshape(x, (*batch, math.prod(x.shape[x.ndim - k - 1 :])))

    def fwd(x):
        return forward(x), (shape_witness(x.shape),)

    def bwd(res, dy):
        # dx = dy reshaped to x's shape (the Jacobian is the identity)
        return (dy.reshape(res[0].shape[1:]),)

    return make_op("flatten", forward, fwd, bwd, jvp=linear_jvp(forward))  # ẋ reshaped


@layer_factory("flatten")
def flatten(*, num_position_axes: int) -> Layer:
    """A layer flattening each example's position and channel axes into one (row-major).

    Args:
      num_position_axes: how many axes before the last (the channels) are position axes (1 for a
        sequence ``[..., L, C]``, 2 for an image ``[..., H, W, C]``, 0 for ``[..., C]``); every
        axis before them is a batch axis, left as it is.

    Shapes:
      x: ``[..., *positions, C]`` -> y: ``[..., Π positions · C]``.

    Examples:
      >>> import jax
      >>> layer = flatten(num_position_axes=2)
      >>> key = jax.random.key(0)
      >>> layer.init(key, (8, 7, 7, 64))[0], layer.init(key, (7, 7, 64))[0]
      ((8, 3136), (3136,))
    """
    op = flatten_op(num_position_axes=num_position_axes)
    k = num_position_axes

    def output_shape(shape):
        return (*shape[: len(shape) - k - 1], math.prod(shape[len(shape) - k - 1 :]))

    return op_layer(op, min_rank=k + 1, what=LAYOUT, output_shape=output_shape)


def _op_cases() -> list[Case]:
    return [
        Case("image", flatten_op(num_position_axes=2), (Arg((2, 3, 4, 2)),), second_order=True),
        Case("sequence_two_batch_axes", flatten_op(num_position_axes=1), (Arg((2, 3, 5, 2)),)),
    ]


add_cases("flatten", _op_cases)
add_layer_cases(
    "flatten", lambda: [LayerCase("image", flatten(num_position_axes=2), Arg((2, 3, 2, 2)))]
)
