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

An optimizer that needs gradients at other points than the params (scaled conjugate gradient's
finite-difference curvature) names a fourth argument, ``value_and_grad_fn`` (params -> (loss,
gradient)), computed as the step computes its own gradients: the same backward, the loss scale
divided out. It is passed only to an ``update`` that names it, so ``**extra_args`` updates
(optax's, whose line searches reject unknown keywords) never receive it.

An optimizer state node with a ``metrics()`` method (the conjugate-gradient states) adds its
diagnostics to the step's metrics, and so to ``fit``'s history (:func:`optimizer_metrics`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import optax

EXTRA_ARGS: tuple[str, ...] = ("value", "grad", "value_fn", "value_and_grad_fn")
OPTAX_EXTRA_ARGS: tuple[str, ...] = ("value", "grad", "value_fn")  # what optax's updates take


def extra_arg_names(optimizer: Any) -> tuple[str, ...]:
    """Which of :data:`EXTRA_ARGS` the optimizer's ``update`` accepts: those it names, optax's
    three (:data:`OPTAX_EXTRA_ARGS`) for an update taking ``**extra_args``, none for a plain
    ``GradientTransformation``."""
    if not isinstance(optimizer, optax.GradientTransformationExtraArgs):
        return ()
    try:
        parameters = inspect.signature(optimizer.update).parameters.values()
    except (TypeError, ValueError):  # a callable without a signature: trust the type
        return OPTAX_EXTRA_ARGS
    named = tuple(
        p.name for p in parameters if p.name in EXTRA_ARGS and p.kind is not p.POSITIONAL_ONLY
    )
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return tuple(dict.fromkeys((*OPTAX_EXTRA_ARGS, *named)))
    return named


def extra_args(
    names: tuple[str, ...],
    value: Any,
    grad: Any,
    value_fn: Callable[[Any], Any],
    value_and_grad_fn: Callable[[Any], tuple[Any, Any]] | None = None,
) -> dict[str, Any]:
    """The keyword arguments among ``names`` for ``optimizer.update``."""
    given = {"value": value, "grad": grad, "value_fn": value_fn,
             "value_and_grad_fn": value_and_grad_fn}  # fmt: skip
    return {name: given[name] for name in names}


def _has_metrics(node: Any) -> bool:
    return callable(getattr(node, "metrics", None)) and isinstance(node, tuple)


def optimizer_metrics(opt_state: Any) -> dict[str, Any]:
    """At trace time: the diagnostics of every state node with a ``metrics()`` method (e.g. a
    line search's evaluations and failures), merged; ``{}`` for optimizers without any."""
    metrics: dict[str, Any] = {}
    for node in jax.tree.leaves(opt_state, is_leaf=_has_metrics):
        if _has_metrics(node):
            metrics.update(node.metrics())
    return metrics


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


__all__ = [
    "EXTRA_ARGS",
    "OPTAX_EXTRA_ARGS",
    "extra_arg_names",
    "extra_args",
    "optimizer_metrics",
    "stores_value_and_grad",
]
