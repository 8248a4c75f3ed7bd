"""Training: jitted steps over optax optimizers, data parallel over a mesh, per-example
gradients, mixed precision and loss scaling, checkpoints, the fit loop."""

from funcnet.train import checkpoint
from funcnet.train.checkpoint import CheckpointError
from funcnet.train.donation import DonatedArrayError
from funcnet.train.dp_sgd import clipped_grad, make_dp_sgd_train_step
from funcnet.train.fit import FitResult, check_checkpoint_options, evaluate, fit
from funcnet.train.loss_scale import DynamicLossScaleState, dynamic_loss_scale
from funcnet.train.nonfinite import NonFiniteError, NonFiniteWarning
from funcnet.train.per_example import make_per_example_train_step, per_example_grads
from funcnet.train.precision import Policy, mixed_precision
from funcnet.train.privacy import DPSGD, dp_sgd_epsilon, noise_for_epsilon, poisson_batches
from funcnet.train.sharding import data_mesh, replicate, shard_batch
from funcnet.train.step import make_eval_step, make_train_step

__all__ = [
    "DPSGD",
    "CheckpointError",
    "DonatedArrayError",
    "DynamicLossScaleState",
    "FitResult",
    "NonFiniteError",
    "NonFiniteWarning",
    "Policy",
    "check_checkpoint_options",
    "checkpoint",
    "clipped_grad",
    "data_mesh",
    "dp_sgd_epsilon",
    "dynamic_loss_scale",
    "evaluate",
    "fit",
    "make_dp_sgd_train_step",
    "make_eval_step",
    "make_per_example_train_step",
    "make_train_step",
    "mixed_precision",
    "noise_for_epsilon",
    "per_example_grads",
    "poisson_batches",
    "replicate",
    "shard_batch",
]
