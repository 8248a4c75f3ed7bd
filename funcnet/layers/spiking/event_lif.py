"""Continuous-time LIF neurons simulated event by event, differentiated by EventProp.

Current-based neurons with ``τ_syn = τ_mem / 2`` (``τ = τ_mem``), threshold ``θ``, reset to
zero (at a spike ``V = θ``, so the reset subtracts ``θ e^{−(t−t_k)/τ}``), optionally with
recurrent weights ``U`` (a neuron's spike is an input event to the layer's neurons) and a fixed
delay ``d`` on the input synapses (an input spike at ``t_i`` arrives at ``t_i + d``). Between
events the membrane is closed-form; with ``x = e^{−t/τ}``::

    V(t) = A x − B x²,  A = Σ_i w_i e^{t_i/τ} − θ Σ_k e^{t_k/τ},  B = Σ_i w_i e^{2 t_i/τ}

over the input (and recurrent) spikes ``t_i < t`` and the neuron's own earlier spikes ``t_k``,
so the next threshold crossing is the root ``x* = 2θ / (A − √(A² − 4Bθ))``, ``t* = −τ log x*``.
Each spike time is defined by ``V(t_k) = θ``; its exact gradient (wherever no spike appears or
disappears) is the implicit-function one, which is what EventProp's adjoint computes (Wunderlich
& Pehle 2021): the jumps of the adjoint at the spikes solve a triangular system in time order
and the adjoint is integrated in closed form between events (event_lif_dynamics.py).
Derivation: docs/spiking.md.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.nn.initializers import normal

from funcnet.core.layer import (
    Layer,
    check_axis_size,
    check_floating,
    check_input_shape,
    check_option_applies,
    check_positive_int,
    check_shape_rank,
)
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.initializers import Initializer
from funcnet.layers.spiking.event_lif_dynamics import simulate, spike_time_jvp, spike_time_vjp
from funcnet.layers.spiking.psp import check_tau_syn


class EventLIFParams(NamedTuple):
    w: jax.Array  # [I, N]


class RecurrentEventLIFParams(NamedTuple):
    w: jax.Array  # [I, N]
    u: jax.Array  # [N, N]: U[m, n] is the weight of neuron m's spikes onto neuron n


def check_event_options(
    name: str, tau_mem, threshold, max_spikes, t_max, delay=None, tau_syn=None
) -> None:
    for what, value in (("tau_mem", tau_mem), ("threshold", threshold), ("t_max", t_max),
                        ("delay", 1.0 if delay is None else delay)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{name}: expected a positive {what}, got {value!r}.")
    check_tau_syn(name, tau_mem, tau_syn)
    if isinstance(max_spikes, bool) or not isinstance(max_spikes, int) or max_spikes <= 0:
        raise ValueError(f"{name}: expected a positive integer max_spikes, got {max_spikes!r}.")


@op_factory("event_lif")
def event_lif_op(
    tau_mem: float = 1.0,
    threshold: float = 1.0,
    max_spikes: int = 1,
    t_max: float = 4.0,
    *,
    recurrent: bool = False,
    delay: float | None = None,
    tau_syn: float | None = None,
) -> Op:
    """The op ``(t_in [..., I, K_in], w [I, N][, u [N, N]]) -> (t_out [..., N, K],
    overflow [..., N])`` (``u`` when ``recurrent``).

    ``tau_syn`` is ``None`` for ``τ_mem/2`` (crossings in closed form), else in ``(0, τ_mem)``
    (a bracketed root solve). ``t_in`` holds input spike times (``≥ t_max``: no spike),
    arriving ``delay`` later when one is given; ``t_out`` the first ``max_spikes`` spike times
    of each neuron in ``[0, t_max)``, in order, ``t_max`` where there are fewer; ``overflow``
    is 1 where a neuron would have fired more often (its later spikes are then missing: never a
    silent truncation; in a recurrent layer they would have reached the others too, so an
    overflow flags every neuron of the example). Its backward is EventProp's exact gradient of
    the spike times; ``overflow`` has none.
    """
    name = "event_lif"
    check_event_options(name, tau_mem, threshold, max_spikes, t_max, delay, tau_syn)
    if not isinstance(recurrent, bool):
        raise TypeError(f"{name}: expected recurrent to be a bool, got {recurrent!r}.")
    tau, theta, t_max, shift = float(tau_mem), float(threshold), float(t_max), delay or 0.0
    tau_s = tau / 2 if tau_syn is None else float(tau_syn)
    expected = "(t_in, w, u)" if recurrent else "(t_in, w)"

    def run(t_in, *weights):
        if len(weights) != 1 + recurrent:
            raise TypeError(f"{name}: expected {expected}, got {1 + len(weights)} arguments.")
        w, u = weights[0], (weights[1] if recurrent else None)
        flat = t_in.reshape(-1, *t_in.shape[-2:]) + shift  # the delay moves every input spike
        out, over = jax.vmap(lambda t: simulate(t, w, u, tau, tau_s, theta, max_spikes, t_max))(
            flat
        )
        outputs = out.reshape(*t_in.shape[:-2], *out.shape[1:]), over.reshape(*t_in.shape[:-2], -1)
        return outputs, (flat, w, u, out)

    def forward(t_in, *weights):
        return run(t_in, *weights)[0]

    def fwd(t_in, *weights):
        return run(t_in, *weights)

    def bwd(res, dy):
        # dt_i = −Σ c W ε', dW = Σ c ε, dU = Σ c ε(t_s − t_s') with (diag(V̇) + Mᵀ) c = −dt_out
        flat, w, u, t_out = res
        dt_in, dw, du = jax.vmap(
            lambda ti, to, d: spike_time_vjp(ti, w, u, to, d, tau, tau_s, theta, t_max)
        )(flat, t_out, dy[0].reshape(t_out.shape))
        dt_in = dt_in.reshape(*dy[0].shape[:-2], *flat.shape[1:])  # the shift passes it on
        return (dt_in, jnp.sum(dw, 0)) + ((jnp.sum(du, 0),) if recurrent else ())

    def jvp(primals, tangents):
        # ṫ_out = −(diag(V̇) + M)⁻¹ (Σ Ẇ ε − Σ W ε' ṫ_i + Σ U̇ ε): the backward's matrix, transposed
        outputs, (flat, w, u, t_out) = run(*primals)
        dt_in, dw = tangents[0].reshape(flat.shape), tangents[1]
        du = tangents[2] if recurrent else None
        dt_out = jax.vmap(
            lambda ti, to, dti: spike_time_jvp(ti, w, u, to, dti, dw, du, tau, tau_s, theta, t_max)
        )(flat, t_out, dt_in)
        return outputs, (dt_out.reshape(outputs[0].shape), jnp.zeros_like(outputs[1]))

    return make_op(name, forward, fwd, bwd, jvp=jvp)


add_cases(
    "event_lif",
    lambda: [
        Case(
            "two_spikes_root_solve",
            event_lif_op(max_spikes=2, tau_syn=0.3),
            (Arg((2, 3, 2), low=0.0, high=1.5), Arg((3, 4), low=0.5, high=2.5)),
        ),
        Case(
            "recurrent_delayed",
            event_lif_op(max_spikes=2, recurrent=True, delay=0.25),
            (
                Arg((2, 3, 1), low=0.0, high=1.5),
                Arg((3, 3), low=0.5, high=2.5),
                Arg((3, 3), low=-1.0, high=1.5),
            ),
        ),
    ],
)


@layer_factory("event_lif")
def event_lif(
    features: int,
    *,
    tau_mem: float = 1.0,
    threshold: float = 1.0,
    max_spikes: int = 1,
    t_max: float = 4.0,
    recurrent: bool = False,
    delay: float | None = None,
    tau_syn: float | None = None,
    dtype: Any = jnp.float32,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
) -> Layer:
    """Continuous-time LIF neurons (``τ_syn = τ_mem/2`` by default), simulated event by event and
    differentiated by EventProp: input spike times in, output spike times out.

    The state out holds the overflow flags of the call, 1 where a neuron would have fired more
    than ``max_spikes`` times before ``t_max`` (its output then lacks the later spikes; in a
    recurrent layer every neuron of that example is flagged).

    Args:
      features: the number of neurons ``N``.
      tau_mem, threshold: ``τ_mem > 0`` (``τ_syn = τ_mem/2``), ``θ > 0``.
      max_spikes: the spike times kept per neuron (a static bound, for ``jit``).
      t_max: the end of the simulated window; a time ``≥ t_max`` means no spike.
      recurrent: add recurrent weights ``U [N, N]``: each spike is an input to every neuron
        of the layer (itself included), without delay.
      delay: a fixed delay ``> 0`` of the input spikes (``None``: none).
      tau_syn: ``0 < τ_syn < τ_mem``, the crossings then found by a bracketed root solve to
        machine precision (``None``: ``τ_mem/2``, crossings in closed form).
      dtype: the weights' dtype.
      w_init: fills ``W [I, N]`` (normal with standard deviation ``2/√I``).
      u_init: fills ``U [N, N]`` when ``recurrent`` (normal with standard deviation ``1/√N``).

    Shapes:
      x: spike times ``[..., I, K_in]`` -> ``[..., features, max_spikes]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = event_lif(3, max_spikes=2, recurrent=True)
      >>> shape, params, state = layer.init(jax.random.key(0), (5, 4, 1))
      >>> t, overflow = layer.apply(params, state, jnp.zeros((5, 4, 1)))
      >>> shape, t.shape, overflow.shape, params.u.shape
      ((5, 3, 2), (5, 3, 2), (5, 3), (3, 3))
    """
    check_positive_int("event_lif", "features", features)
    check_option_applies("event_lif", "u_init", u_init, recurrent, "to a recurrent layer")
    op = event_lif_op(
        tau_mem, threshold, max_spikes, t_max, recurrent=recurrent, delay=delay, tau_syn=tau_syn
    )

    def init(key, input_shape):
        shape = check_input_shape("event_lif", input_shape)
        check_shape_rank("event_lif", shape, 2)
        fan_in, batch = shape[-2], shape[:-2]
        key_w, key_u = jax.random.split(key)
        w = (w_init or normal(2.0 / fan_in**0.5))(key_w, (fan_in, features), dtype)
        if recurrent:
            u = (u_init or normal(1.0 / features**0.5))(key_u, (features, features), dtype)
            params = RecurrentEventLIFParams(w, u)
        else:
            params = EventLIFParams(w)
        return (*batch, features, max_spikes), params, jnp.zeros((*batch, features), dtype)

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        del key, train, state
        check_backward(backward, "event_lif")
        check_shape_rank("event_lif", jnp.shape(x), 2)
        check_axis_size("event_lif", jnp.shape(x), -2, params.w.shape[0])
        check_floating("event_lif", x, params.w.dtype)
        t_out, overflow = op(x, *params, backward=backward)
        return t_out, lax.stop_gradient(overflow)

    return Layer("event_lif", init, apply)


add_layer_cases(
    "event_lif",
    lambda: [
        LayerCase(
            "recurrent_delayed",
            event_lif(3, max_spikes=2, recurrent=True, delay=0.25),
            Arg((2, 3, 2), low=0.0, high=1.0),
        )
    ],
)
