"""Dynamic loss scaling: an optax wrapper that unscales gradients and adapts the scale.

float16 compute lets small cotangents underflow, so the train step differentiates ``S·loss``.
A fixed ``S`` must be guessed: too small and gradients still vanish, too large and they
overflow. ``dynamic_loss_scale(optimizer)`` keeps ``S`` in the optimizer state and adapts it:

- non-finite gradients: the update is skipped (by ``optax.apply_if_finite``, params and the
  inner optimizer state unchanged), ``S ← max(min_scale, S / factor)``, the count of good
  steps restarts at 0;
- finite gradients: the update is applied to ``grads / S``, and after ``period`` finite steps
  in a row ``S ← S · factor`` (never to infinity) and the count restarts.

Because ``S`` lives in ``opt_state`` it is checkpointed, replicated over a mesh and donated like
any optimizer state, and a resumed run repeats the same scales bit for bit.
:func:`~funcnet.train.make_train_step` recognises the state and multiplies the loss by ``S``;
docs/mixed_precision.md.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

# Skipping must never give up: the scale keeps shrinking until the gradients are finite, and an
# update applied after N skipped ones would still be infinite. optax counts skipped steps with a
# saturating int32 increment, so the count can never exceed this bound.
NEVER_GIVE_UP = int(jnp.iinfo(jnp.int32).max)


class DynamicLossScaleState(NamedTuple):
    """The loss scale, the finite steps since it last changed, and the wrapped state."""

    scale: jax.Array  # float32 scalar: the scale the next step multiplies the loss by
    good_steps: jax.Array  # int32 scalar: finite steps in a row since the scale last changed
    inner: optax.ApplyIfFiniteState  # optax.apply_if_finite(optimizer)'s state; has last_finite


def _check(name: str, ok: bool, expected: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"dynamic_loss_scale: expected {name} to be {expected}, got {value!r}.")


def _is_real(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _check_arguments(initial_scale: Any, period: Any, factor: Any, min_scale: Any) -> None:
    finite = _is_real(initial_scale) and 0 < initial_scale < math.inf
    _check("initial_scale", finite, "a positive finite number", initial_scale)
    is_int = not isinstance(period, bool) and isinstance(period, int)
    _check("period", is_int and period >= 1, "an integer >= 1", period)
    _check("factor", _is_real(factor) and 1 < factor < math.inf, "a finite number > 1", factor)
    fits = _is_real(min_scale) and 0 < min_scale <= initial_scale
    _check("min_scale", fits, f"a number in (0, initial_scale={initial_scale!r}]", min_scale)


def _next_scale(
    scale: jax.Array, good_steps: jax.Array, finite: jax.Array, period: int, factor: float,
    min_scale: float,
) -> tuple[jax.Array, jax.Array]:  # fmt: skip
    """``(scale, good_steps)`` after a step whose gradients were ``finite`` (or not)."""
    good_steps = jnp.where(finite, good_steps + 1, 0).astype(jnp.int32)
    grown = scale * factor
    grow = good_steps >= period
    scale = jnp.where(grow & jnp.isfinite(grown), grown, scale)
    scale = jnp.where(finite, scale, jnp.maximum(min_scale, scale / factor))
    return scale.astype(jnp.float32), jnp.where(grow, 0, good_steps).astype(jnp.int32)


def dynamic_loss_scale(
    optimizer: optax.GradientTransformation,
    initial_scale: float = 2.0**15,
    period: int = 2000,
    factor: float = 2.0,
    min_scale: float = 1.0,
) -> optax.GradientTransformationExtraArgs:
    """``optimizer`` fed unscaled gradients, skipping non-finite steps, with an adaptive scale.

    ``update(grads, state, params)`` takes the gradients of ``scale·loss`` (``state.scale``),
    divides them by the scale in float32, and hands them to
    ``optax.apply_if_finite(optimizer, max_consecutive_errors=NEVER_GIVE_UP)``, which applies
    them or, when any is inf or NaN, returns zero updates and keeps ``optimizer``'s state. Then
    the scale halves (divided by ``factor``, not below ``min_scale``) after a non-finite step,
    and doubles (times ``factor``) after ``period`` finite steps in a row. Pass the wrapper to
    :func:`~funcnet.train.make_train_step` as the optimizer itself (not inside an
    ``optax.chain``): the step then multiplies the loss by the scale and reports it as the
    ``loss_scale`` metric.

    Args:
      optimizer: the optimizer to apply to the unscaled gradients.
      initial_scale: the first step's scale, a positive finite number (a power of two keeps the
        unscaling exact).
      period: finite steps in a row after which the scale grows, an integer >= 1.
      factor: what the scale is divided by on overflow and multiplied by on growth, > 1.
      min_scale: the smallest scale, in ``(0, initial_scale]``.

    Shapes:
      ``state.scale`` and ``state.good_steps`` are scalars (float32, int32); grads, updates
      and params share the structure and shapes of the params.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> opt = dynamic_loss_scale(optax.sgd(1.0), initial_scale=8.0, period=2)
      >>> params = {"w": jnp.ones(2)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.array([8.0, 16.0])}, state, params)
      >>> updates["w"].tolist(), state.scale.item(), state.good_steps.item()
      ([-1.0, -2.0], 8.0, 1)
      >>> updates, state = opt.update({"w": jnp.array([8.0, jnp.inf])}, state, params)
      >>> updates["w"].tolist(), state.scale.item(), state.good_steps.item()
      ([0.0, 0.0], 4.0, 0)
    """
    _check_arguments(initial_scale, period, factor, min_scale)
    skipping = optax.apply_if_finite(optimizer, max_consecutive_errors=NEVER_GIVE_UP)

    def init(params: Any) -> DynamicLossScaleState:
        return DynamicLossScaleState(
            scale=jnp.asarray(initial_scale, jnp.float32),
            good_steps=jnp.zeros([], jnp.int32),
            inner=skipping.init(params),
        )

    def update(grads: Any, state: DynamicLossScaleState, params: Any = None, **extra_args: Any):
        def unscale(g):
            return (g.astype(jnp.float32) / state.scale).astype(g.dtype)

        grads = jax.tree.map(unscale, grads)
        updates, inner = skipping.update(grads, state.inner, params, **extra_args)
        scale, good_steps = _next_scale(
            state.scale, state.good_steps, inner.last_finite, period, factor, min_scale
        )
        return updates, DynamicLossScaleState(scale, good_steps, inner)

    return optax.GradientTransformationExtraArgs(init, update)


__all__ = ["NEVER_GIVE_UP", "DynamicLossScaleState", "dynamic_loss_scale"]
