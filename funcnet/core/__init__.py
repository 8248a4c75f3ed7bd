"""funcnet's contracts: ops, layers and their registries."""

from funcnet.core.layer import Layer, elementwise
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import BACKWARDS, Backward, Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.core.vjp_forward_mode import ForwardModeError

__all__ = [
    "BACKWARDS",
    "Arg",
    "Backward",
    "Case",
    "ForwardModeError",
    "Layer",
    "LayerCase",
    "Op",
    "add_cases",
    "add_layer_cases",
    "check_backward",
    "elementwise",
    "layer_factory",
    "make_op",
    "op_factory",
]
