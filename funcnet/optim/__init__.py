"""Full-batch optimizers as optax transformations: nonlinear conjugate gradient with a line
search (:func:`conjugate_gradient`) and Møller's scaled conjugate gradient
(:func:`scaled_conjugate_gradient`); :mod:`funcnet.optim.train_options` offers them to
``funcnet train`` (``--optimizer cg-fr|cg-pr|cg-pb|scg``). docs/conjugate_gradient.md."""

from funcnet.optim.beta import BETAS
from funcnet.optim.conjugate_gradient import ConjugateGradientState, conjugate_gradient
from funcnet.optim.linesearch import LINESEARCHES
from funcnet.optim.restart import RESTART_NAMES
from funcnet.optim.scaled_conjugate_gradient import (
    ScaledConjugateGradientState,
    scaled_conjugate_gradient,
)

__all__ = [
    "BETAS",
    "LINESEARCHES",
    "RESTART_NAMES",
    "ConjugateGradientState",
    "ScaledConjugateGradientState",
    "conjugate_gradient",
    "scaled_conjugate_gradient",
]
