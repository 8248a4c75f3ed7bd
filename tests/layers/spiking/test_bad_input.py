"""The issue's bad input for the spiking family, each a ValueError naming the layer or function
(the lif and event_lif options beyond these: test_lif.py, test_event_lif.py)."""

import re

import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.data import latency_code, rate_code, spike_time_code
from funcnet.layers import (
    EventLIFParams,
    event_lif,
    first_spike_cross_entropy,
    first_spike_time,
    leaky_integrator,
    rlif,
    spike_count,
)


def _event_lif_apply(x):
    """event_lif(3) applied to ``x`` with 4 inputs' weights (checked before any computation)."""
    return event_lif(3).apply(EventLIFParams(np.zeros((4, 3), np.float32)), (), x)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        # non-positive time constants or threshold, β outside (0, 1], a spike budget of 0
        (lambda: rlif(3, beta=0.0), "rlif: expected beta in (0, 1], got 0.0."),
        (lambda: rlif(3, threshold=-1.0), "rlif: expected a positive threshold, got -1.0."),
        (lambda: leaky_integrator(3, beta=1.5), "leaky_integrator: expected beta in (0, 1]"),
        (lambda: event_lif(3, t_max=0.0), "event_lif: expected a positive t_max, got 0.0."),
        (lambda: event_lif(3, max_spikes=0), "event_lif: expected a positive integer max_spikes"),
        (
            lambda: first_spike_cross_entropy(tau0=0.0),
            "first_spike_cross_entropy: expected a positive tau0, got 0.0.",
        ),
        # not spike times where times are expected: integers (a 0/1 train), no spike axis
        (
            lambda: _event_lif_apply(jnp.ones((2, 4, 1), jnp.int32)),
            "event_lif: expected a floating-point input, got dtype int32.",
        ),
        (
            lambda: _event_lif_apply(jnp.ones((4,))),
            "event_lif: expected an input of rank >= 2, got shape (4,).",
        ),
        # not spike trains where trains are expected: no time axis, integers
        (lambda: first_spike_time().init(None, (5,)), "first_spike_time: expected"),
        (lambda: spike_count().apply((), (), jnp.ones((2, 3), bool)), "spike_count: expected"),
        # codes: values outside [0, 1] (NaN included), no steps
        (lambda: spike_time_code(np.array([[-0.5]])), "spike_time_code: expected inputs in"),
        (lambda: rate_code(np.array([[np.nan]]), 4), "rate_code: expected inputs in [0, 1]"),
        (lambda: rate_code(np.array([[0.5]]), 0), "rate_code: expected a positive integer"),
        (lambda: latency_code(np.array([[2.0]]), 4), "latency_code: expected inputs in [0, 1]"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_layer(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()
