"""Spiking classifiers: a discrete-time LIF network read out by leaky integrators, and two
layers of event-based LIF neurons read out by their first spikes (EventProp).

Used by ``funcnet train --model lif|eventprop`` and by experiments/yin_yang_snn.py,
yin_yang_eventprop.py and digits_lif_vs_ann.py, so each is built in one place.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.core.layer import Layer
from funcnet.initializers import Initializer
from funcnet.layers.combinators import serial
from funcnet.layers.pool import global_max_pool
from funcnet.layers.spiking import event_lif, leaky_integrator, lif


def lif_classifier(
    hidden_features: int, features: int, *, beta: float = 0.9, threshold: float = 1.0
) -> Layer:
    """``lif(hidden_features) → leaky_integrator(features)``, read out as each output
    membrane's maximum over time (the logits).

    Shapes:
      x: spike trains ``[..., T, F]`` -> logits ``[..., features]``.
    """
    return serial(
        lif(hidden_features, beta=beta, threshold=threshold),
        leaky_integrator(features, beta=beta),
        global_max_pool(num_position_axes=1),
    )


def shifted_normal(mean: float, std: float) -> Initializer:
    """Normal weights of mean ``mean`` (an event-based layer needs positive drive to fire)."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        return (mean + std * jax.random.normal(key, shape)).astype(dtype)

    return init


def event_layers(
    hidden_features: int, features: int, *, max_spikes: int = 3, t_max: float = 4.0
) -> tuple[Layer, Layer]:
    """``event_lif(hidden_features)`` (at most ``max_spikes`` spikes each) and
    ``event_lif(features)`` (its first spike), initialised as for Yin-Yang: hidden weights
    N(1.5, 1), output weights N(0.3, 0.3)."""
    return (
        event_lif(hidden_features, max_spikes=max_spikes, t_max=t_max,
                  w_init=shifted_normal(1.5, 1.0)),
        event_lif(features, max_spikes=1, t_max=t_max, w_init=shifted_normal(0.3, 0.3)),
    )  # fmt: skip


def event_classifier(
    hidden_features: int, features: int, *, max_spikes: int = 3, t_max: float = 4.0
) -> Layer:
    """The two :func:`event_layers` in series: spike times in, output spike times out; the
    class is the output neuron that fires first.

    Shapes:
      x: spike times ``[..., I, 1]`` -> ``[..., features, 1]``.
    """
    return serial(*event_layers(hidden_features, features, max_spikes=max_spikes, t_max=t_max))
