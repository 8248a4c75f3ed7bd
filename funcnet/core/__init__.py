"""funcnet's contracts: ops, layers and the op registry."""

from funcnet.core.layer import Layer, elementwise
from funcnet.core.op import BACKWARDS, Backward, ForwardModeError, Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory

__all__ = [
    "BACKWARDS",
    "Arg",
    "Backward",
    "Case",
    "ForwardModeError",
    "Layer",
    "Op",
    "add_cases",
    "check_backward",
    "elementwise",
    "make_op",
    "op_factory",
]
