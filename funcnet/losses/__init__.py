"""Losses: ops from ``(prediction, target)`` to a scalar, each with a hand-written backward.

Every loss is an op factory (the factory is the public API): ``mean_squared_error()(y, t)``,
``softmax_cross_entropy(axis=-1)(logits, targets, backward="autodiff")``. Importing this
package registers their sample cases with the verifier. Derivations: docs/losses.md.
"""

from funcnet.losses.binary import binary_cross_entropy_with_logits
from funcnet.losses.penalty import l2_penalty, l2_penalty_tree
from funcnet.losses.regression import mean_squared_error
from funcnet.losses.softmax_cross_entropy import (
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
)

__all__ = [
    "binary_cross_entropy_with_logits",
    "l2_penalty",
    "l2_penalty_tree",
    "mean_squared_error",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
]
