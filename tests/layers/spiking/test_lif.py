"""LIF layers: values against a plain loop, the surrogate derivatives, what autodiff of the
true forward gives (zero), the reset options, errors. Gradients against the gradient reference,
jit, vmap and shapes of the registered cases: the op registry and the layer contract."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers import LIFState, leaky_integrator, lif, lif_op, rlif, rlif_op
from funcnet.layers.spiking.surrogate import SURROGATES, surrogate

B, T, F, H = 2, 6, 3, 4


def _loop(x, w, b, u=None, beta=0.9, theta=1.0, reset="subtract", alpha=None):
    """The LIF recurrence written out step by step in NumPy."""
    s, v, i = np.zeros((B, H)), np.zeros((B, H)), np.zeros((B, H))
    spikes, vs = [], []
    for t in range(T):
        z = x[:, t] @ w + b + (s @ u if u is not None else 0)
        i = alpha * i + z if alpha is not None else z
        v = beta * v + i - theta * s if reset == "subtract" else beta * (1 - s) * v + i
        s = (v > theta).astype(float)
        spikes.append(s)
        vs.append(v)
    return np.stack(spikes, 1), np.stack(vs, 1)


@pytest.mark.parametrize(
    ("factory", "options"),
    [(lif, dict(reset="subtract")), (rlif, dict(reset="zero", alpha=0.7, beta=0.8))],
)
def test_spikes_and_membrane_follow_the_recurrence(factory, options):
    layer = factory(H, return_state=True, threshold=0.5, **options)
    _, params, state = layer.init(jax.random.key(0), (B, T, F))
    x = 2 * np.random.default_rng(1).uniform(size=(B, T, F)).astype(np.float32)
    (spikes, final), _ = jax.jit(layer.apply)(params, state, x)
    p = {k: np.asarray(v, np.float64) for k, v in params._asdict().items()}
    expected, vs = _loop(np.asarray(x, np.float64), p["w"], p["b"], p.get("u"), theta=0.5,
                         **{k: options.get(k, d) for k, d in (("beta", 0.9), ("reset", "subtract"),
                                                               ("alpha", None))})  # fmt: skip
    np.testing.assert_array_equal(spikes, expected)
    np.testing.assert_allclose(final.v, vs[:, -1], rtol=1e-5, atol=1e-6)
    assert 0 < expected.mean() < 1  # the case spikes, and not everywhere


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_each_surrogate_is_the_derivative_of_its_antiderivative_with_peak_one(name):
    s = surrogate("t", name)
    u = np.linspace(-1.3, 1.3, 27)  # 0 at index 13

    @jax.jit
    def both(u):
        return s.derivative(u), jax.vmap(jax.grad(s.antiderivative))(u)

    derivative, autodiff = both(u)
    np.testing.assert_allclose(derivative, autodiff, rtol=1e-6, atol=1e-7)
    assert float(derivative[13]) == pytest.approx(1.0) and float(jnp.max(derivative)) <= 1.0


def _grads(backward, true_forward=False, **options):
    op = lif_op(**options)
    x = 2 * jax.random.uniform(jax.random.key(1), (B, T, F))
    w = jax.random.normal(jax.random.key(2), (F, H))
    state = (jnp.zeros((B, H)), jnp.zeros((B, H)))

    def loss(w):
        run = op.forward if true_forward else lambda *a: op(*a, backward=backward)
        spikes = run(x, *state, w, jnp.zeros(H))[0]
        return jnp.sum(spikes * jnp.arange(T * H).reshape(1, T, H))

    return jax.jit(jax.grad(loss))(w)


def test_autodiff_of_the_spiking_forward_gives_zero_and_the_surrogate_does_not():
    assert float(jnp.max(jnp.abs(_grads("autodiff", true_forward=True)))) == 0.0
    manual = _grads("manual")
    assert float(jnp.min(jnp.abs(manual))) > 0
    np.testing.assert_allclose(manual, _grads("autodiff"), rtol=1e-5, atol=1e-6)


def test_the_reset_passes_gradient_only_when_not_detached():
    detached, passing = _grads("manual"), _grads("manual", detach_reset=False)
    assert float(jnp.max(jnp.abs(detached - passing))) > 1e-3
    np.testing.assert_allclose(passing, _grads("autodiff", detach_reset=False), rtol=1e-5,
                               atol=1e-6)  # fmt: skip


def test_a_learned_decay_is_a_logit_and_gets_a_gradient():
    layer = lif(H, beta=0.8, learn_beta=True, return_sequences=False)
    _, params, state = layer.init(jax.random.key(0), (B, T, F))
    np.testing.assert_allclose(jax.nn.sigmoid(params.beta_logit), 0.8, rtol=1e-6)
    x = 2 * jax.random.uniform(jax.random.key(1), (B, T, F))
    g = jax.grad(lambda p: jnp.sum(layer.apply(p, state, x)[0] * jnp.arange(H)[None]))(params)
    assert float(jnp.max(jnp.abs(g.beta_logit))) > 0
    assert isinstance(layer.init(jax.random.key(0), (B, T, F))[1], tuple)
    assert LIFState._fields == ("s", "v")


def test_the_leaky_integrator_readout_sums_decayed_currents():
    layer = leaky_integrator(3, beta=0.5, return_sequences=False)
    _, params, state = layer.init(jax.random.key(0), (B, T, F))
    x = np.random.default_rng(1).normal(size=(B, T, F)).astype(np.float32)
    v, _ = jax.jit(layer.apply)(params, state, x)
    z = x @ params.w + params.b[None, None]
    expected = sum(0.5 ** (T - 1 - t) * z[:, t] for t in range(T))
    np.testing.assert_allclose(v, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(beta=0.0), "lif: expected beta in (0, 1], got 0.0."),
        (dict(beta=1.5), "lif: expected beta in (0, 1], got 1.5."),
        (dict(beta=1.0, learn_beta=True), "lif: expected beta in (0, 1) to learn it, got 1.0."),
        (dict(threshold=0.0), "lif: expected a positive threshold, got 0.0."),
        (dict(reset="hard"), "lif: expected reset in ('subtract', 'zero'), got 'hard'."),
        (dict(surrogate="relu"), "lif: expected surrogate in"),
        (dict(slope=-1.0), "lif: expected a positive slope, got -1.0."),
        (dict(surrogate="straight_through", slope=2.0), "straight_through surrogate, got 2.0."),
        (dict(learn_alpha=True), "lif: expected alpha (a synaptic decay) to learn it, got None."),
        (dict(alpha=1.2), "lif: expected alpha in (0, 1], got 1.2."),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        lif(H, **options)


@pytest.mark.parametrize("factory", [lif_op, rlif_op])
def test_an_op_factory_takes_no_initialisers_and_no_unknown_option(factory):
    # an op does not initialise parameters: w_init given to it would be accepted and ignored
    for option in ("w_init", "u_init", "activation"):
        with pytest.raises(TypeError, match=f"unexpected keyword argument '{option}'"):
            factory(**{option: None})


def test_the_manual_jvp_path_gives_the_surrogate_derivative_of_autodiff():
    # an RSNN (detached reset by default) read out by a leaky integrator: forward mode runs the
    # cells' hand-written step JVPs in a forward scan; reverse mode is JAX's transpose of them
    from funcnet.layers import serial

    with jax.enable_x64(True):
        model = serial(rlif(H, threshold=0.5, dtype=jnp.float64),
                       leaky_integrator(2, return_sequences=False, dtype=jnp.float64))  # fmt: skip
        _, params, state = model.init(jax.random.key(0), (B, 3, F))
        x = np.random.default_rng(0).uniform(0, 1.5, (B, 3, F))

        def f(params, x, backward):
            return model.apply(params, state, jnp.asarray(x), backward=backward)[0]

        for transform in (  # jacfwd: one jax.jvp per input direction
            lambda b: jax.jacfwd(f, argnums=(0, 1))(params, x, b),
            lambda b: jax.grad(lambda p: f(p, x, b).sum())(params),
        ):
            run = jax.jit(transform, static_argnums=0)
            got, want = run("manual_jvp"), run("autodiff")
            for a, e in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
                np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-12)
            assert any(float(jnp.max(jnp.abs(a))) > 0 for a in jax.tree.leaves(got))
