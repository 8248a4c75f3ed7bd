"""Training an :func:`~funcnet.models.spiking.event_classifier` by EventProp on first-spike times.

``fit`` cannot: the prediction is the output neuron that fires *first* (an argmin over spike
times, not an argmax over logits), and a silent output neuron has no spike time to move, so it
gets no gradient; weight bumping (Göltz et al. 2021) raises, after each step, the input weights
of every output neuron that stayed silent on some example of the batch.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax

from funcnet.core.layer import Layer
from funcnet.core.op import Backward, Op
from funcnet.data.dataset import Dataset
from funcnet.train.epochs import run_epochs

NO_STATE = ((), ())  # for its two event_lif layers, which read no state (out: overflow flags)


def first_spikes(t_out: jax.Array) -> jax.Array:
    """The first spike time of each output neuron, ``[..., C, K] -> [..., C]``."""
    return t_out[..., 0]


def first_spike_accuracy(t_out: jax.Array, labels: jax.Array) -> jax.Array:
    """The fraction of examples whose earliest output spike is their label's neuron."""
    return jnp.mean(jnp.argmin(first_spikes(t_out), -1) == labels)


def bump_silent_outputs(params: tuple, t_out: jax.Array, amount: float, t_max: float) -> tuple:
    """``params`` with ``amount`` added to the input weights of every output neuron silent
    (no spike before ``t_max``) on some example of ``t_out``."""
    silent = jnp.any(first_spikes(t_out) >= t_max, axis=tuple(range(t_out.ndim - 2)))
    last = params[-1]
    return (*params[:-1], last._replace(w=last.w + amount * silent.astype(last.w.dtype)[None]))


def make_eventprop_step(net: Layer, loss: Op, optimizer: optax.GradientTransformation, *,
                        bump: float, t_max: float, backward: Backward = "manual"):  # fmt: skip
    """``(params, opt_state, x, labels) -> (params, opt_state, loss, accuracy)``, compiled:
    one optimizer update by the gradient of ``loss`` (EventProp's, through ``backward``), then
    weight bumping of the output neurons silent on some example of ``x`` under the updated
    weights (one more forward pass; bumping by the outputs before the update gave 96.27 ±
    0.71% on Yin-Yang, within the seed-to-seed noise of this chaotic training)."""

    def step(params, opt_state, x, labels):
        def objective(p):
            t_out, _ = net.apply(p, NO_STATE, x, backward=backward)
            return loss(t_out, labels, backward=backward), t_out

        (value, t_out), grads = jax.value_and_grad(objective, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        t_new, _ = net.apply(params, NO_STATE, x)  # silent after the update: bump
        params = bump_silent_outputs(params, t_new, bump, t_max)
        return params, opt_state, value, first_spike_accuracy(t_out, labels)

    return jax.jit(step)


def evaluate_eventprop(net: Layer, loss: Op, params: Any, data: Dataset) -> dict[str, float]:
    """``{"loss", "accuracy", "hidden_overflow"}`` on ``data``: the first-spike loss, the
    fraction classified by the earliest output spike, the fraction of hidden neurons that would
    have fired more often than their spike budget (the output's first spike is all it reads)."""

    x, labels = jnp.asarray(data.x), jnp.asarray(data.y)
    value, accuracy, overflow = _metrics(net, loss, params, x, labels)
    return {"loss": float(value), "accuracy": float(accuracy),
            "hidden_overflow": float(overflow)}  # fmt: skip


@functools.partial(jax.jit, static_argnums=(0, 1))  # compiled once per model, loss and shape
def _metrics(net: Layer, loss: Op, params: Any, x: jax.Array, labels: jax.Array) -> tuple:
    t_out, flags = net.apply(params, NO_STATE, x)
    hidden = jnp.concatenate([f.reshape(len(x), -1) for f in flags[:-1]], -1)
    return loss(t_out, labels), first_spike_accuracy(t_out, labels), jnp.mean(hidden)


def fit_eventprop(
    net: Layer,
    loss: Op,
    params: Any,
    optimizer: optax.GradientTransformation,
    train: Dataset,
    *,
    key: jax.Array,
    epochs: int,
    batch_size: int,
    bump: float,
    t_max: float,
    eval_data: Dataset | None = None,
    backward: Backward = "manual",
    progress: bool = False,
) -> tuple[Any, list[dict[str, float]]]:
    """Train for ``epochs`` of shuffled mini-batches with :func:`make_eventprop_step`; one
    history row per epoch (train loss and accuracy, and ``eval_loss``, ``eval_accuracy``,
    ``eval_hidden_overflow`` on ``eval_data``)."""
    step = make_eventprop_step(net, loss, optimizer, bump=bump, t_max=t_max, backward=backward)
    evaluate = None if eval_data is None else lambda p: evaluate_eventprop(net, loss, p, eval_data)
    params, _, history = run_epochs(step, params, jax.jit(optimizer.init)(params), train,
                                    key=key, epochs=epochs, batch_size=batch_size,
                                    evaluate=evaluate, progress=progress)  # fmt: skip
    return params, history
