"""Layer families, one per module; importing this package registers their ops."""

from funcnet.layers.activations import (
    identity,
    identity_op,
    leaky_relu,
    leaky_relu_op,
    relu,
    relu_op,
    sigmoid,
    sigmoid_op,
    tanh,
    tanh_op,
)
from funcnet.layers.add import add_op
from funcnet.layers.avg_pool import avg_pool1d, avg_pool1d_op, avg_pool2d, avg_pool2d_op
from funcnet.layers.combinators import parallel, residual, serial
from funcnet.layers.conv import (
    ConvParams,
    conv1d,
    conv1d_op,
    conv2d,
    conv2d_op,
    conv3d,
    conv3d_op,
)
from funcnet.layers.conv_transpose import (
    conv_transpose1d,
    conv_transpose1d_op,
    conv_transpose2d,
    conv_transpose2d_op,
)
from funcnet.layers.dense import DenseParams, dense, dense_op
from funcnet.layers.global_pool import (
    flatten,
    flatten_op,
    global_avg_pool,
    global_avg_pool_op,
    global_max_pool,
    global_max_pool_op,
)
from funcnet.layers.max_pool import max_pool1d, max_pool1d_op, max_pool2d, max_pool2d_op
from funcnet.layers.smooth_activations import elu, elu_op, gelu, gelu_op, softplus, softplus_op
from funcnet.layers.softmax import log_softmax, log_softmax_op, softmax, softmax_op

__all__ = [
    "ConvParams",
    "DenseParams",
    "add_op",
    "avg_pool1d",
    "avg_pool1d_op",
    "avg_pool2d",
    "avg_pool2d_op",
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
    "dense",
    "dense_op",
    "elu",
    "elu_op",
    "flatten",
    "flatten_op",
    "gelu",
    "gelu_op",
    "global_avg_pool",
    "global_avg_pool_op",
    "global_max_pool",
    "global_max_pool_op",
    "identity",
    "identity_op",
    "leaky_relu",
    "leaky_relu_op",
    "log_softmax",
    "log_softmax_op",
    "max_pool1d",
    "max_pool1d_op",
    "max_pool2d",
    "max_pool2d_op",
    "parallel",
    "relu",
    "relu_op",
    "residual",
    "serial",
    "sigmoid",
    "sigmoid_op",
    "softmax",
    "softmax_op",
    "softplus",
    "softplus_op",
    "tanh",
    "tanh_op",
]
