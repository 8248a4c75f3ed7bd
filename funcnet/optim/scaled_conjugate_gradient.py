"""Møller's scaled conjugate gradient (1993): conjugate directions with no line search.

Each iteration models the loss along the direction ``p`` by a quadratic whose curvature comes
from a finite difference of gradients, kept positive by a Levenberg–Marquardt scale ``λ``:

- curvature (after a kept step): ``σ' = σ / ‖p‖``, ``s = (∇f(w + σ' p) - g) / σ'``, ``δ = pᵀs``;
- scaled: ``δ ← δ + (λ - λ̄) ‖p‖²``; if ``δ ≤ 0``: ``λ̄ = 2(λ - δ/‖p‖²)``, ``δ ← -δ + λ‖p‖²``,
  ``λ = λ̄`` (the model made convex);
- step: ``μ = -pᵀg``, ``α = μ / δ``, trial ``w + α p``;
- comparison ``Δ = 2δ (f(w) - f(w + αp)) / μ²``, the actual over the predicted decrease:
  ``Δ ≥ 0`` keeps the step (``λ̄ = 0``), otherwise the params stay and ``λ̄ = λ``;
  ``Δ ≥ 0.75``: ``λ ← λ/4``; ``Δ < 0.25``: ``λ ← λ + δ(1 - Δ)/‖p‖²``;
- direction after a kept step: ``p ← -g + β p`` with ``β = (‖g‖² - gᵀg_prev) / μ`` (Møller's
  β, which is Liu–Storey's), or ``-g`` on a restart (every n iterations, n the number of
  parameters, as Møller; see :mod:`funcnet.optim.restart`).

A kept step never raises the loss (``Δ ≥ 0``); a rejected one leaves it unchanged. A non-finite
trial loss counts as ``Δ = -1``: rejected, with the scale raised.

Evaluations: a kept step costs two (the gradient at the shifted point, the loss and gradient at
the trial point), an iteration after a rejected one costs one (``s`` is still valid). They come
from ``value_and_grad_fn`` (params -> (loss, gradient)), which the train step passes as it
computes its own gradients (the model's backward; docs/conjugate_gradient.md), or from
``jax.value_and_grad(value_fn)`` when only ``value_fn`` is given. The state keeps the loss and
gradient at the params, so :func:`optax.value_and_grad_from_state` reuses them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from funcnet.optim._checks import check_finite_loss, require
from funcnet.optim.beta import ratio
from funcnet.optim.restart import check_restart, restart_rule

NAME = "scaled_conjugate_gradient"


class ScaledConjugateGradientState(NamedTuple):
    """What one SCG iteration leaves for the next."""

    count: jax.Array  # int32: iterations done
    value: jax.Array  # the loss at the params (inf before the first update)
    grad: Any  # its gradient
    direction: Any  # p
    prev_grad: Any  # the gradient where p was formed
    prev_slope: jax.Array  # μ = -pᵀg_prev there
    curvature: jax.Array  # δ, scaled, of the last iteration (reused after a rejection)
    scale: jax.Array  # λ
    scale_bar: jax.Array  # λ̄: the λ that δ holds
    kept: jax.Array  # bool: the last step was kept (a new direction and s are due)
    since_restart: jax.Array  # int32
    evaluations: jax.Array  # int32: evaluations of the last iteration
    comparison: jax.Array  # Δ of the last iteration

    def metrics(self) -> dict[str, jax.Array]:
        """The last iteration's diagnostics, for the train step's metrics and fit's history."""
        return {
            "evaluations": self.evaluations.astype(jnp.float32),
            "rejected": (~self.kept).astype(jnp.float32),
            "scale": self.scale.astype(jnp.float32),
        }


def scaled_conjugate_gradient(
    sigma: float = 1e-4, initial_scale: float = 1e-6, restart: str | int | None = "dimension"
) -> optax.GradientTransformationExtraArgs:
    """Møller's scaled conjugate gradient (MATLAB's ``trainscg``): full batch, no line search.

    ``update(grads, state, params, value=f, value_and_grad_fn=h)`` with
    ``h(params) -> (loss, gradient)`` (or ``value_fn=f_of_params``, differentiated by JAX), and
    optionally ``grad=`` (the gradient at params, as :func:`optax.lbfgs` takes it; ``grads``
    otherwise);
    :func:`~funcnet.train.make_train_step` passes both. docs/conjugate_gradient.md.

    Args:
      sigma: the finite-difference step, ``σ``; the gradients differ over ``σ / ‖p‖ · p``
        (Møller: ``0 < σ ≤ 1e-4``).
      initial_scale: ``λ₁`` (Møller: ``0 < λ₁ ≤ 1e-6``).
      restart: ``"dimension"`` (every n iterations, n parameters: Møller's), ``"powell_beale"``,
        an integer ``n`` or None (:mod:`funcnet.optim.restart`).

    Shapes:
      params, grads and updates: any pytree of float arrays, all of one dtype; ``value``: a
      scalar.

    Raises:
      ValueError: a ``sigma`` or ``initial_scale`` that is not positive and finite, an unknown
        ``restart``; a non-finite loss at the params an iteration starts from (under ``jit``,
        inside a ``JaxRuntimeError``).
      TypeError: ``update`` without ``params``, ``value``, or both ``value_and_grad_fn`` and
        ``value_fn``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> f = lambda w: jnp.sum((w - jnp.array([1.0, -2.0])) ** 2 * jnp.array([1.0, 10.0]))
      >>> opt, w = scaled_conjugate_gradient(), jnp.zeros(2)
      >>> @jax.jit
      ... def step(w, state):
      ...     value, grad = jax.value_and_grad(f)(w)
      ...     updates, state = opt.update(grad, state, w, value=value,
      ...                                 value_and_grad_fn=jax.value_and_grad(f))
      ...     return w + updates, state
      >>> state = opt.init(w)
      >>> for _ in range(3):
      ...     w, state = step(w, state)
      >>> bool(jnp.allclose(w, jnp.array([1.0, -2.0]), atol=1e-3))
      True
    """
    for name, number in (("sigma", sigma), ("initial_scale", initial_scale)):
        if (
            isinstance(number, bool)
            or not isinstance(number, (int, float))
            or not (0 < number < float("inf"))
        ):
            raise ValueError(f"{NAME}: expected {name} to be a positive finite number, got "
                             f"{number!r}.")  # fmt: skip
    check_restart(restart, NAME)

    def init_fn(params: Any) -> ScaledConjugateGradientState:
        zeros = lambda: optax.tree.zeros_like(params)  # noqa: E731  (distinct: donated)
        dtype = jnp.result_type(*jax.tree.leaves(params))
        scalar = lambda x: jnp.asarray(x, dtype)  # noqa: E731
        return ScaledConjugateGradientState(
            count=jnp.zeros((), jnp.int32), value=scalar(jnp.inf), grad=zeros(),
            direction=zeros(), prev_grad=zeros(), prev_slope=scalar(0.0), curvature=scalar(0.0),
            scale=scalar(initial_scale), scale_bar=scalar(0.0), kept=jnp.asarray(True),
            since_restart=jnp.zeros((), jnp.int32), evaluations=jnp.zeros((), jnp.int32),
            comparison=scalar(0.0),
        )  # fmt: skip

    def update_fn(updates, state, params=None, *, value=None, grad=None, value_fn=None,
                  value_and_grad_fn=None):  # fmt: skip
        require(NAME, "params", params, "the current parameters")
        require(NAME, "value", value, "the loss at params")
        if value_and_grad_fn is None:
            require(NAME, "value_and_grad_fn or value_fn", value_fn, "the loss of the params")
            value_and_grad_fn = jax.value_and_grad(value_fn)
        check_finite_loss(NAME, value, state.count)
        g = updates if grad is None else grad
        first = state.count == 0
        # direction: a new one after a kept step, the same one after a rejected step
        beta = ratio(optax.tree.vdot(g, g) - optax.tree.vdot(g, state.prev_grad),
                      state.prev_slope)  # fmt: skip
        p = optax.tree.add_scale(optax.tree.scale(-1.0, g), beta, state.direction)
        scheduled = restart_rule(restart, params)(g, state.prev_grad, state.since_restart)
        fresh = state.kept & (first | scheduled | ~(optax.tree.vdot(g, p) != 0))
        p = optax.tree.where(fresh, optax.tree.scale(-1.0, g), p)
        p = optax.tree.where(state.kept, p, state.direction)
        p2 = optax.tree.vdot(p, p)
        p_norm = jnp.sqrt(p2)
        safe_p2 = jnp.where(p2 > 0, p2, 1.0)

        # curvature along p: a finite difference of gradients after a kept step
        def curvature(_):
            shift = sigma / jnp.where(p_norm > 0, p_norm, 1.0)
            _, g_shift = value_and_grad_fn(optax.tree.add_scale(params, shift, p))
            return optax.tree.vdot(p, optax.tree.sub(g_shift, g)) / shift, jnp.zeros_like(shift)

        delta, scale_bar = jax.lax.cond(
            state.kept, curvature, lambda _: (state.curvature, state.scale_bar), None
        )
        scale = state.scale
        delta = delta + (scale - scale_bar) * p2
        convexify = delta <= 0
        scale_bar = jnp.where(convexify, 2.0 * (scale - delta / safe_p2), scale_bar)
        delta = jnp.where(convexify, -delta + scale * p2, delta)
        scale = jnp.where(convexify, scale_bar, scale)
        # the step and the comparison of actual and predicted decrease
        mu = -optax.tree.vdot(p, g)
        alpha = ratio(mu, delta)
        trial_value, trial_grad = value_and_grad_fn(optax.tree.add_scale(params, alpha, p))
        comparison = ratio(2.0 * delta * (value - trial_value), mu * mu)
        comparison = jnp.where(jnp.isfinite(trial_value), comparison, -1.0)
        kept = comparison >= 0
        scale = jnp.where(kept & (comparison >= 0.75), scale / 4.0, scale)
        scale_bar = jnp.where(kept, 0.0, scale)
        scale = jnp.where(comparison < 0.25, scale + delta * (1.0 - comparison) / safe_p2, scale)
        step = optax.tree.where(kept, optax.tree.scale(alpha, p), optax.tree.zeros_like(p))
        new_state = ScaledConjugateGradientState(
            count=state.count + 1,
            value=jnp.where(kept, trial_value, value),
            grad=optax.tree.where(kept, trial_grad, g),
            direction=p, prev_grad=g, prev_slope=mu, curvature=delta, scale=scale,
            scale_bar=scale_bar, kept=kept,
            since_restart=jnp.where(state.kept & fresh, 1, state.since_restart + state.kept),
            evaluations=1 + state.kept.astype(jnp.int32), comparison=comparison,
        )  # fmt: skip
        return step, optax.tree.cast_like(new_state, other_tree=state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


__all__ = ["ScaledConjugateGradientState", "scaled_conjugate_gradient"]
