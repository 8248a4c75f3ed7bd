"""The spike-count and first-spike-time readouts: values on 0/1 trains and the gradient's
reading (the registry and the layer contract check it against autodiff and finite
differences)."""

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.layers import first_spike_time, spike_count


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
