"""The line searches conjugate gradient runs: optax's, configured to start from CG's guess.

``conjugate_gradient`` hands the line search a direction already scaled by its initial-step
estimate, so every search first tries the step 1 (the estimate itself):

- ``"zoom"`` (the default): :func:`optax.scale_by_zoom_linesearch`, Nocedal & Wright's
  Algorithms 3.5–3.6: bracket a step, then zoom in by cubic interpolation until the strong
  Wolfe conditions hold (sufficient decrease ``c1 = 1e-4``, curvature ``c2 = CURVATURE``).
  It is the counterpart of MATLAB's default for its CG trainers, ``srchcha`` (Charalambous
  1992): interval location, then cubic interpolation and sectioning, until a sufficient
  decrease (``alpha``) and a large enough step (``beta``, a curvature condition) hold. CG needs
  the curvature condition: with strong Wolfe and ``c2 < 1/2`` Fletcher–Reeves directions are
  descent directions (Al-Baali 1985).
- ``"backtracking"``: :func:`optax.scale_by_backtracking_linesearch`, halving the step until
  the Armijo condition holds (MATLAB's ``srchbac`` is a backtracking search too). It never
  lengthens the step and checks no curvature: cheaper per search, weaker directions.
- any line search of optax's two kinds built by the caller (``store_grad=True`` for the
  backtracking one), e.g. a zoom with a tight ``curv_rtol`` for an almost exact search.
"""

from __future__ import annotations

from typing import Any

import optax

CURVATURE = 0.4  # SciPy's CG uses c2 = 0.4; FR's descent guarantee needs c2 < 1/2
MAX_STEPS = 30
LINESEARCHES: tuple[str, ...] = ("zoom", "backtracking")
STATE_FIELDS: tuple[str, ...] = ("value", "grad", "num_linesearch_steps", "learning_rate")


def make_linesearch(linesearch: Any, where: str) -> optax.GradientTransformationExtraArgs:
    """The line search a ``linesearch=`` option names (or the transformation passed)."""
    if isinstance(linesearch, optax.GradientTransformationExtraArgs):
        return linesearch
    if linesearch == "zoom":
        return optax.scale_by_zoom_linesearch(
            MAX_STEPS, curv_rtol=CURVATURE, initial_guess_strategy="one"
        )
    if linesearch == "backtracking":
        return optax.scale_by_backtracking_linesearch(
            MAX_STEPS,
            decrease_factor=0.5,
            increase_factor=2.0,
            max_learning_rate=2.0,
            store_grad=True,
        )
    raise ValueError(
        f"{where}: expected linesearch to be one of {LINESEARCHES} or an "
        f"optax.GradientTransformationExtraArgs, got {linesearch!r}."
    )


def check_linesearch_state(state: Any, where: str) -> None:
    """At trace time: raise unless the line search keeps what CG reads from its state."""
    missing = []
    for name in STATE_FIELDS:
        try:
            if optax.tree.get(state, name) is None:
                missing.append(name)
        except (KeyError, ValueError):
            missing.append(name)
    if missing:
        raise TypeError(
            f"{where}: expected a line search whose state holds {STATE_FIELDS} "
            "(optax.scale_by_zoom_linesearch, or optax.scale_by_backtracking_linesearch with "
            f"store_grad=True), got a state {type(state).__name__} without {missing}."
        )


__all__ = ["CURVATURE", "LINESEARCHES", "check_linesearch_state", "make_linesearch"]
