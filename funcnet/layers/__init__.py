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
from funcnet.layers.combinators import parallel, residual, serial
from funcnet.layers.dense import DenseParams, dense, dense_op
from funcnet.layers.smooth_activations import elu, elu_op, gelu, gelu_op, softplus, softplus_op
from funcnet.layers.softmax import log_softmax, log_softmax_op, softmax, softmax_op

__all__ = [
    "DenseParams",
    "add_op",
    "dense",
    "dense_op",
    "elu",
    "elu_op",
    "gelu",
    "gelu_op",
    "identity",
    "identity_op",
    "leaky_relu",
    "leaky_relu_op",
    "log_softmax",
    "log_softmax_op",
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
