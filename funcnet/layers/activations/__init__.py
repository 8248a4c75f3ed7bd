"""Activations, elementwise and along an axis (softmax); derivations: docs/activations.md."""

from funcnet.layers.activations.basic import (
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
from funcnet.layers.activations.smooth import (
    elu,
    elu_op,
    gelu,
    gelu_op,
    softplus,
    softplus_op,
)
from funcnet.layers.activations.softmax import (
    log_softmax,
    log_softmax_op,
    softmax,
    softmax_op,
)

__all__ = [
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
    "relu",
    "relu_op",
    "sigmoid",
    "sigmoid_op",
    "softmax",
    "softmax_op",
    "softplus",
    "softplus_op",
    "tanh",
    "tanh_op",
]
