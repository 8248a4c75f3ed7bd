"""Decoupled neural interfaces (Jaderberg et al. 2017): synthetic gradients, update-unlocked
training. Importing this package registers its op and layer. docs/dni.md.
"""

from funcnet.dni.agreement import gradient_cosines, true_and_synthetic_gradients
from funcnet.dni.fit import evaluate_decoupled, fit_decoupled, make_decoupled_step
from funcnet.dni.interface import decoupling_interface_op
from funcnet.dni.model import (
    DecoupledModel,
    DecoupledParams,
    decoupled_mlp,
    decoupled_objective,
    init_decoupled,
)
from funcnet.dni.predictor import gradient_predictor
from funcnet.dni.unlocked import ModuleState, init_unlocked, make_module_steps, train_unlocked

__all__ = [
    "DecoupledModel",
    "DecoupledParams",
    "ModuleState",
    "decoupled_mlp",
    "decoupled_objective",
    "decoupling_interface_op",
    "evaluate_decoupled",
    "fit_decoupled",
    "gradient_cosines",
    "gradient_predictor",
    "init_decoupled",
    "init_unlocked",
    "make_decoupled_step",
    "make_module_steps",
    "train_unlocked",
    "true_and_synthetic_gradients",
]
