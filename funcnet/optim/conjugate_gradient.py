"""Nonlinear conjugate gradient as an optax transformation, its line search inside the update.

One update is one CG iteration at params ``w`` with loss ``f`` and gradient ``g``:

1. direction: ``d = -g + β d_prev`` (:mod:`funcnet.optim.beta`), or ``d = -g`` on a restart
   (:mod:`funcnet.optim.restart`; always when ``d`` is not a descent direction);
2. initial step: ``α₀ = 1.01 · 2 (f - f_prev) / gᵀd``, the step at which a quadratic through
   the last decrease would bottom out (Nocedal & Wright eq. 3.60; SciPy's CG uses it too), and
   ``α₀ = 1.01 / ‖g‖`` (a step of length about 1) on the first iteration and after a failure;
3. line search along ``α₀ d`` (:mod:`funcnet.optim.linesearch`), inside the compiled update.

A step is kept only when it strictly lowers the loss. Any other step (optax's zoom accepts
"approximate Wolfe" steps that may raise the loss by up to 1e-6 relative, and both searches
return their last trial when they run out of steps) is not taken: the update is zero, the state
says ``linesearch_failed`` and the next iteration restarts along ``-g``. The loss therefore
never rises, and a failed iteration is reported, never silent. At a zero gradient there is
nothing to search: the update is zero and no failure is reported.

The line search's state keeps the loss and gradient at the accepted params, so
:func:`optax.value_and_grad_from_state` (``make_train_step(..., full_batch=True)``) reuses them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from funcnet.optim._checks import check_finite_loss, require
from funcnet.optim.beta import beta_rule
from funcnet.optim.linesearch import check_linesearch_state, make_linesearch
from funcnet.optim.restart import check_restart, is_descent, restart_rule

NAME = "conjugate_gradient"


class ConjugateGradientState(NamedTuple):
    """What one CG iteration leaves for the next."""

    count: jax.Array  # int32: iterations done
    direction: Any  # d_prev, unscaled (the line search's step multiplies it)
    prev_grad: Any  # g_prev
    prev_loss: jax.Array  # f_prev
    since_restart: jax.Array  # int32: iterations since the direction was last -g
    restart_next: jax.Array  # bool: the last line search failed, restart along -g
    linesearch: Any  # the line search's state: the loss and gradient at the params (reused)
    evaluations: jax.Array  # int32: loss-and-gradient evaluations of the last line search
    restarted: jax.Array  # bool: the last direction was -g
    linesearch_failed: jax.Array  # bool: the last line search did not lower the loss

    def metrics(self) -> dict[str, jax.Array]:
        """The last iteration's diagnostics, for the train step's metrics and fit's history."""
        return {
            "evaluations": self.evaluations.astype(jnp.float32),
            "restarted": self.restarted.astype(jnp.float32),
            "linesearch_failed": self.linesearch_failed.astype(jnp.float32),
        }


def _initial_step(value, prev_loss, slope, gnorm, fresh):
    """α₀: N&W eq. 3.60 from the last decrease, or a unit-length step on a fresh start."""
    from_decrease = 1.01 * 2.0 * (value - prev_loss) / jnp.where(slope < 0, slope, -1.0)
    unit = 1.01 / jnp.where(gnorm > 0, gnorm, 1.0)
    usable = jnp.isfinite(from_decrease) & (from_decrease > 0)
    return jnp.where(fresh | ~usable, unit, from_decrease)


def _kept(value, new_value):
    """Whether the line search's step is taken: a strictly lower, finite loss."""
    return jnp.isfinite(new_value) & (new_value < value)


def conjugate_gradient(
    beta: str = "polak_ribiere",
    restart: str | int | None = "powell_beale",
    linesearch: str | optax.GradientTransformationExtraArgs = "zoom",
) -> optax.GradientTransformationExtraArgs:
    """Nonlinear conjugate gradient, a full-batch optimizer with a line search.

    Used like :func:`optax.lbfgs`: ``update(grads, state, params, value=f, grad=g,
    value_fn=f_of_params)``; :func:`~funcnet.train.make_train_step` passes them (with
    ``full_batch=True`` it reuses the line search's last loss and gradient) and
    ``fit(..., full_batch=True)`` runs one iteration per epoch. docs/conjugate_gradient.md.

    Args:
      beta: ``"fletcher_reeves"``, ``"polak_ribiere"``, ``"polak_ribiere_plus"``,
        ``"hestenes_stiefel"`` or ``"dai_yuan"`` (:mod:`funcnet.optim.beta`).
      restart: ``"powell_beale"``, ``"dimension"`` (every n iterations, n parameters), an
        integer ``n`` or None (:mod:`funcnet.optim.restart`); a direction that is not a
        descent direction restarts in any case.
      linesearch: ``"zoom"`` (strong Wolfe, the default), ``"backtracking"`` (Armijo) or an
        optax line search (:mod:`funcnet.optim.linesearch`).

    Shapes:
      params, grads and updates: any pytree of float arrays, all of one dtype; ``value``: a
      scalar.

    Raises:
      ValueError: an unknown ``beta``, ``restart`` or ``linesearch``; a non-finite loss at the
        params an iteration starts from (under ``jit``, inside a ``JaxRuntimeError``).
      TypeError: ``update`` without ``params``, ``value`` or ``value_fn``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> f = lambda w: jnp.sum((w - jnp.array([1.0, -2.0])) ** 2 * jnp.array([1.0, 10.0]))
      >>> opt, w = conjugate_gradient(), jnp.zeros(2)
      >>> @jax.jit  # one compiled iteration, line search included
      ... def step(w, state):
      ...     value, grad = jax.value_and_grad(f)(w)
      ...     updates, state = opt.update(grad, state, w, value=value, grad=grad, value_fn=f)
      ...     return w + updates, state
      >>> state = opt.init(w)
      >>> for _ in range(3):
      ...     w, state = step(w, state)
      >>> bool(jnp.allclose(w, jnp.array([1.0, -2.0]), atol=1e-4))
      True
    """
    rule = beta_rule(beta, NAME)
    check_restart(restart, NAME)
    search = make_linesearch(linesearch, NAME)

    def init_fn(params: Any) -> ConjugateGradientState:
        dtype = jnp.result_type(*jax.tree.leaves(params))
        return ConjugateGradientState(  # distinct zeros: XLA cannot donate one buffer twice
            count=jnp.zeros((), jnp.int32), direction=optax.tree.zeros_like(params),
            prev_grad=optax.tree.zeros_like(params),
            prev_loss=jnp.zeros((), dtype), since_restart=jnp.zeros((), jnp.int32),
            restart_next=jnp.asarray(False), linesearch=search.init(params),
            evaluations=jnp.zeros((), jnp.int32), restarted=jnp.asarray(False),
            linesearch_failed=jnp.asarray(False),
        )  # fmt: skip

    def update_fn(updates, state, params=None, *, value=None, grad=None, value_fn=None):
        require(NAME, "params", params, "the current parameters")
        require(NAME, "value", value, "the loss at params")
        require(NAME, "value_fn", value_fn, "the loss as a function of the params")
        check_linesearch_state(state.linesearch, NAME)
        check_finite_loss(NAME, value, state.count)
        g = updates
        grad = g if grad is None else grad
        fresh = (state.count == 0) | state.restart_next
        beta_k = rule(g, state.prev_grad, state.direction, optax.tree.sub(g, state.prev_grad))
        d = optax.tree.add_scale(optax.tree.scale(-1.0, g), beta_k, state.direction)
        scheduled = restart_rule(restart, params)(g, state.prev_grad, state.since_restart)
        restarted = fresh | scheduled | ~is_descent(g, d)
        d = optax.tree.where(restarted, optax.tree.scale(-1.0, g), d)
        gnorm = optax.tree.norm(g)
        slope = optax.tree.vdot(g, d)
        alpha0 = _initial_step(value, state.prev_loss, slope, gnorm, fresh)
        ls_state = optax.tree.set(state.linesearch, learning_rate=jnp.ones_like(alpha0))
        direction = optax.tree.scale(alpha0, d)
        step, ls_state = search.update(
            direction, ls_state, params, value=value, grad=grad, value_fn=value_fn
        )
        decreased = _kept(value, optax.tree.get(ls_state, "value"))
        stationary = gnorm == 0
        step = optax.tree.where(decreased, step, optax.tree.zeros_like(step))
        kept = optax.tree.set(ls_state, value=value, grad=grad)
        ls_state = optax.tree.where(decreased, ls_state, kept)
        new_state = ConjugateGradientState(
            count=state.count + 1, direction=d, prev_grad=g, prev_loss=value,
            since_restart=jnp.where(restarted, 1, state.since_restart + 1),
            restart_next=~decreased, linesearch=ls_state,
            evaluations=optax.tree.get(ls_state, "num_linesearch_steps"),
            restarted=restarted, linesearch_failed=~decreased & ~stationary,
        )  # fmt: skip
        return step, optax.tree.cast_like(new_state, other_tree=state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


__all__ = ["ConjugateGradientState", "conjugate_gradient"]
