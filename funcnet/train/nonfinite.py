"""Non-finite training steps: noticed on the device, acted on where the loop already syncs.

A step is *non-finite* when its loss or the global norm of its gradients is inf or NaN. The train
step computes that flag itself (``make_train_step(..., nonfinite="flag" | "skip")``), so
noticing it costs no extra host round trip: :func:`~funcnet.train.fit` adds the flags up with
the other metrics and reads the count when it reads the epoch's means. With ``"skip"`` the step
also keeps the params, model state and optimizer state it was given (a select on the device).

An optimizer that guards itself against non-finite gradients (``optax.apply_if_finite``, and
:func:`~funcnet.train.loss_scale.dynamic_loss_scale`, which overflows on purpose and shrinks its
scale) leaves the params unchanged on such a step; for it only the loss is judged.
"""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax

NonFinite = Literal["apply", "flag", "skip"]
NONFINITE_MODES: tuple[str, ...] = ("apply", "flag", "skip")
ON_NONFINITE: tuple[str, ...] = ("raise", "skip", "warn")


class NonFiniteError(FloatingPointError):
    """A training step produced a non-finite loss or gradient norm."""


class NonFiniteWarning(RuntimeWarning):
    """Steps with a non-finite loss or gradient norm were taken (``on_nonfinite="warn"``)."""


def check_choice(value: Any, choices: tuple[str, ...], what: str, where: str) -> None:
    """Raise a ValueError unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{where}: expected {what} to be one of {choices}, got {value!r}.")


def _is_guard(tree: Any) -> bool:
    return isinstance(tree, optax.ApplyIfFiniteState)


def guards_gradients(opt_state: Any) -> bool:
    """At trace time: whether the optimizer skips non-finite gradients itself."""
    return any(map(_is_guard, jax.tree.leaves(opt_state, is_leaf=_is_guard)))


def finite_step(loss_value: jax.Array, grad_norm: jax.Array, opt_state: Any) -> jax.Array:
    """A boolean scalar: the step's loss (and, unless the optimizer guards itself, its gradient
    norm) is finite."""
    finite = jnp.isfinite(loss_value)
    return finite if guards_gradients(opt_state) else finite & jnp.isfinite(grad_norm)


def keep_unless(finite: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where the step was finite, ``old`` (leaf by leaf) where it was not."""
    return jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)


__all__ = [
    "NONFINITE_MODES",
    "ON_NONFINITE",
    "NonFinite",
    "NonFiniteError",
    "NonFiniteWarning",
    "check_choice",
    "finite_step",
    "guards_gradients",
    "keep_unless",
]
