"""Central differences in float64 and the error of a directional derivative against them.

The verifier checks a gradient ``g`` along a random unit direction ``u``: ``⟨g, u⟩`` against the
central difference of the function along ``u``. This module holds the estimate and the error
measure that :mod:`funcnet.verify.checks` (ops) and :mod:`funcnet.verify.model_check` (models)
share.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from funcnet.verify.report import LeafError


class Estimate(NamedTuple):
    """A central-difference derivative and the step ``s`` it was taken at."""

    value: float
    step: float


def central_difference_at(f: Callable[[float], Any], h: float, refinements: int = 2) -> Estimate:
    """``(f(s) − f(−s)) / 2s`` in float64, at the step ``s`` in ``h, h/4, h/16, …`` where it has
    converged.

    On a smooth segment consecutive estimates agree to ``O(s²)``. A kink within ``±s`` (a relu
    or max-pool switch the direction happens to cross) makes an estimate wrong by up to the jump
    in slope, and shrinking the step moves the kink out of reach. The estimate returned is the
    finer one of the consecutive pair that agrees best; the analytic gradient plays no part in
    the choice.
    """
    steps = [h / 4**k for k in range(refinements + 1)]
    estimates = [float((f(s) - f(-s)) / (2 * s)) for s in steps]
    gaps = [abs(a - b) for a, b in itertools.pairwise(estimates)]
    if not gaps:
        return Estimate(estimates[0], steps[0])
    best = 1 + gaps.index(min(gaps))
    return Estimate(estimates[best], steps[best])


def central_difference(f: Callable[[float], Any], h: float, refinements: int = 2) -> float:
    """The value of :func:`central_difference_at` (the derivative of ``f`` at 0)."""
    return central_difference_at(f, h, refinements).value


def rounding_noise(f: Callable[[float], Any], step: float, points: int = 4) -> float:
    """The rounding noise of ``f`` at the scale of a finite-difference step ``s``: the RMS
    deviation of ``f(js/k)``, ``j = −k…k``, from their least-squares cubic, but at least the
    rounding of ``f(0)`` itself (``eps·|f(0)|/√12``).

    The cubic takes up what is smooth — the slope, and the curvature terms whose effect on a
    central difference is truncation, not noise — and what is left is the rounding that a
    difference of two evaluations carries. The points must lie as far apart as the step: over
    much smaller moves the roundings of a large computation do not change (``f`` is computed
    exactly linear there, and the spread would read zero).
    """
    j = np.arange(-points, points + 1, dtype=np.float64)
    values = np.array([float(f(step * k / points)) for k in j])
    design = np.stack([np.ones_like(j), j, j**2, j**3], axis=1)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    residual = values - design @ coef
    spread = float(np.sqrt(np.sum(residual**2) / (len(j) - design.shape[1])))
    return max(spread, float(np.finfo(np.float64).eps) * abs(values[points]) / np.sqrt(12.0))


def directional_error(
    check: str,
    path: str,
    analytic: float,
    numeric: float,
    grad_norm: float,
    tolerance: float,
    floor: float = 1e-3,
    noise: float = 0.0,
) -> LeafError:
    """Relative error of a directional derivative against its finite-difference estimate.

    The denominator is floored at ``floor·‖grad‖`` (``1e-3`` by default): a random unit
    direction in n dimensions gives ``|⟨grad, u⟩| ≈ ‖grad‖/√n``, so only an unlucky direction
    falls below that floor, and then the estimate's own noise would otherwise dominate. Low
    precision floors it at ``‖grad‖`` itself (see tolerances.py).

    ``noise`` is the absolute error the estimate itself may carry from rounding of the function
    (see :func:`rounding_noise`); the tolerance is raised to ``noise / denominator`` if that is
    larger.
    """
    abs_err = abs(analytic - numeric)
    scale = max(abs(analytic), abs(numeric), floor * grad_norm)
    if noise > 0 and scale > 0:
        tolerance = max(tolerance, noise / scale)
    rel = abs_err / scale if scale > 0 else (0.0 if abs_err == 0 else float("inf"))
    if not np.isfinite(analytic):
        rel = abs_err = float("inf")
    return LeafError(check, path, abs_err, rel, (), tolerance)
