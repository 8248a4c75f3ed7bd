"""EventProp's exact spike-time gradient against finite differences of the event simulation
(two layers, simultaneous spikes), what autodiff of a time-stepped simulation gives (zero),
the values against a time-stepped simulation, the overflow flag, errors; forward mode
(EventProp's tangents) against central differences and on the manual_jvp path. (One layer
against autodiff and finite differences, jit and vmap: the op registry; the layer: its
contract.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers import event_lif, event_lif_op
from funcnet.layers.spiking.event_lif_dynamics import _crossing
from tests.layers.spiking.central_differences import assert_matches_central_differences

OP = event_lif_op(max_spikes=2)
RECURRENT = event_lif_op(max_spikes=3, recurrent=True)


def _network_loss(t_in, w1, w2, dy):
    hidden, _ = OP(t_in, w1)
    out, _ = OP(hidden, w2)
    return jnp.sum(dy * out), (hidden, out)


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
    value_and_grad = jax.jit(jax.value_and_grad(_network_loss, argnums=(0, 1, 2), has_aux=True))
    for seed, tie in ((0, False), (2, True)):
        t_in, w1, w2, dy = _random_network(seed, tie)
        (_, (hidden, out)), grads = value_and_grad(t_in, w1, w2, dy)
        assert np.sum(np.asarray(out) < 4.0) >= 6  # the output layer spikes
        if tie:
            np.testing.assert_array_equal(hidden[:, 2], hidden[:, 3])
            assert float(jnp.min(hidden[:, 2])) < 4.0
        value = lambda *args, dy=dy: value_and_grad(*args, dy)[0][0]  # noqa: E731
        assert_matches_central_differences(value, grads, (t_in, w1, w2), seed=seed)


def _recurrent_network(seed, tie):
    rng = np.random.default_rng(seed)
    t_in = rng.uniform(0, 1.5, (2, 4, 1))
    w, u = rng.uniform(0.3, 2.0, (4, 5)), rng.uniform(-1.0, 1.5, (5, 5))
    if tie:  # neurons 2 and 3 see the same inputs and kicks, and not each other: equal times
        w[:, 3], u[:, 3], u[3, 3], u[2, 3], u[3, 2] = w[:, 2], u[:, 2], u[2, 2], 0.0, 0.0
    return t_in, w, u, rng.normal(size=(2, 5, 3))


def test_recurrent_gradient_matches_central_differences_with_simultaneous_spikes(x64):
    def loss(t_in, w, u, dy):
        t, overflow = RECURRENT(t_in, w, u)
        return jnp.sum(dy * t), (t, overflow)

    value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))
    for seed, tie in ((1, False), (2, False), (3, False), (5, True)):
        t_in, w, u, dy = _recurrent_network(seed, tie)
        (_, (t, overflow)), grads = value_and_grad(t_in, w, u, dy)
        (_, (t_without, _)), _ = value_and_grad(t_in, w, 0 * u, dy)
        assert float(jnp.max(overflow)) == 0.0
        assert np.sum(np.asarray(t) < 4.0) >= 9  # it spikes, and the recurrent spikes matter
        assert np.max(np.abs(np.asarray(t) - np.asarray(t_without))) > 1e-2
        if tie:
            np.testing.assert_array_equal(t[:, 2], t[:, 3])
            assert float(jnp.min(t[:, 2])) < 4.0
        value = lambda *args, dy=dy: value_and_grad(*args, dy)[0][0]  # noqa: E731
        assert_matches_central_differences(value, grads, (t_in, w, u), seed=seed)


def test_a_recurrent_spike_is_an_input_event_and_a_delay_shifts_the_inputs(x64):
    # neuron 0 fires from its input; neuron 1 only from neuron 0's kick U₀₁ ε(t − t₀) = θ;
    # with a delay d the layer sees every input d later, and the input gradient is unchanged
    t_in, w, u = jnp.array([[0.1]]), jnp.array([[5.0, 0.0]]), jnp.array([[0.0, 6.0], [0.0, 0.0]])
    delayed = event_lif_op(recurrent=True, delay=0.3)

    def first_spikes(op, t):
        return op(t, w, u)[0][:, 0]

    times, grad = jax.jit(
        lambda t: (first_spikes(delayed, t), jax.grad(lambda t: first_spikes(delayed, t)[1])(t))
    )(t_in)
    t0 = 0.4 + np.log(2 / (1 + np.sqrt(1 - 4 / 5)))  # 5 (x − x²) = 1, x = e^{−(t − 0.4)}
    np.testing.assert_allclose(times, [t0, t0 + np.log(2 / (1 + np.sqrt(1 - 4 / 6)))], rtol=1e-12)
    np.testing.assert_allclose(grad, [[1.0]], rtol=1e-12)  # all times move with the input


def test_spike_time_tangents_match_central_differences_and_the_manual_jvp_path_autodiff(x64):
    # the recurrent, delayed layer: ṫ_out of every spike along one random direction of
    # (W, U, t_in) on the manual_jvp path against fourth-order central differences of the
    # simulated times (no spike appears or vanishes); jvp, jacfwd and grad (reverse mode: JAX
    # transposing the hand-written JVP, its permutation scatter included) against autodiff
    layer = event_lif(3, max_spikes=2, recurrent=True, delay=0.25, dtype=jnp.float64)
    rng = np.random.default_rng(6)
    x = rng.uniform(0.0, 1.0, (2, 3, 1))
    _, params, state = layer.init(jax.random.key(1), x.shape)
    params = params._replace(w=rng.uniform(1.0, 3.0, (3, 3)), u=rng.uniform(-1.0, 1.5, (3, 3)))
    dy = rng.normal(size=(2, 3, 2))
    dirs = jax.tree.map(lambda a: rng.normal(size=a.shape), (params, x))
    shifts = jnp.array([1e-5, -1e-5, 2e-5, -2e-5])

    def derivatives(backward):
        def times(params, x):
            return layer.apply(params, state, x, backward=backward)[0]

        def scalar(params, x):
            return jnp.sum(dy * jnp.sin(times(params, x)))

        def moved(s):
            return times(*jax.tree.map(lambda a, d: a + s * d, (params, x), dirs))

        return jax.jit(
            lambda params, x: (
                layer.apply(params, state, x),
                jax.vmap(moved)(shifts),
                jax.jvp(times, (params, x), dirs)[1],
                jax.jacfwd(scalar, argnums=1)(params, x),
                jax.grad(scalar, argnums=(0, 1))(params, x),
            )
        )(params, x)

    ((t, overflow), at, *manual), (_, _, *reference) = map(derivatives, ("manual_jvp", "autodiff"))
    assert np.sum(np.asarray(t) < 4.0) >= 8 and float(jnp.max(overflow)) == 0.0
    fd = (8 * (at[0] - at[1]) - (at[2] - at[3])) / (12 * shifts[0])
    dt = manual[0]
    np.testing.assert_allclose(dt, fd, rtol=0, atol=1e-7 * float(jnp.max(jnp.abs(dt))))
    assert np.all(np.asarray(dt)[np.asarray(t) >= 4.0] == 0.0)  # no spike, no tangent
    for a, b in zip(jax.tree.leaves(manual), jax.tree.leaves(reference), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert float(jnp.min(jnp.abs(dt[t < 4.0]))) > 1e-3 and float(jnp.max(jnp.abs(manual[1]))) > 1e-3


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
    stepped_time, stepped = jax.jit(jax.value_and_grad(_stepped_first_spike))(w, t_in)
    first_spike = jax.jit(jax.value_and_grad(lambda w: OP(t_in[:, None], w[:, None])[0][0, 0]))
    event_time, event_grad = first_spike(w)
    assert float(jnp.max(jnp.abs(stepped))) == 0.0
    assert abs(float(stepped_time) - float(event_time)) < 5e-3
    h, moves = 1e-6, np.concatenate([np.eye(2), -np.eye(2)])
    first = jax.jit(jax.vmap(lambda w: OP(t_in[:, None], w[:, None])[0][0, 0]))(w[None] + h * moves)
    fd = (first[:2] - first[2:]) / (2 * h)
    np.testing.assert_allclose(event_grad, fd, rtol=1e-7)
    assert float(jnp.max(event_grad)) < 0  # more weight, an earlier spike


def test_a_spike_lands_on_the_threshold_and_an_overflow_is_flagged(x64):
    t_in, w = jnp.array([[0.0], [0.2]]), jnp.array([[4.0], [4.0]])
    (times, over), (many, over_many) = jax.jit(
        lambda t_in, w: (event_lif_op(max_spikes=1)(t_in, w), OP(t_in, w))
    )(t_in, w)
    assert float(over[0]) == 1.0 and float(over_many[0]) == 0.0  # it fires twice
    np.testing.assert_array_equal(times[0, 0], many[0, 0])
    tk, ti = np.asarray(many[0]), np.asarray(t_in[:, 0])
    v = np.sum(4.0 * (np.exp(-(tk[1] - ti)) - np.exp(-2 * (tk[1] - ti))))
    v -= np.exp(-(tk[1] - tk[0]))  # the first spike's reset, seen at the second
    np.testing.assert_allclose([v], [1.0], rtol=1e-12)


def test_a_root_solved_spike_lands_on_the_threshold_and_meets_the_closed_form(x64):
    # τ_syn = 0.3 τ_mem: no closed form; the bracketed solve puts V(t_k) = θ to rounding, and
    # just below τ_mem/2 it agrees with the closed form at τ_mem/2
    t_in, w = jnp.array([[0.0], [0.2]]), jnp.array([[6.0], [6.0]])
    ops = [event_lif_op(max_spikes=2, tau_syn=s) for s in (0.3, 0.5 - 1e-9)] + [OP]
    times = jax.jit(lambda t_in, w: [op(t_in, w)[0][0] for op in ops])(t_in, w)
    tk, ti, kappa = np.asarray(times[0]), np.asarray(t_in[:, 0]), 0.3 / 0.7
    assert np.all(tk < 4.0)  # it fires twice
    for k in range(2):
        gap = tk[k] - ti
        v = np.sum(np.asarray(w[:, 0]) * kappa * (np.exp(-gap) - np.exp(-gap / 0.3)))
        v -= np.sum(np.exp(-(tk[k] - tk[:k])))  # the resets of earlier spikes
        np.testing.assert_allclose(v, 1.0, rtol=1e-13)
    np.testing.assert_allclose(times[1], times[2], rtol=1e-7)


def test_the_second_derivative_of_a_root_solved_crossing_matches_central_differences(x64):
    # τ_syn = 0.3 τ_mem: the bracketed solve's two Newton steps make autodiff's second
    # derivative of the crossing time exact (with one step, Hessians of spike times came out
    # 40–150 % off); a Hessian-vector product against differences of the exact gradient
    a_b, v = jnp.array([[6.0, 5.0, 8.0], [6.0, 5.0, 7.0]]), jnp.array([[1.0, -0.5, 0.3]] * 2)

    def grad(a_b):
        crossing = lambda p: _crossing(p[0], p[1], jnp.zeros(3), 1.0, 1.0, 0.3)  # noqa: E731
        return jax.grad(lambda p: jnp.sum(crossing(p)[1]))(a_b), crossing(a_b)[0]

    (_, ok), (hv, _) = jax.jit(lambda p: jax.jvp(grad, (p,), (v,)))(a_b)
    steps = jnp.array([1e-5, -1e-5])[:, None, None]
    g, _ = jax.jit(jax.vmap(grad))(a_b[None] + steps * v[None])
    assert bool(jnp.all(ok))  # every membrane crosses θ
    np.testing.assert_allclose(hv, (g[0] - g[1]) / 2e-5, rtol=1e-7)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(tau_mem=0.0), "event_lif: expected a positive tau_mem, got 0.0."),
        (dict(threshold=-1.0), "event_lif: expected a positive threshold, got -1.0."),
        (dict(max_spikes=0), "event_lif: expected a positive integer max_spikes, got 0."),
        (dict(delay=-0.5), "event_lif: expected a positive delay, got -0.5."),
        (dict(tau_syn=1.0), "event_lif: expected 0 < tau_syn < tau_mem = 1.0, got 1.0."),
        (dict(u_init=jnp.zeros), "event_lif: u_init applies only to a recurrent layer, got"),
        (dict(recurrent=1), "event_lif: expected recurrent to be a bool, got 1."),
    ],
)
def test_bad_options_are_named(options, message):
    error = ValueError if "expected 0 <" in message or "positive" in message else TypeError
    with pytest.raises(error, match=message.replace(".", r"\.")):
        event_lif(3, **options)


def test_the_weights_must_match_the_layer_kind():
    with pytest.raises(TypeError, match=r"event_lif: expected \(t_in, w, u\), got 2 arguments\."):
        RECURRENT(jnp.zeros((3, 1)), jnp.ones((3, 2)))
