"""Update-unlocked training: each module updates from its input, its output and its synthetic
gradient alone, with its own optax state, and so do the predictors.

One training step runs, for each module ``k`` in turn (a separately compiled function each):

* module ``k < N−1``: ``h = f_k(x)``, ``ĝ = M_k(h[, y])``, parameters along ``J_θᵀ ĝ / B``; it
  returns ``h`` for module ``k+1`` and ``B·J_xᵀ ĝ / B`` for predictor ``k−1`` (the bootstrapped
  target, per example);
* the last module: the task loss's gradient; it returns the true gradient at its input;
* predictor ``k−1``: regression of ``M_{k−1}(x)`` onto that target (mean of ``½‖ĝ − t‖²``).

Activations travel between modules through queues ``staleness`` steps long: module ``k+1`` at
step ``t`` consumes what module ``k`` produced at step ``t − d`` (simulated asynchrony; labels
travel with the activations). With ``d = 0`` one step equals one optimizer step on the gradient
of :func:`~funcnet.dni.model.decoupled_objective` (bp_lambda = 0). With ``devices``, module
``k``'s parameters and steps live on ``devices[k]``; with ``d >= 1`` the modules' work within one
step is independent, so JAX's asynchronous dispatch runs it concurrently.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from funcnet.core.layer import check_int
from funcnet.dni.model import (
    DecoupledModel,
    DecoupledParams,
    apply_module,
    predict_gradient,
)


class ModuleState(NamedTuple):
    """One module's parameters and optimizer state, with those of its predictor (``None`` for
    the last module, which has none)."""

    params: Any
    opt_state: Any
    predictor_params: Any
    predictor_opt_state: Any


def init_unlocked(
    model: DecoupledModel,
    params: DecoupledParams,
    optimizer: optax.GradientTransformation,
    devices: Sequence[Any] | None = None,
) -> list[ModuleState]:
    """Per-module states, each with its own optimizer states (on ``devices[k]`` if given)."""
    if model.bp_lambda != 0.0:
        raise ValueError(
            "unlocked training: expected a model with bp_lambda=0 (a true gradient locks the "
            f"update), got bp_lambda={model.bp_lambda}."
        )
    if devices is not None and len(devices) < len(model.modules):
        raise ValueError(
            f"unlocked training: expected a device per module ({len(model.modules)}), got "
            f"{len(devices)}."
        )
    states, init = [], jax.jit(optimizer.init)  # eagerly, each leaf would compile its zeros
    for k, p in enumerate(params.modules):
        q = params.predictors[k] if k < len(params.predictors) else None
        opt_q = init(q) if q is not None else None
        state = ModuleState(p, init(p), q, opt_q)
        states.append(jax.device_put(state, devices[k]) if devices is not None else state)
    return states


def make_module_steps(model: DecoupledModel, optimizer: optax.GradientTransformation):
    """``(module_steps, predictor_steps)``, compiled: ``module_steps[k](state, x, labels) ->
    (state, h or loss metrics, target for predictor k−1)``; ``predictor_steps[k](state, h,
    labels, target) -> (state, mse)``."""
    last = len(model.modules) - 1

    def hidden_step(k):
        def step(state: ModuleState, x, labels):
            h, pullback = jax.vjp(lambda p, x: apply_module(model, k, p, x), state.params, x)
            g_hat = predict_gradient(model, k, state.predictor_params, h, labels, "manual")
            d_params, dx = pullback(g_hat / x.shape[0])
            updates, opt_state = optimizer.update(d_params, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)
            return state._replace(params=params, opt_state=opt_state), h, dx * x.shape[0]

        return jax.jit(step)

    def last_step(state: ModuleState, x, labels):
        def loss(p, x):
            logits = apply_module(model, last, p, x)
            return model.loss(logits, labels), logits

        (value, logits), (d_params, dx) = jax.value_and_grad(loss, (0, 1), has_aux=True)(
            state.params, x
        )
        updates, opt_state = optimizer.update(d_params, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": value, "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels)}
        return state._replace(params=params, opt_state=opt_state), metrics, dx * x.shape[0]

    def predictor_step(k):
        def step(state: ModuleState, h, labels, target):
            def mse(q):
                g_hat = predict_gradient(model, k, q, h, labels, "manual")
                return 0.5 * jnp.mean(jnp.sum((g_hat - target) ** 2, axis=-1))

            value, grads = jax.value_and_grad(mse)(state.predictor_params)
            updates, opt_state = optimizer.update(
                grads, state.predictor_opt_state, state.predictor_params
            )
            q = optax.apply_updates(state.predictor_params, updates)
            return state._replace(predictor_params=q, predictor_opt_state=opt_state), value

        return jax.jit(step)

    module_steps = [hidden_step(k) for k in range(last)] + [jax.jit(last_step)]
    return module_steps, [predictor_step(k) for k in range(last)]


def train_unlocked(
    model: DecoupledModel,
    states: list[ModuleState],
    optimizer: optax.GradientTransformation,
    batches: Iterable[tuple[jax.Array, jax.Array]],
    *,
    staleness: int = 0,
    devices: Sequence[Any] | None = None,
    steps: Any = None,
) -> tuple[list[ModuleState], list[dict[str, float]]]:
    """Run update-unlocked steps over ``batches``; returns the states and per-step metrics of
    the last module (a step whose last module has no input yet records none).

    ``steps`` reuses the compiled ``make_module_steps(model, optimizer)`` across calls.
    """
    d = check_int("train_unlocked", "staleness", staleness, minimum=0)
    module_steps, predictor_steps = steps or make_module_steps(model, optimizer)
    place = (lambda a, k: jax.device_put(a, devices[k])) if devices else (lambda a, k: a)
    queues = [collections.deque() for _ in model.modules[1:]]  # (h, labels) into module k+1
    states, history = list(states), []
    for x, labels in batches:
        inputs = [(place(x, 0), place(labels, 0))] + [None] * len(queues)
        if d > 0:  # every module consumes what its predecessor sent d steps ago, if anything
            inputs[1:] = [q.popleft() if len(q) >= d else None for q in queues]
        for k, step in enumerate(module_steps):
            if d == 0 and k > 0:
                inputs[k] = queues[k - 1].popleft() if queues[k - 1] else None
            if inputs[k] is None:
                continue
            x_k, y_k = inputs[k]
            states[k], out, target = step(states[k], x_k, y_k)
            if k > 0:  # the target for the predictor of the module that sent x_k
                j = k - 1
                back = (place(x_k, j), place(y_k, j), place(target, j))
                states[j], _ = predictor_steps[j](states[j], *back)
            if k < len(queues):
                queues[k].append((place(out, k + 1), place(y_k, k + 1)))
            else:
                history.append(out)  # read after the loop: reading now would wait for it
    return states, [{name: float(v) for name, v in row.items()} for row in history]
