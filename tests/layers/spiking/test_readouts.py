"""The spike-count and first-spike-time readouts: values on 0/1 trains and the gradient's
reading (the registry and the layer contract check it against autodiff and finite
differences)."""

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.layers import first_spike_time, spike_count
from funcnet.layers.spiking import first_spike_cross_entropy
from tests.core.manual_jvp_path import assert_manual_jvp_matches_autodiff


def test_first_spike_time_counts_the_steps_before_the_first_spike():
    rng = np.random.default_rng(0)
    s = (rng.random((3, 6, 4)) < 0.2).astype(np.float32)
    t, _ = first_spike_time().apply((), (), jnp.asarray(s))
    first = np.where(s.any(1), s.argmax(1), 6)  # T for a silent neuron
    np.testing.assert_array_equal(t, first)
    counts, _ = spike_count().apply((), (), jnp.asarray(s))
    np.testing.assert_array_equal(counts, s.sum(1))


def test_first_spike_time_gradient_moves_the_first_spike():
    # neuron 0 fires at 1 and 3; neuron 1 at 2 only (T = 4)
    s = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    layer = first_spike_time()
    grad = jax.jit(jax.grad(lambda s: jnp.sum(layer.apply((), (), s)[0])))(s)
    # before the first spike −(τ − u); at it −(gap to the next spike, or to T); after it 0
    np.testing.assert_array_equal(grad[:, 0], [-1.0, -2.0, 0.0, 0.0])
    np.testing.assert_array_equal(grad[:, 1], [-2.0, -1.0, -2.0, 0.0])


def test_manual_jvp_path_matches_autodiff(x64):
    # the first spike time of a real-valued train, read out by the time-to-first-spike loss
    layer, loss = first_spike_time(), first_spike_cross_entropy(tau0=0.5, tau1=4.0, alpha=0.1)

    def apply(s, labels, backward):
        t, _ = layer.apply((), (), s, backward=backward)  # [B, C]
        return loss(t[..., None] / 4.0, labels, backward=backward)

    s = jnp.asarray(np.random.default_rng(0).uniform(size=(2, 4, 3)))
    assert_manual_jvp_matches_autodiff(apply, s, jnp.array([0, 2]))
