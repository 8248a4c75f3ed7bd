"""When nonlinear conjugate gradient forgets its direction and restarts along ``-g``.

``restart=`` takes

- ``"powell_beale"``: restart when consecutive gradients are far from orthogonal,
  ``|gᵀg_prev| ≥ 0.2 ‖g‖²`` (Powell 1977; the test MATLAB's ``traincgb`` applies). Linear CG
  keeps gradients orthogonal, so a large overlap says the quadratic model has gone stale;
- ``"dimension"``: every n iterations, n the number of parameters (the classical rule, and the
  one MATLAB's ``traincgf`` and ``traincgp`` use);
- a positive integer ``n``: every ``n`` iterations;
- ``None``: never on a schedule.

Whatever the choice, a direction that is not a descent direction (``gᵀd ≥ 0``, or not finite)
is replaced by ``-g``: the line search could not make progress along it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

RESTART_NAMES: tuple[str, ...] = ("powell_beale", "dimension")
POWELL_BEALE_OVERLAP = 0.2

# (g, g_prev, since_restart) -> bool: restart at this iteration
RestartRule = Callable[[Any, Any, jax.Array], jax.Array]


def powell_beale(g: Any, g_prev: Any, since_restart: jax.Array) -> jax.Array:
    """``|gᵀg_prev| ≥ 0.2 ‖g‖²``."""
    return jnp.abs(optax.tree.vdot(g, g_prev)) >= POWELL_BEALE_OVERLAP * optax.tree.vdot(g, g)


def every(n: int) -> RestartRule:
    """Restart once ``n`` iterations have passed since the last restart."""
    return lambda g, g_prev, since_restart: since_restart >= n


def never(g: Any, g_prev: Any, since_restart: jax.Array) -> jax.Array:
    return jnp.asarray(False)


def check_restart(restart: Any, where: str) -> None:
    """Raise unless ``restart`` is a name in :data:`RESTART_NAMES`, an integer >= 1 or None."""
    if restart is None or (isinstance(restart, str) and restart in RESTART_NAMES):
        return
    if isinstance(restart, int) and not isinstance(restart, bool) and restart >= 1:
        return
    raise ValueError(
        f"{where}: expected restart to be one of {RESTART_NAMES}, an integer >= 1 or None, "
        f"got {restart!r}."
    )


def restart_rule(restart: str | int | None, params: Any) -> RestartRule:
    """The rule for a checked ``restart`` option (``params`` sizes ``"dimension"``)."""
    if restart is None:
        return never
    if restart == "powell_beale":
        return powell_beale
    if restart == "dimension":
        return every(max(int(optax.tree.size(params)), 1))
    return every(restart)


def is_descent(g: Any, d: Any) -> jax.Array:
    """Whether ``d`` points downhill: ``gᵀd < 0`` (False for a NaN)."""
    return optax.tree.vdot(g, d) < 0


__all__ = [
    "RESTART_NAMES",
    "RestartRule",
    "check_restart",
    "every",
    "is_descent",
    "never",
    "powell_beale",
    "restart_rule",
]
