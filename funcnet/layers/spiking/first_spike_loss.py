"""The time-to-first-spike loss of a spiking classifier (Wunderlich & Pehle 2021, Yin-Yang).

The class scores are the first spike times of the output neurons, earliest wins::

    L = mean_b [ −log softmax(−t_first / τ₀)_label + α (exp(t_label / τ₁) − 1) ]

The regulariser pulls the correct neuron's first spike earlier. A neuron that did not fire
has ``t_first = t_max`` (no gradient reaches it through its time: there is no spike to move).
Backward, with ``p = softmax(−t/τ₀)`` and ``e`` the label's one-hot, over ``n`` examples::

    dt = [(e − p) / τ₀ + α e exp(t/τ₁) / τ₁] · g / n
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.core.jvp_rules import scalar_jvp
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory


@op_factory("first_spike_cross_entropy")
def first_spike_cross_entropy(tau0: float = 0.025, tau1: float = 0.32, alpha: float = 3e-3) -> Op:
    """The loss ``(t_out [..., C, K], labels [...]) -> scalar`` on first spike times.

    ``t_out`` are spike times as :func:`~funcnet.layers.spiking.event_lif.event_lif` gives them
    (the first of each neuron in ``t_out[..., 0]``); ``labels`` integer classes in ``[0, C)``.
    The defaults are the EventProp paper's Yin-Yang values, ``τ₀ = 0.5 ms``, ``τ₁ = 6.4 ms``,
    ``α = 3·10⁻³``, in units of its ``τ_mem = 20 ms`` (times here are in units of ``τ_mem``).
    """
    name = "first_spike_cross_entropy"
    for what, value in (("tau0", tau0), ("tau1", tau1)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{name}: expected a positive {what}, got {value!r}.")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or alpha < 0:
        raise ValueError(f"{name}: expected a non-negative alpha, got {alpha!r}.")

    def parts(t_out, labels):
        t = t_out[..., 0]
        onehot = jax.nn.one_hot(labels, t.shape[-1], dtype=t.dtype)
        return t, onehot, jax.nn.log_softmax(-t / tau0, axis=-1)

    def forward(t_out, labels):
        t, onehot, logp = parts(t_out, labels)
        t_label = jnp.sum(onehot * t, -1)
        return jnp.mean(-jnp.sum(onehot * logp, -1) + alpha * jnp.expm1(t_label / tau1))

    def fwd(t_out, labels):
        t, onehot, logp = parts(t_out, labels)
        t_label = jnp.sum(onehot * t, -1)
        loss = jnp.mean(-jnp.sum(onehot * logp, -1) + alpha * jnp.expm1(t_label / tau1))
        return loss, (t_out.shape, t, onehot, jnp.exp(logp))

    def bwd(res, g):
        # dt = [(e − p)/τ₀ + α e exp(t/τ₁)/τ₁] g / n, into the first spike's slot
        shape, t, onehot, p = res
        n = t.size // t.shape[-1]
        dt = ((onehot - p) / tau0 + alpha * onehot * jnp.exp(t / tau1) / tau1) * (g / n)
        return jnp.zeros(shape, t.dtype).at[..., 0].set(dt), None

    # L̇ = ⟨[(e − p)/τ₀ + α e exp(t/τ₁)/τ₁] / n, ṫ_out[..., 0]⟩
    return make_op(name, forward, fwd, bwd, jvp=scalar_jvp(fwd, bwd))


add_cases(
    "first_spike_cross_entropy",
    lambda: [
        Case(
            "plain",
            first_spike_cross_entropy(),
            (Arg((3, 4, 2), low=0.0, high=2.0), Arg((3,), kind="int", high=4)),
        )
    ],
)
