"""The maximum membrane voltage of non-spiking LIF neurons: the readout of EventProp's
max-voltage loss (Wunderlich & Pehle 2021), followed by a softmax cross-entropy.

The neurons are ``event_lif``'s (``τ_syn = τ_mem / 2``, ``τ = τ_mem``) without a threshold, so
``V_c(t) = Σ_i W_ic ε(t − t_i)`` and, between events, with ``x = e^{−t/τ}``::

    V(t) = A x − B x²,   A = Σ_{t_i < t} W_i e^{t_i/τ},   B = Σ_{t_i < t} W_i e^{2t_i/τ}

The readout is ``V* = max_{t ∈ [0, t_max]} V(t)``, found exactly among the candidates: ``t = 0``,
the input spike times in the window, ``t_max``, and in each interval between events its
stationary point ``x = A / 2B``, ``t = τ log(2B/A)`` (a maximum when ``B > 0``, ``A > 0``), kept
when it lies inside the interval. ``V`` is evaluated at each candidate from its interval's
``A, B`` (``O(E)`` per neuron; the backward uses the direct sums at ``t*``).

Gradient (envelope theorem): with ``t*`` the maximiser, ``dV*/dW_ic = ε(t* − t_i)`` and
``dV*/dt_i = −W_ic ε'(t* − t_i)`` (``V̇(t*) = 0`` at a stationary point; ``0`` and ``t_max``
do not move); where ``t*`` is an input spike time ``t_j`` (a kink: a negative weight turns the
slope down), ``t*`` moves with ``t_j`` and ``dV*/dt_j`` adds ``V̇(t_j⁻)``. The JVP contracts
the same two Jacobian blocks with the tangents instead of the cotangent. docs/spiking.md.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.nn.initializers import normal

from funcnet.core.layer import (
    Layer,
    check_axis_size,
    check_floating,
    check_input_shape,
    check_positive_int,
    check_shape_rank,
)
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.initializers import Initializer
from funcnet.layers.spiking.psp import check_tau_syn, event_scales, psp_kernels, sorted_events


class MaxVoltageParams(NamedTuple):
    w: jax.Array  # [I, C]


def check_window(name: str, tau_mem, t_max) -> None:
    for what, value in (("tau_mem", tau_mem), ("t_max", t_max)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{name}: expected a positive {what}, got {value!r}.")


def _max_voltage(t_in, w, tau, tau_syn, t_max):
    """``(V* [C], t* [C], src [C])`` of one example; ``src`` is the flat index into ``t_in``
    of the input spike at ``t*``, ``−1`` where ``t*`` is not one."""
    times, weights, order = sorted_events(t_in, w)
    live = times < t_max
    scale_a, scale_b = event_scales(jnp.where(live, times, 0.0), tau, tau_syn)
    a = jnp.cumsum(jnp.where(live[:, None], weights * scale_a[:, None], 0.0), 0)  # [E, C]
    b = jnp.cumsum(jnp.where(live[:, None], weights * scale_b[:, None], 0.0), 0)
    ok = (a > 0) & (b > 0)  # then A e^{−t/τ} − B e^{−t/τ_s} rises to one maximum and falls
    ratio = jnp.where(ok, b, 1.0) * tau / (jnp.where(ok, a, 1.0) * tau_syn)
    t_stat = jnp.log(ratio) / (1 / tau_syn - 1 / tau)
    start = jnp.maximum(times, 0.0)[:, None]
    end = jnp.minimum(jnp.concatenate([times[1:], jnp.full((1,), t_max, times.dtype)]), t_max)
    inside = ok & live[:, None] & (t_stat > start) & (t_stat < end[:, None])
    first, last = jnp.zeros_like(a[:1]), jnp.full_like(a[:1], t_max)
    at_event = jnp.broadcast_to(times[:, None], a.shape)
    cand = jnp.concatenate([first, at_event, t_stat, last])  # [2E + 2, C]
    in_window = jnp.broadcast_to((live & (times >= 0))[:, None], a.shape)
    valid = jnp.concatenate([first == 0, in_window, inside, last == t_max])
    # V at each candidate from the A, B of its interval (at t = 0: of the events up to 0)
    early = live[:, None] & (times <= 0)[:, None]
    a0 = jnp.sum(jnp.where(early, weights * scale_a[:, None], 0.0), 0, keepdims=True)
    b0 = jnp.sum(jnp.where(early, weights * scale_b[:, None], 0.0), 0, keepdims=True)
    a_c, b_c = jnp.concatenate([a0, a, a, a[-1:]]), jnp.concatenate([b0, b, b, b[-1:]])
    t_c = jnp.where(valid, cand, 0.0)
    v = a_c * jnp.exp(-t_c / tau) - b_c * jnp.exp(-t_c / tau_syn)
    v = jnp.where(valid, v, -jnp.inf)
    best = jnp.argmax(v, 0)
    t_star = jnp.take_along_axis(cand, best[None], 0)[0]
    e = times.shape[0]
    src = jnp.where((best >= 1) & (best <= e), order[jnp.clip(best - 1, 0, e - 1)], -1)
    nan = jnp.any(jnp.isnan(t_in)) | jnp.any(jnp.isnan(w), axis=0)  # NaN in, NaN out
    return jnp.where(nan, jnp.nan, jnp.max(v, 0)), t_star, src


def _envelope_jacobian(t_in, w, t_star, src, tau, tau_syn, t_max):
    """``(∂V*/∂W, ∂V*/∂t_in)`` over a flat batch, both ``[B, C, I, K]`` (module docstring):
    ``ε(t*_c − t_ik)`` and ``−W_ic ε'(t*_c − t_ik)`` plus ``V̇_c(t*⁻)`` at a kink; the VJP and
    the JVP contract them with ``dy`` and with the tangents."""
    delta = t_star[:, :, None, None] - t_in[:, None]  # [B, C, I, K]
    eps, d_eps = psp_kernels(delta, (delta > 0) & (t_in < t_max)[:, None], tau, tau_syn)
    w_d_eps = w.T[None, :, :, None] * d_eps  # W_ic ε'(t*_c − t_ik)
    slope = jnp.sum(w_d_eps, (2, 3))  # V̇(t*⁻) [B, C]
    kink = jax.nn.one_hot(src, t_in.shape[1] * t_in.shape[2], dtype=w.dtype)
    kink = kink.reshape(*src.shape, *t_in.shape[1:])  # t* is this input's spike time
    return eps, slope[:, :, None, None] * kink - w_d_eps


def _nan_per_example(t_in, w):
    """NaN in, NaN out: ``[B, 1, 1]``, true where the example's times or any weight are NaN."""
    return (jnp.any(jnp.isnan(t_in), (1, 2)) | jnp.any(jnp.isnan(w)))[:, None, None]


@op_factory("max_voltage")
def max_voltage_op(tau_mem: float = 1.0, t_max: float = 4.0, *, tau_syn: float | None = None) -> Op:
    """The op ``(t_in [..., I, K_in], w [I, C]) -> V* [..., C]``, the maximum over
    ``[0, t_max]`` of each non-spiking neuron's membrane (input times ``≥ t_max``: no spike;
    ``tau_syn``: ``None`` for ``τ_mem/2``, else in ``(0, τ_mem)``)."""
    check_window("max_voltage", tau_mem, t_max)
    check_tau_syn("max_voltage", tau_mem, tau_syn)
    tau, t_max = float(tau_mem), float(t_max)
    tau_s = tau / 2 if tau_syn is None else float(tau_syn)

    def run(t_in, w):
        flat = t_in.reshape(-1, *t_in.shape[-2:])
        v, t_star, src = jax.vmap(lambda t: _max_voltage(t, w, tau, tau_s, t_max))(flat)
        return v.reshape(*t_in.shape[:-2], -1), (flat, w, t_star, src)

    def forward(t_in, w):
        return run(t_in, w)[0]

    def fwd(t_in, w):
        return run(t_in, w)

    def bwd(res, dy):
        # dW_ic = Σ dy_c ε(t*_c − t_i); dt_i = −Σ dy_c W_ic ε'(t*_c − t_i) (+ dy_c V̇_c at a kink)
        flat, w, t_star, src = res
        eps, jac_t = _envelope_jacobian(flat, w, t_star, src, tau, tau_s, t_max)
        dy_flat, nan = dy.reshape(t_star.shape), _nan_per_example(flat, w)
        dt_in = jnp.where(nan, jnp.nan, jnp.einsum("bc,bcik->bik", dy_flat, jac_t))
        dw = jnp.where(nan, jnp.nan, jnp.einsum("bc,bcik->bic", dy_flat, eps))
        return dt_in.reshape(*dy.shape[:-1], *flat.shape[1:]), jnp.sum(dw, 0)

    def jvp(primals, tangents):
        # V̇*_c = Σ Ẇ_ic ε(t*_c − t_i) − Σ W_ic ε'(t*_c − t_i) ṫ_i (+ V̇_c ṫ_j at a kink t* = t_j)
        v, (flat, w, t_star, src) = run(*primals)
        dt_in, dw = tangents[0].reshape(flat.shape), tangents[1]
        eps, jac_t = _envelope_jacobian(flat, w, t_star, src, tau, tau_s, t_max)
        dv = jnp.einsum("bcik,bik->bc", jac_t, dt_in) + jnp.einsum("bcik,ic->bc", eps, dw)
        return v, jnp.where(_nan_per_example(flat, w)[:, :, 0], jnp.nan, dv).reshape(v.shape)

    return make_op("max_voltage", forward, fwd, bwd, jvp=jvp)


add_cases(
    "max_voltage",
    lambda: [
        Case(
            "signed_weights_tau_syn",
            max_voltage_op(tau_syn=0.3),
            (Arg((2, 3, 2), low=0.0, high=2.0), Arg((3, 2), low=-1.5, high=2.5)),
        )
    ],
)


@layer_factory("max_voltage")
def max_voltage(
    features: int,
    *,
    tau_mem: float = 1.0,
    t_max: float = 4.0,
    tau_syn: float | None = None,
    dtype: Any = jnp.float32,
    w_init: Initializer | None = None,
) -> Layer:
    """Non-spiking LIF neurons (``τ_syn = τ_mem/2``) read out as their maximum membrane
    voltage over ``[0, t_max]``, found exactly: spike times in, one score per neuron out (the
    logits of EventProp's max-voltage loss with ``softmax_cross_entropy_with_integer_labels``).

    Args:
      features: the number of neurons ``C`` (classes).
      tau_mem: ``τ_mem > 0`` (``τ_syn = τ_mem/2``).
      t_max: the end of the window; an input time ``≥ t_max`` means no spike.
      tau_syn: ``0 < τ_syn < τ_mem`` (``None``: ``τ_mem/2``).
      dtype: the weights' dtype.
      w_init: fills ``W [I, C]`` (normal with standard deviation ``2/√I``).

    Shapes:
      x: spike times ``[..., I, K_in]`` -> ``[..., features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = max_voltage(3)
      >>> shape, params, state = layer.init(jax.random.key(0), (5, 4, 2))
      >>> v, _ = layer.apply(params, state, jnp.zeros((5, 4, 2)))
      >>> shape, v.shape
      ((5, 3), (5, 3))
    """
    check_positive_int("max_voltage", "features", features)
    op = max_voltage_op(tau_mem, t_max, tau_syn=tau_syn)

    def init(key, input_shape):
        shape = check_input_shape("max_voltage", input_shape)
        check_shape_rank("max_voltage", shape, 2)
        w = (w_init or normal(2.0 / shape[-2] ** 0.5))(key, (shape[-2], features), dtype)
        return (*shape[:-2], features), MaxVoltageParams(w), ()

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        del key, train
        check_backward(backward, "max_voltage")
        check_shape_rank("max_voltage", jnp.shape(x), 2)
        check_axis_size("max_voltage", jnp.shape(x), -2, params.w.shape[0])
        check_floating("max_voltage", x, params.w.dtype)
        return op(x, params.w, backward=backward), state

    return Layer("max_voltage", init, apply)


add_layer_cases(
    "max_voltage",
    lambda: [LayerCase("signed", max_voltage(3), Arg((2, 3, 2), low=0.0, high=2.0))],
)
