"""Convolution (1/2/3-d) and transposed convolution (1/2-d); derivations: docs/conv.md."""

from funcnet.layers.conv._layer import ConvParams
from funcnet.layers.conv.conv import (
    conv1d,
    conv1d_op,
    conv2d,
    conv2d_op,
    conv3d,
    conv3d_op,
)
from funcnet.layers.conv.transpose import (
    conv_transpose1d,
    conv_transpose1d_op,
    conv_transpose2d,
    conv_transpose2d_op,
)

__all__ = [
    "ConvParams",
    "conv1d",
    "conv1d_op",
    "conv2d",
    "conv2d_op",
    "conv3d",
    "conv3d_op",
    "conv_transpose1d",
    "conv_transpose1d_op",
    "conv_transpose2d",
    "conv_transpose2d_op",
]
