"""funcnet: functional differentiable programming on JAX with hand-written, verified backward
passes.

Layers are pure ``(init, apply)`` pairs over pytrees; every op carries a hand-written VJP
bound with ``jax.custom_vjp`` and verified against JAX autodiff and finite differences
(:mod:`funcnet.verify`). Importing funcnet registers every op.
"""

from funcnet import data, initializers, layers, losses, models, train, verify
from funcnet.core import Arg, Case, Layer, Op, add_cases, elementwise, make_op, op_factory
from funcnet.layers import (
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    dense,
    elu,
    flatten,
    gelu,
    global_avg_pool,
    global_max_pool,
    identity,
    leaky_relu,
    log_softmax,
    max_pool1d,
    max_pool2d,
    parallel,
    relu,
    residual,
    serial,
    sigmoid,
    softmax,
    softplus,
    tanh,
)
from funcnet.losses import (
    binary_cross_entropy_with_logits,
    l2_penalty,
    l2_penalty_tree,
    mean_squared_error,
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
)
from funcnet.models import cnn, mlp
from funcnet.train import fit, make_eval_step, make_train_step, per_example_grads
from funcnet.verify import check_op, check_registry, verify_model

__version__ = "0.1.0"

__all__ = [
    "Arg",
    "Case",
    "Layer",
    "Op",
    "add_cases",
    "avg_pool1d",
    "avg_pool2d",
    "binary_cross_entropy_with_logits",
    "check_op",
    "check_registry",
    "cnn",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "data",
    "dense",
    "elementwise",
    "elu",
    "fit",
    "flatten",
    "gelu",
    "global_avg_pool",
    "global_max_pool",
    "identity",
    "initializers",
    "l2_penalty",
    "l2_penalty_tree",
    "layers",
    "leaky_relu",
    "log_softmax",
    "losses",
    "make_eval_step",
    "make_op",
    "make_train_step",
    "max_pool1d",
    "max_pool2d",
    "mean_squared_error",
    "mlp",
    "models",
    "op_factory",
    "parallel",
    "per_example_grads",
    "relu",
    "residual",
    "serial",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "softplus",
    "tanh",
    "train",
    "verify",
    "verify_model",
]
