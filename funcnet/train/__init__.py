"""Training: jitted steps over optax optimizers, per-example gradients, the fit loop."""

from funcnet.train.fit import FitResult, evaluate, fit
from funcnet.train.step import make_eval_step, make_train_step, per_example_grads

__all__ = [
    "FitResult",
    "evaluate",
    "fit",
    "make_eval_step",
    "make_train_step",
    "per_example_grads",
]
