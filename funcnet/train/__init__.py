"""Training: jitted steps over optax optimizers, data parallel over a mesh, per-example
gradients, mixed precision and loss scaling, checkpoints, the fit loop."""

from funcnet.train import checkpoint
from funcnet.train.checkpoint import CheckpointError
from funcnet.train.donation import DonatedArrayError
from funcnet.train.fit import FitResult, check_checkpoint_options, evaluate, fit
from funcnet.train.loss_scale import DynamicLossScaleState, dynamic_loss_scale
from funcnet.train.nonfinite import NonFiniteError, NonFiniteWarning
from funcnet.train.per_example import make_per_example_train_step, per_example_grads
from funcnet.train.precision import Policy, mixed_precision
from funcnet.train.sharding import data_mesh, replicate, shard_batch
from funcnet.train.step import make_eval_step, make_train_step

__all__ = [
    "CheckpointError",
    "DonatedArrayError",
    "DynamicLossScaleState",
    "FitResult",
    "NonFiniteError",
    "NonFiniteWarning",
    "Policy",
    "check_checkpoint_options",
    "checkpoint",
    "data_mesh",
    "dynamic_loss_scale",
    "evaluate",
    "fit",
    "make_eval_step",
    "make_per_example_train_step",
    "make_train_step",
    "mixed_precision",
    "per_example_grads",
    "replicate",
    "shard_batch",
]
