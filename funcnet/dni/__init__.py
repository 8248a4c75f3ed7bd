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
from funcnet.dni.recurrent import (
    ChunkGradients,
    SyntheticBPTTState,
    chunk_gradients,
    init_synthetic_bptt,
    make_synthetic_bptt_step,
    predict_synthetic,
    regression_loss,
)
from funcnet.dni.unlocked import ModuleState, init_unlocked, make_module_steps, train_unlocked

__all__ = [
    "ChunkGradients",
    "DecoupledModel",
    "DecoupledParams",
    "ModuleState",
    "SyntheticBPTTState",
    "chunk_gradients",
    "decoupled_mlp",
    "decoupled_objective",
    "decoupling_interface_op",
    "evaluate_decoupled",
    "fit_decoupled",
    "gradient_cosines",
    "gradient_predictor",
    "init_decoupled",
    "init_synthetic_bptt",
    "init_unlocked",
    "make_decoupled_step",
    "make_module_steps",
    "make_synthetic_bptt_step",
    "predict_synthetic",
    "regression_loss",
    "train_unlocked",
    "true_and_synthetic_gradients",
]
