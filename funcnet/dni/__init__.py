"""Decoupled neural interfaces (Jaderberg et al. 2017): synthetic gradients, update-unlocked
training. Importing this package registers its op and layer. docs/dni.md.
"""

from funcnet.dni.interface import decoupling_interface_op
from funcnet.dni.model import (
    DecoupledModel,
    DecoupledParams,
    decoupled_mlp,
    decoupled_objective,
    init_decoupled,
)
from funcnet.dni.predictor import gradient_predictor

__all__ = [
    "DecoupledModel",
    "DecoupledParams",
    "decoupled_mlp",
    "decoupled_objective",
    "decoupling_interface_op",
    "gradient_predictor",
    "init_decoupled",
]
