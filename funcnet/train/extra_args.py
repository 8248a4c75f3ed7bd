"""Optimizers that need more than the gradient: the objective's value, and the objective itself.

optax's line-search methods (``optax.lbfgs``, ``optax.scale_by_zoom_linesearch``,
``optax.scale_by_backtracking_linesearch``) are ``GradientTransformationExtraArgs`` whose
``update`` takes the keyword arguments ``value`` (the loss at the current params), ``grad``
(its gradient) and ``value_fn`` (params -> loss, which the line search evaluates at trial
points). The train step passes them to any ``GradientTransformationExtraArgs`` that accepts
them, so such an optimizer trains through the same compiled step: the line search runs inside
it (a ``lax.while_loop``), with no host round trip per trial.

With ``full_batch=True`` (every call sees the same batch) the value and gradient that the line
search computed at the accepted params, which the optimizer keeps in its state, are reused by
the next step instead of computed again (``optax.value_and_grad_from_state``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import optax

EXTRA_ARGS: tuple[str, ...] = ("value", "grad", "value_fn")


def extra_arg_names(optimizer: Any) -> tuple[str, ...]:
    """Which of ``value``, ``grad``, ``value_fn`` the optimizer's ``update`` accepts: all three
    for an update taking ``**extra_args``, none for a plain ``GradientTransformation``."""
    if not isinstance(optimizer, optax.GradientTransformationExtraArgs):
        return ()
    try:
        parameters = inspect.signature(optimizer.update).parameters.values()
    except (TypeError, ValueError):  # a callable without a signature: trust the type
        return EXTRA_ARGS
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return EXTRA_ARGS
    return tuple(
        p.name for p in parameters if p.name in EXTRA_ARGS and p.kind is not p.POSITIONAL_ONLY
    )


def extra_args(
    names: tuple[str, ...], value: Any, grad: Any, value_fn: Callable[[Any], Any]
) -> dict[str, Any]:
    """The keyword arguments among ``names`` for ``optimizer.update``."""
    given = {"value": value, "grad": grad, "value_fn": value_fn}
    return {name: given[name] for name in names}


def stores_value_and_grad(opt_state: Any) -> bool:
    """At trace time: whether the optimizer state holds a line search's ``value`` and ``grad``
    (what ``optax.value_and_grad_from_state`` reads)."""
    try:
        return (
            optax.tree.get(opt_state, "value") is not None
            and optax.tree.get(opt_state, "grad") is not None
        )
    except KeyError:  # optax raises KeyError when a name occurs more than once
        return False


__all__ = ["EXTRA_ARGS", "extra_arg_names", "extra_args", "stores_value_and_grad"]
