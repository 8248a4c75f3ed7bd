"""The seeds' toy problems: the truth tables of XOR and AND (two classes, four examples)."""

from __future__ import annotations

import numpy as np

from funcnet.data.dataset import Dataset

_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)


def xor() -> Dataset:
    """XOR: label 1 exactly when the two inputs differ; not linearly separable."""
    return Dataset(_INPUTS.copy(), np.array([0, 1, 1, 0], dtype=np.int32))


def and_() -> Dataset:
    """AND: label 1 only when both inputs are 1; linearly separable."""
    return Dataset(_INPUTS.copy(), np.array([0, 0, 0, 1], dtype=np.int32))
