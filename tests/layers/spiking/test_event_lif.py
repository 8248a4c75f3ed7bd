"""EventProp's exact spike-time gradient against finite differences of the event simulation
(two layers, simultaneous spikes), what autodiff of a time-stepped simulation gives (zero),
the values against a time-stepped simulation, the overflow flag, errors. (One layer against
autodiff and finite differences, jit and vmap: the op registry; the layer: its contract.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers import event_lif, event_lif_op

OP = event_lif_op(max_spikes=2)


def _network_loss(t_in, w1, w2, dy):
    hidden, _ = OP(t_in, w1)
    out, _ = OP(hidden, w2)
    return jnp.sum(dy * out)


def _random_network(seed, tie=False):
    rng = np.random.default_rng(seed)
    t_in = rng.uniform(0, 1.5, (2, 4, 1))
    w1, w2 = rng.uniform(0.4, 2.5, (4, 5)), rng.uniform(0.4, 2.5, (5, 3))
    if tie:  # two inputs at one time, two hidden neurons with one weight column: equal times
        t_in[:, 1] = t_in[:, 0]
        w1[:, 3] = w1[:, 2]
    return t_in, w1, w2, rng.normal(size=(2, 3, 2))


def test_two_layer_gradient_matches_central_differences_with_simultaneous_spikes(x64):
    # a random network, and one with two inputs at one time and two hidden neurons spiking at
    # exactly the same times (the cases jaxsnn's README lists as failing)
    loss, grad = jax.jit(_network_loss), jax.jit(jax.grad(_network_loss, argnums=(0, 1, 2)))
    rng, h = np.random.default_rng(10), 1e-5
    for seed, tie in ((0, False), (2, True)):
        args = _random_network(seed, tie)
        t_in, w1, w2, _ = args
        hidden, _ = OP(t_in, w1)
        out, _ = OP(hidden, w2)
        assert np.sum(np.asarray(out) < 4.0) >= 6  # the output layer spikes
        if tie:
            np.testing.assert_array_equal(hidden[:, 2], hidden[:, 3])
            assert float(jnp.min(hidden[:, 2])) < 4.0
        for i, g in enumerate(grad(*args)):
            u = rng.normal(size=g.shape)
            u /= np.linalg.norm(u)

            def at(s, i=i, u=u, args=args):
                return float(loss(*[a + s * u if j == i else a for j, a in enumerate(args)]))

            fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h)
            exact = float(np.vdot(np.asarray(g), u))
            assert abs(exact - fd) <= 1e-6 * np.linalg.norm(np.asarray(g)), (seed, i, exact, fd)
            assert abs(exact) > 1e-3


def _stepped_first_spike(w, t_in, dt=2e-3, steps=1500):
    """The same neuron in discrete time (Euler), its first spike time read off the steps."""
    t = jnp.arange(steps) * dt
    arrive = (t[:, None] >= t_in[None, :]) & (t[:, None] < t_in[None, :] + dt)
    kicks = arrive.astype(w.dtype) @ w

    def step(carry, kick):
        v, i, fired = carry
        i = i + kick
        v = v + dt * (i - v)
        i = i - dt * 2 * i
        spike = (v > 1.0).astype(v.dtype)
        return (v * (1 - spike), i, fired + spike), fired + spike

    _, fired = jax.lax.scan(step, (0.0 * w[0], 0.0 * w[0], 0.0 * w[0]), kicks)
    first = jnp.sum(fired == 0)  # steps before the first spike
    return first * dt


def test_autodiff_of_a_time_stepped_simulation_gives_zero_and_eventprop_does_not(x64):
    t_in, w = jnp.array([0.1, 0.3]), jnp.array([3.0, 2.5])
    stepped = jax.jit(jax.grad(_stepped_first_spike))(w, t_in)
    first_spike = jax.jit(jax.value_and_grad(lambda w: OP(t_in[:, None], w[:, None])[0][0, 0]))
    event_time, event_grad = first_spike(w)
    assert float(jnp.max(jnp.abs(stepped))) == 0.0
    assert abs(float(_stepped_first_spike(w, t_in)) - float(event_time)) < 5e-3
    h, moves = 1e-6, np.concatenate([np.eye(2), -np.eye(2)])
    first = jax.jit(jax.vmap(lambda w: OP(t_in[:, None], w[:, None])[0][0, 0]))(w[None] + h * moves)
    fd = (first[:2] - first[2:]) / (2 * h)
    np.testing.assert_allclose(event_grad, fd, rtol=1e-7)
    assert float(jnp.max(event_grad)) < 0  # more weight, an earlier spike


def test_a_spike_lands_on_the_threshold_and_an_overflow_is_flagged(x64):
    t_in, w = jnp.array([[0.0], [0.2]]), jnp.array([[4.0], [4.0]])
    (times, over), (many, over_many) = event_lif_op(max_spikes=1)(t_in, w), OP(t_in, w)
    assert float(over[0]) == 1.0 and float(over_many[0]) == 0.0  # it fires twice
    np.testing.assert_array_equal(times[0, 0], many[0, 0])
    tk, ti = np.asarray(many[0]), np.asarray(t_in[:, 0])
    v = np.sum(4.0 * (np.exp(-(tk[1] - ti)) - np.exp(-2 * (tk[1] - ti))))
    v -= np.exp(-(tk[1] - tk[0]))  # the first spike's reset, seen at the second
    np.testing.assert_allclose([v], [1.0], rtol=1e-12)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(tau_mem=0.0), "event_lif: expected a positive tau_mem, got 0.0."),
        (dict(threshold=-1.0), "event_lif: expected a positive threshold, got -1.0."),
        (dict(max_spikes=0), "event_lif: expected a positive integer max_spikes, got 0."),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        event_lif(3, **options)
