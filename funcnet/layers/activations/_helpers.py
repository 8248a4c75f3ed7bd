"""Helpers shared by the activation ops: hyperparameter checks and the shared sample shapes."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from funcnet.core.layer import Layer
from funcnet.core.layer_registry import LayerCase, add_layer_cases
from funcnet.core.op import Op
from funcnet.core.registry import Arg, Case


def finite_float(name: str, what: str, value: Any) -> float:
    """Return ``value`` as a float: a TypeError unless it is a real number, a ValueError unless
    it is finite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected {what} to be a finite float, got {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected {what} to be a finite float, got {value!r}.")
    return float(value)


# Kinked ops keep their samples 0.05 away from the kink, where the derivative jumps.
KINK = {"avoid": (0.0,), "margin": 0.05}


def shape_cases(op: Op, matrix: Case) -> list[Case]:
    """A 1-D and a 3-D case of ``op`` drawn in [−2, 2] around a given 2-D case.

    The 2-D case is where an op's own range (saturation, a second config) and, for smooth ops,
    its second order are checked; the shapes are shared by every elementwise op so that the
    verifier's compiled computations are reused from one op to the next.
    """
    kink = KINK if matrix.args[0].avoid else {}
    vector = Case("vector", op, (Arg((7,), **kink),))
    return [vector, matrix, Case("batch_3d", op, (Arg((2, 3, 4), **kink),))]


def add_activation_layer_cases(name: str, make: Callable[[], Layer]) -> None:
    """Register the configuration of the activation layer ``name``: the layer ``make()`` on a
    small batch of vectors (the layer contract test checks it like every layer)."""
    add_layer_cases(name, lambda: [LayerCase("matrix", make(), Arg((3, 4)))])
