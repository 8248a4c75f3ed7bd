"""The max-voltage readout: the maximum found exactly (at a stationary point, at a kink), its
gradient through two layers against central differences with a cross-entropy on top. (One layer
against autodiff and finite differences, jit and vmap: the op registry; the layer: its
contract.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers import event_lif_op, max_voltage, max_voltage_op
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from tests.layers.spiking.central_differences import assert_matches_central_differences

READOUT, HIDDEN = max_voltage_op(), event_lif_op(max_spikes=2)
CROSS_ENTROPY = softmax_cross_entropy_with_integer_labels()


def test_the_maximum_is_exact_at_a_stationary_point_and_at_a_kink(x64):
    # class 0: one input, V = 2 ε(t − 0.2), maximal at t = 0.2 + log 2 with V* = 2/4;
    # class 1: a negative weight at 0.5 turns the rising membrane down there (a kink)
    t_in, w = jnp.array([[0.2], [0.5]]), jnp.array([[2.0, 2.0], [0.0, -3.0]])
    v_star, grad = jax.jit(jax.value_and_grad(lambda t: READOUT(t, w) @ jnp.array([0, 1.0])))(t_in)
    grid = np.linspace(0, 4, 400_001) - np.asarray(t_in)
    v_grid = np.asarray(w).T @ np.where(grid > 0, np.exp(-grid) - np.exp(-2 * grid), 0.0)
    np.testing.assert_allclose(v_grid[0].max(), 0.5, rtol=1e-10)  # the stationary point's V*
    np.testing.assert_allclose(float(v_star), v_grid[1].max(), rtol=1e-12)  # the kink's
    slope = 2.0 * (2 * np.exp(-0.6) - np.exp(-0.3))  # V̇ at the kink, from the first input
    np.testing.assert_allclose(np.asarray(grad)[:, 0], [-slope, slope], rtol=1e-12)


def test_two_layer_max_voltage_loss_matches_central_differences(x64):
    labels = jnp.array([0, 1, 2])

    def loss(t_in, w1, w2):
        hidden, _ = HIDDEN(t_in, w1)
        return CROSS_ENTROPY(READOUT(hidden, w2), labels), hidden

    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))
    value = lambda *args: value_and_grad(*args)[0][0]  # noqa: E731 (one compilation)
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        t_in = rng.uniform(0, 1.5, (3, 4, 1))
        w1, w2 = rng.uniform(0.4, 2.5, (4, 5)), rng.uniform(-1.5, 2.5, (5, 3))
        (_, hidden), grads = value_and_grad(t_in, w1, w2)
        assert np.sum(np.asarray(hidden) < 4.0) >= 10  # the hidden layer spikes
        assert_matches_central_differences(value, grads, (t_in, w1, w2), seed=seed)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(tau_mem=-1.0), "max_voltage: expected a positive tau_mem, got -1.0."),
        (dict(t_max=0), "max_voltage: expected a positive t_max, got 0."),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        max_voltage(3, **options)
