"""Continuous-time LIF neurons simulated event by event, differentiated by EventProp.

Current-based neurons with ``τ_syn = τ_mem / 2`` (``τ = τ_mem``), threshold ``θ``, reset to
zero (at a spike ``V = θ``, so the reset subtracts ``θ e^{−(t−t_k)/τ}``). Between events the
membrane is closed-form; with ``x = e^{−t/τ}``::

    V(t) = A x − B x²,  A = Σ_i w_i e^{t_i/τ} − θ Σ_k e^{t_k/τ},  B = Σ_i w_i e^{2 t_i/τ}

over the input spikes ``t_i < t`` and the neuron's own earlier spikes ``t_k``, so the next
threshold crossing is the root ``x* = 2θ / (A − √(A² − 4Bθ))``, ``t* = −τ log x*``, kept when
it lies before the next input event. Each spike time is defined by ``V(t_k) = θ``; its exact
gradient (wherever no spike appears or disappears) is the implicit-function one, which is what
EventProp's adjoint computes (Wunderlich & Pehle 2021): with ``V̇`` the membrane's slope at
``t_k⁻``, ``ε(Δ) = e^{−Δ/τ} − e^{−2Δ/τ}``, ``η(Δ) = e^{−Δ/τ}``, and ``c_k = −dt_k / V̇(t_k)``
taken over the spikes of a neuron from the last one back (a spike's reset moves the later
ones, so ``dt_k`` first receives their ``c_{k'} θ η'(t_{k'} − t_k)``)::

    dW_in = Σ_k c_k ε(t_k − t_i)        dt_i = −Σ_{n,k} c_k W_in ε'(t_k − t_i)

``c_k`` is the jump of the adjoint ``λ_V`` at spike ``k``, and these sums are the adjoint
integrated in closed form between events. Derivation: docs/spiking.md.
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
    check_positive_int,
    check_shape_rank,
)
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.initializers import Initializer


class EventLIFParams(NamedTuple):
    w: jax.Array  # [I, N]


def check_event_options(name: str, tau_mem, threshold, max_spikes, t_max) -> None:
    for what, value in (("tau_mem", tau_mem), ("threshold", threshold), ("t_max", t_max)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{name}: expected a positive {what}, got {value!r}.")
    if isinstance(max_spikes, bool) or not isinstance(max_spikes, int) or max_spikes <= 0:
        raise ValueError(f"{name}: expected a positive integer max_spikes, got {max_spikes!r}.")


def _events(t_in: jax.Array, w: jax.Array):
    """The input spikes of one example sorted by time, ``(times [E], weights [E, N])``."""
    k_in = t_in.shape[-1]
    times = t_in.reshape(-1)
    weights = jnp.repeat(w, k_in, axis=0)  # row i·K + k is input i's
    order = jnp.argsort(times)
    return times[order], weights[order]


def _simulate(t_in, w, tau, theta, max_spikes, t_max):
    """``(t_out [N, K], overflow [N])`` of one example (``t_max``: no spike)."""
    times, weights = _events(t_in, w)
    times = jnp.concatenate([jnp.minimum(times, t_max), jnp.full((1,), t_max, times.dtype)])
    weights = jnp.concatenate([weights, jnp.zeros((1, w.shape[1]), w.dtype)])
    n = w.shape[1]

    def crossings(carry, t_next):
        def one(_, c):
            a, b, last, count, out, over = c
            d = a * a - 4 * b * theta
            # the double where keeps autodiff of this forward finite where no root exists
            denom = a - jnp.sqrt(jnp.where(d > 0, d, 1.0))
            ok = (d > 0) & (denom > 0)
            t = tau * jnp.log(jnp.where(ok, denom, 2 * theta) / (2 * theta))
            fire = ok & (t > last) & (t < t_next)
            slot = jax.nn.one_hot(count, max_spikes, dtype=out.dtype) > 0
            out = jnp.where(fire[:, None] & slot, t[:, None], out)
            over = over | (fire & (count >= max_spikes))
            a = a - jnp.where(fire, theta * jnp.exp(t / tau), 0.0)
            return a, b, jnp.where(fire, t, last), count + fire, out, over

        return lax.fori_loop(0, max_spikes + 1, one, carry)

    def body(carry, event):
        t_e, w_e = event
        a, b, last, count, out, over = crossings(carry, t_e)
        live = t_e < t_max
        a = a + jnp.where(live, w_e * jnp.exp(t_e / tau), 0.0)
        b = b + jnp.where(live, w_e * jnp.exp(2 * t_e / tau), 0.0)
        return (a, b, jnp.maximum(last, t_e), count, out, over), None

    zeros = jnp.zeros((n,), w.dtype)
    init = (zeros, zeros, jnp.full((n,), -jnp.inf, w.dtype), jnp.zeros((n,), jnp.int32),
            jnp.full((n, max_spikes), t_max, w.dtype), jnp.zeros((n,), bool))  # fmt: skip
    (_, _, _, _, out, over), _ = lax.scan(body, init, (times, weights))
    # NaN in, NaN out: a NaN input time reaches every neuron, a NaN weight its own neuron
    nan = jnp.any(jnp.isnan(t_in)) | jnp.any(jnp.isnan(w), axis=0)  # [N]
    return jnp.where(nan[:, None], jnp.nan, out), jnp.where(nan, jnp.nan, over.astype(w.dtype))


def _kernels(t_out, t_in, tau, t_max):
    """``Δ = t_k − t_i`` per spike and input ``[N, K, I, K_in]``, whether it counts, ``ε``,
    ``ε'`` (``ε(Δ) = e^{−Δ/τ} − e^{−2Δ/τ}``)."""
    delta = t_out[:, :, None, None] - t_in[None, None]
    live = (delta > 0) & (t_out < t_max)[:, :, None, None] & (t_in < t_max)[None, None]
    e = jnp.exp(-jnp.where(live, delta, 0.0) / tau)
    eps = jnp.where(live, e - e * e, 0.0)
    d_eps = jnp.where(live, (2 * e * e - e) / tau, 0.0)
    return live, eps, d_eps


def _spike_time_vjp(t_in, w, t_out, dt_out, tau, theta, t_max):
    """``(dt_in, dW)`` of one example (module docstring)."""
    _, eps, d_eps = _kernels(t_out, t_in, tau, t_max)
    k = t_out.shape[-1]
    # own earlier spikes: d_eta[n, k, k'] = η'(t_k − t_k') for k' < k (η' = −η/τ)
    gap = t_out[:, :, None] - t_out[:, None, :]
    earlier = (jnp.arange(k)[None, :, None] > jnp.arange(k)[None, None, :]) & (t_out < t_max)[
        :, :, None
    ]
    d_eta = jnp.where(earlier, -jnp.exp(-jnp.where(earlier, gap, 0.0) / tau) / tau, 0.0)
    slope = jnp.einsum("in,nkij->nk", w, d_eps) - theta * jnp.sum(d_eta, -1)  # V̇(t_k⁻)
    valid = t_out < t_max

    def back(g, j):  # spike j of every neuron, from the last back
        c = jnp.where(valid[:, j], -g[:, j] / jnp.where(valid[:, j], slope[:, j], 1.0), 0.0)
        return g + c[:, None] * theta * d_eta[:, j], c

    _, cs = lax.scan(back, jnp.where(valid, dt_out, 0.0), jnp.arange(k), reverse=True)
    c = cs.T  # [N, K]
    dw = jnp.einsum("nk,nkij->in", c, eps)
    dt_in = -jnp.einsum("nk,in,nkij->ij", c, w, d_eps)
    nan = jnp.any(jnp.isnan(t_in)) | jnp.any(jnp.isnan(w))  # NaN in, NaN out
    return jnp.where(nan, jnp.nan, dt_in), jnp.where(nan, jnp.nan, dw)


@op_factory("event_lif")
def event_lif_op(
    tau_mem: float = 1.0, threshold: float = 1.0, max_spikes: int = 1, t_max: float = 4.0
) -> Op:
    """The op ``(t_in [..., I, K_in], w [I, N]) -> (t_out [..., N, K], overflow [..., N])``.

    ``t_in`` holds input spike times (``≥ t_max``: no spike); ``t_out`` the first
    ``max_spikes`` spike times of each neuron in ``[0, t_max)``, in order, ``t_max`` where
    there are fewer; ``overflow`` is 1 where a neuron would have fired more often (its later
    spikes are then missing: never a silent truncation). Its backward is EventProp's exact
    gradient of the spike times; ``overflow`` has none.
    """
    check_event_options("event_lif", tau_mem, threshold, max_spikes, t_max)
    tau, theta, t_max = float(tau_mem), float(threshold), float(t_max)

    def forward(t_in, w):
        batch = t_in.shape[:-2]
        flat = t_in.reshape(-1, *t_in.shape[-2:])
        out, over = jax.vmap(lambda t: _simulate(t, w, tau, theta, max_spikes, t_max))(flat)
        return out.reshape(*batch, *out.shape[1:]), over.reshape(*batch, -1)

    def fwd(t_in, w):
        t_out, over = forward(t_in, w)
        return (t_out, over), (t_in, w, t_out)

    def bwd(res, dy):
        # dt_k → c_k = −dt_k / V̇(t_k) (last spike first); dW_in = Σ c ε, dt_i = −Σ c W ε'
        t_in, w, t_out = res
        flat = (t_in.reshape(-1, *t_in.shape[-2:]), t_out.reshape(-1, *t_out.shape[-2:]),
                dy[0].reshape(-1, *t_out.shape[-2:]))  # fmt: skip
        dt_in, dw = jax.vmap(lambda ti, to, d: _spike_time_vjp(ti, w, to, d, tau, theta, t_max))(
            *flat
        )
        return dt_in.reshape(t_in.shape), jnp.sum(dw, 0)

    return make_op("event_lif", forward, fwd, bwd)


add_cases(
    "event_lif",
    lambda: [
        Case(
            "two_spikes",
            event_lif_op(max_spikes=2),
            (Arg((2, 3, 2), low=0.0, high=1.5), Arg((3, 4), low=0.5, high=2.5)),
        )
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
    dtype: Any = jnp.float32,
    w_init: Initializer | None = None,
) -> Layer:
    """Continuous-time LIF neurons (``τ_syn = τ_mem/2``), simulated event by event and
    differentiated by EventProp: input spike times in, output spike times out.

    The state out holds the overflow flags of the call, 1 where a neuron would have fired more
    than ``max_spikes`` times before ``t_max`` (its output then lacks the later spikes).

    Args:
      features: the number of neurons ``N``.
      tau_mem, threshold: ``τ_mem > 0`` (``τ_syn = τ_mem/2``), ``θ > 0``.
      max_spikes: the spike times kept per neuron (a static bound, for ``jit``).
      t_max: the end of the simulated window; a time ``≥ t_max`` means no spike.
      dtype: the weights' dtype.
      w_init: fills ``W [I, N]`` (normal with standard deviation ``2/√I``).

    Shapes:
      x: spike times ``[..., I, K_in]`` -> ``[..., features, max_spikes]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = event_lif(3, max_spikes=2)
      >>> shape, params, state = layer.init(jax.random.key(0), (5, 4, 1))
      >>> t, overflow = layer.apply(params, state, jnp.zeros((5, 4, 1)))
      >>> shape, t.shape, overflow.shape
      ((5, 3, 2), (5, 3, 2), (5, 3))
    """
    check_positive_int("event_lif", "features", features)
    op = event_lif_op(tau_mem, threshold, max_spikes, t_max)

    def init(key, input_shape):
        shape = check_input_shape("event_lif", input_shape)
        check_shape_rank("event_lif", shape, 2)
        fan_in = shape[-2]
        w = (w_init or normal(2.0 / fan_in**0.5))(key, (fan_in, features), dtype)
        batch = shape[:-2]
        return (*batch, features, max_spikes), EventLIFParams(w), jnp.zeros((*batch, features),
                                                                            dtype)  # fmt: skip

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        del key, train, state
        check_backward(backward, "event_lif")
        check_shape_rank("event_lif", jnp.shape(x), 2)
        check_axis_size("event_lif", jnp.shape(x), -2, params.w.shape[0])
        check_floating("event_lif", x, params.w.dtype)
        t_out, overflow = op(x, params.w, backward=backward)
        return t_out, lax.stop_gradient(overflow)

    return Layer("event_lif", init, apply)


add_layer_cases(
    "event_lif",
    lambda: [
        LayerCase("two_spikes", event_lif(3, max_spikes=2), Arg((2, 3, 2), low=0.0, high=1.0))
    ],
)
