"""Compiled training and evaluation steps, and per-example gradients.

``backward`` is closed over, never a runtime argument: a step built for the manual backward
can never reuse a trace made for autodiff, or the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from funcnet.core.layer import Layer
from funcnet.core.op import Backward, Op, check_backward

Batch = tuple[Any, Any]
Metrics = dict[str, jax.Array]
TrainStep = Callable[[Any, Any, Any, Batch, Any], tuple[Any, Any, Any, Metrics]]


def batch_metrics(loss_value: jax.Array, y: jax.Array, t: jax.Array) -> Metrics:
    """The loss, and the accuracy when ``t`` holds integer class labels for ``y``'s last axis."""
    metrics = {"loss": loss_value}
    if jnp.issubdtype(t.dtype, jnp.integer) and y.ndim == t.ndim + 1:
        metrics["accuracy"] = jnp.mean(jnp.argmax(y, axis=-1) == t)
    return metrics


def _loss_fn(model: Layer, loss: Op, backward: Backward, train: bool) -> Callable[..., Any]:
    def fn(params, state, batch, key):
        x, t = batch
        y, new_state = model.apply(params, state, x, key=key, train=train, backward=backward)
        return loss(y, t, backward=backward), (new_state, y)

    return fn


def make_train_step(
    model: Layer,
    loss: Op,
    optimizer: optax.GradientTransformation,
    *,
    backward: Backward = "manual",
    donate: bool = True,
) -> TrainStep:
    """A jitted, pure ``(params, state, opt_state, batch, key) -> (params, state, opt_state,
    metrics)``.

    Gradients come from the ops' hand-written backward passes (``backward="manual"``) or from
    JAX autodiff of their reference forwards (``"autodiff"``). ``params``, ``state`` and
    ``opt_state`` are donated: do not use the arrays passed in after the call.

    Examples:
      >>> import jax, jax.numpy as jnp, optax
      >>> from funcnet.layers import dense
      >>> from funcnet.losses import mean_squared_error
      >>> model, opt = dense(1), optax.sgd(0.1)
      >>> _, params, state = model.init(jax.random.key(0), (4, 2))
      >>> step = make_train_step(model, mean_squared_error(), opt)
      >>> batch = (jnp.ones((4, 2)), jnp.zeros((4, 1)))
      >>> params, state, _, metrics = step(params, state, opt.init(params), batch, None)
      >>> sorted(metrics)
      ['grad_norm', 'loss']
    """
    check_backward(backward, "make_train_step")
    grad_fn = jax.value_and_grad(_loss_fn(model, loss, backward, train=True), has_aux=True)

    def step(params, state, opt_state, batch, key):
        (loss_value, (state, y)), grads = grad_fn(params, state, batch, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        metrics = batch_metrics(loss_value, y, batch[1])
        metrics["grad_norm"] = optax.tree.norm(grads)
        return params, state, opt_state, metrics

    return jax.jit(step, donate_argnums=(0, 1, 2) if donate else ())


def make_eval_step(model: Layer, loss: Op) -> Callable[[Any, Any, Batch], Metrics]:
    """A jitted ``(params, state, batch) -> metrics`` in evaluation mode (``train=False``)."""

    def step(params, state, batch):
        x, t = batch
        y, _ = model.apply(params, state, x, train=False)
        return batch_metrics(loss(y, t), y, t)

    return jax.jit(step)


def per_example_grads(
    model: Layer, loss: Op, *, backward: Backward = "manual", train: bool = True
) -> Callable[[Any, Any, Batch, Any], Any]:
    """A jitted ``(params, state, batch, key) -> grads`` with a leading batch axis on each leaf.

    Each example's gradient is the gradient of the loss on a batch of that one example, computed
    by ``jax.vmap`` over the examples of the hand-written (or autodiff) backward. The same key
    is used for every example.
    """
    check_backward(backward, "per_example_grads")
    loss_fn = _loss_fn(model, loss, backward, train)

    def one(params, state, x, t, key):
        return jax.grad(lambda p: loss_fn(p, state, (x[None], t[None]), key)[0])(params)

    def grads(params, state, batch, key):
        x, t = batch
        return jax.vmap(one, in_axes=(None, None, 0, 0, None))(params, state, x, t, key)

    return jax.jit(grads)
