"""Checks the conjugate-gradient updates share: the arguments they need, a finite start."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def require(where: str, name: str, value: Any, what: str) -> None:
    """A TypeError naming the optimizer when a keyword argument it needs was not passed."""
    if value is None:
        raise TypeError(f"{where}: expected {name} ({what}) in update, got None.")


def _raise_nonfinite(where: str, value: Any, iteration: Any) -> None:
    raise ValueError(
        f"{where}: expected a finite loss at the params of iteration {int(iteration) + 1}, "
        f"got {float(value)}."
    )


def check_finite_loss(where: str, value: Any, iteration: jax.Array) -> None:
    """Raise a ValueError naming the optimizer when the loss it starts from is inf or NaN.

    Eagerly the check is a Python ``if``. Under ``jit`` the error is raised from a host callback
    that runs only when the loss is not finite (the compiled step makes no host round trip
    otherwise); JAX reports it as a ``JaxRuntimeError`` whose message holds this one.
    """
    if not isinstance(value, jax.core.Tracer) and not isinstance(iteration, jax.core.Tracer):
        if not math.isfinite(float(np.asarray(value))):
            _raise_nonfinite(where, value, iteration)
        return
    jax.lax.cond(
        jnp.isfinite(value),
        lambda v, i: None,
        lambda v, i: jax.debug.callback(lambda v, i: _raise_nonfinite(where, v, i), v, i),
        value,
        iteration,
    )


__all__ = ["check_finite_loss", "require"]
