"""The event-by-event simulation of one ``event_lif`` layer (feed-forward or recurrent) and
the exact adjoint of its spike times, for one example. Derivation: docs/spiking.md.

Forward: a loop of static length over *steps*; each step either fires the next threshold
crossings (every neuron's next one before the next input event when the layer is feed-forward;
only the earliest, with all neurons tied with it, when it is recurrent, since a spike then
kicks the other neurons) or adds the next input event. A neuron that fires ``max_spikes + 1``
times is flagged and falls silent; that spike kicks no neuron, so the spikes returned are
exactly those of the simulated network and the backward is its exact gradient. Spike ``s`` of
neuron ``n`` is defined by ``V_n(t_s) = θ``::

    V_n(t) = Σ_i W_in ε(t − t_i) + Σ_{s'} U_{n(s') n} ε(t − t_s') − θ Σ_{s' of n} η(t − t_s')

Backward: with ``M[s, s'] = ∂V_{n(s)}(t_s)/∂t_s'`` (``t_s' < t_s``) and ``V̇_s`` the slope at
``t_s⁻``, the jumps ``c_s = −dt_s / V̇_s`` (``dt_s`` including what later spikes pass back)
solve the triangular system ``(diag(V̇) + Mᵀ) c = −dt_out`` in time order; then
``dW_in = Σ_s c_s ε(t_s − t_i)``, ``dU_mn = Σ_{s of n, s' of m} c_s ε(t_s − t_s')``,
``dt_i = −Σ_s c_s W_{i n(s)} ε'(t_s − t_i)``.

JVP (forward mode, the transpose): ``(diag(V̇) + M) ṫ_out = −r``, lower triangular in time
order, with ``r_s = Σ_i Ẇ_in ε(t_s − t_i) − Σ_i W_in ε'(t_s − t_i) ṫ_i + Σ_{s'} U̇_{n(s') n}
ε(t_s − t_s')``: the same matrix, solved transposed.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import solve_triangular

from funcnet.layers.spiking.psp import event_scales, psp_kernels, reset_slope, sorted_events


def num_steps(num_events: int, n: int, max_spikes: int, recurrent: bool) -> int:
    """Steps enough for every input event and ``max_spikes + 1`` spikes of every neuron (a
    feed-forward step fires each neuron's next crossing before the next input event, so at
    most ``max_spikes + 1`` spike steps fall in each of the ``E + 1`` intervals)."""
    return num_events + (n if recurrent else min(n, num_events + 1)) * (max_spikes + 1)


def _crossing(a, b, last, theta, tau, tau_syn):
    """Each neuron's next upward crossing of ``θ`` by ``V = A e^{−t/τ} − B e^{−t/τ_s}`` after
    ``last``, if any: ``(ok, t)``."""
    if 2 * tau_syn == tau:  # V = A x − B x², x = e^{−t/τ}: the root in closed form
        d = a * a - 4 * b * theta
        # the double where keeps autodiff of this forward finite where no root exists
        denom = a - jnp.sqrt(jnp.where(d > 0, d, 1.0))
        ok = (d > 0) & (denom > 0)
        return ok, tau * jnp.log(jnp.where(ok, denom, 2 * theta) / (2 * theta))
    # V has one stationary point at most; a crossing needs V rising at `last` to a peak over θ
    v = lambda t: a * jnp.exp(-t / tau) - b * jnp.exp(-t / tau_syn)  # noqa: E731
    dv = lambda t: b * jnp.exp(-t / tau_syn) / tau_syn - a * jnp.exp(-t / tau) / tau  # noqa: E731
    ratio = b * tau / jnp.where(a != 0, a * tau_syn, 1.0)
    lo = jnp.where(jnp.isfinite(last), last, 0.0)
    peak = jnp.log(jnp.where(ratio > 0, ratio, 1.0)) / (1 / tau_syn - 1 / tau)
    ok = jnp.isfinite(last) & (a != 0) & (ratio > 0) & (peak > lo) & (dv(lo) > 0)
    ok = ok & (v(peak) > theta)

    def bisect(_, bracket):  # V rises through θ on [lo, hi]
        lo, hi = bracket
        mid = (lo + hi) / 2
        below = v(mid) < theta
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = lax.fori_loop(0, 64, bisect, lax.stop_gradient((lo, jnp.where(ok, peak, lo))))

    # two Newton steps from the bracketed root: the value is the root to rounding; after the
    # first the derivative is the implicit one, −∂V/∂p / V̇, after the second (Newton's map has
    # zero slope at the root) the second derivative too, so autodiff of this forward stays
    # exact for gradients and Hessians
    def newton(t):
        return t - jnp.where(ok, (v(t) - theta) / jnp.where(ok, dv(t), 1.0), 0.0)

    return ok, newton(newton(jnp.where(ok, hi, 0.0)))


def simulate(t_in, w, u, tau, tau_syn, theta, max_spikes, t_max):
    """``(t_out [N, K], overflow [N])`` of one example (``t_max``: no spike; ``u`` the
    recurrent weights ``[N, N]`` or ``None``)."""
    times, weights, _ = sorted_events(t_in, w)
    n, dtype = w.shape[1], w.dtype
    times = jnp.concatenate([jnp.minimum(times, t_max), jnp.full((1,), t_max, times.dtype)])
    weights = jnp.concatenate([weights, jnp.zeros((1, n), dtype)])

    def step(_, carry):
        a, b, last, ptr, count, out, over = carry
        ok, t = _crossing(a, b, last, theta, tau, tau_syn)
        t = jnp.where(ok & (t > last) & (count <= max_spikes), t, jnp.inf)
        t_next, first = times[ptr], jnp.min(t)
        fire = (t < t_next) if u is None else (t == first) & (first < t_next)
        out = jnp.where(
            fire[:, None] & (jnp.arange(max_spikes)[None] == count[:, None]), t[:, None], out
        )
        over = over | (fire & (count >= max_spikes))
        a = a - theta * jnp.where(fire, jnp.exp(jnp.where(fire, t, 0.0) / tau), 0.0)  # reset
        if u is None:
            last = jnp.where(fire, t, last)
        else:  # every neuron's membrane changes at a spike: search on from its time
            kick = fire & (count < max_spikes)  # a spike past the budget: flagged, no kick
            scale_a, scale_b = event_scales(jnp.where(kick, t, 0.0), tau, tau_syn)
            a = a + jnp.where(kick, scale_a, 0.0) @ u
            b = b + jnp.where(kick, scale_b, 0.0) @ u
            last = jnp.where(first < t_next, first, last)
        take = ~jnp.any(fire) & (t_next < t_max)  # else the input event waits
        scale_a, scale_b = event_scales(jnp.where(take, t_next, 0.0), tau, tau_syn)
        a = a + jnp.where(take, scale_a, 0.0) * weights[ptr]
        b = b + jnp.where(take, scale_b, 0.0) * weights[ptr]
        last = jnp.where(take, jnp.maximum(last, t_next), last)
        return a, b, last, ptr + take, count + fire, out, over

    zeros = jnp.zeros((n,), dtype)
    init = (zeros, zeros, jnp.full((n,), -jnp.inf, dtype), jnp.zeros((), jnp.int32),
            jnp.zeros((n,), jnp.int32), jnp.full((n, max_spikes), t_max, dtype),
            jnp.zeros((n,), bool))  # fmt: skip
    steps = num_steps(times.shape[0] - 1, n, max_spikes, u is not None)
    *_, out, over = lax.fori_loop(0, steps, step, init)
    nan = jnp.any(jnp.isnan(t_in)) | jnp.any(jnp.isnan(w), axis=0)  # [N]
    if u is not None:  # spikes reach every neuron: a NaN or an overflow anywhere is all's
        nan = jnp.broadcast_to(jnp.any(nan) | jnp.any(jnp.isnan(u)), nan.shape)
        over = jnp.broadcast_to(jnp.any(over), over.shape)
    return jnp.where(nan[:, None], jnp.nan, out), jnp.where(nan, jnp.nan, over.astype(dtype))


def _spike_system(t_in, w, u, t_out, tau, tau_syn, theta, t_max):
    """What both derivatives of one example's spike times use: ``(eps, d_eps, eps_ss, solve)``,
    the kernels ``ε(t_s − t_i)``, ``ε'(t_s − t_i)`` ``[N, K, I, K_in]``, ``ε(t_s − t_s')``
    ``[N, K, N, K]`` (``None`` when feed-forward) and ``solve(b, trans)``, which solves
    ``(diag(V̇) + Mᵀ) x = b`` (``trans=0``, the backward's) or ``(diag(V̇) + M) x = b``
    (``trans=1``, the JVP's) with one triangular solve in time order; slots without a spike
    get a unit diagonal and no coupling, so ``x = b`` there."""
    n, k = t_out.shape
    valid = t_out < t_max
    delta = t_out[:, :, None, None] - t_in[None, None]  # [N, K, I, K_in]
    eps, d_eps = psp_kernels(
        delta, (delta > 0) & valid[:, :, None, None] & (t_in < t_max)[None, None], tau, tau_syn
    )
    slope = jnp.einsum("in,nkij->nk", w, d_eps)  # the inputs' part of V̇(t_s⁻)
    if u is None:  # M holds only the resets: one block per neuron, its spikes in time order
        gap = t_out[:, :, None] - t_out[:, None, :]  # [N, K, K']
        live = (gap > 0) & valid[:, :, None] & valid[:, None, :]
        m = theta * reset_slope(gap, live, tau)
        slope = jnp.where(valid, slope - jnp.sum(m, -1), 1.0)
        upper = jnp.swapaxes(m, 1, 2) + slope[:, :, None] * jnp.eye(k, dtype=m.dtype)[None]

        def solve(b, trans):
            return solve_triangular(upper, b[:, :, None], lower=False, trans=trans)[:, :, 0]

        return eps, d_eps, None, solve
    gap = t_out[:, :, None, None] - t_out[None, None]  # [N, K, M, K'] t_s − t_s'
    live = (gap > 0) & valid[:, :, None, None] & valid[None, None]
    same = jnp.eye(n, dtype=bool)[:, None, :, None]
    eps_ss, d_eps_ss = psp_kernels(gap, live, tau, tau_syn)
    m = theta * reset_slope(gap, live & same, tau) - u.T[:, None, :, None] * d_eps_ss
    slope = jnp.where(valid, slope - jnp.sum(m, (2, 3)), 1.0)
    # sorted by time, the spikes' M is strictly lower triangular: diag(V̇) + Mᵀ upper
    order = jnp.argsort(t_out.reshape(-1))
    m_sorted = m.reshape(n * k, n * k)[order][:, order]
    upper = jnp.diag(slope.reshape(-1)[order]) + m_sorted.T

    def solve(b, trans):
        x_sorted = solve_triangular(upper, b.reshape(-1)[order], lower=False, trans=trans)
        # a permutation: unique indices, which JAX needs to transpose the scatter (reverse mode
        # on the manual_jvp path)
        x = jnp.zeros_like(x_sorted).at[order].set(x_sorted, unique_indices=True)
        return x.reshape(n, k)

    return eps, d_eps, eps_ss, solve


def _nan_if_nan_in(t_in, w, u):
    """NaN in, NaN out: the derivatives are NaN where any input or weight is."""
    bad = jnp.any(jnp.isnan(t_in)) | jnp.any(jnp.isnan(w))
    bad = bad if u is None else bad | jnp.any(jnp.isnan(u))
    return lambda x: None if x is None else jnp.where(bad, jnp.nan, x)


def spike_time_vjp(t_in, w, u, t_out, dt_out, tau, tau_syn, theta, t_max):
    """``(dt_in [I, K_in], dW [I, N], dU [N, N] or None)`` of one example."""
    eps, d_eps, eps_ss, solve = _spike_system(t_in, w, u, t_out, tau, tau_syn, theta, t_max)
    # (diag(V̇) + Mᵀ) c = −dt_out, with M[s, s'] = ∂V(t_s)/∂t_s' (module docstring)
    c = solve(-jnp.where(t_out < t_max, dt_out, 0.0), 0)
    dw = jnp.einsum("nk,nkij->in", c, eps)
    dt_in = -jnp.einsum("nk,in,nkij->ij", c, w, d_eps)
    du = None if u is None else jnp.einsum("nk,nkml->mn", c, eps_ss)
    nan = _nan_if_nan_in(t_in, w, u)
    return nan(dt_in), nan(dw), nan(du)


def spike_time_jvp(t_in, w, u, t_out, dt_in, dw, du, tau, tau_syn, theta, t_max):
    """``ṫ_out [N, K]`` of one example for the tangents ``ṫ_in [I, K_in]``, ``Ẇ``, ``U̇``
    (``du`` ``None`` when feed-forward): the transpose of :func:`spike_time_vjp`."""
    eps, d_eps, eps_ss, solve = _spike_system(t_in, w, u, t_out, tau, tau_syn, theta, t_max)
    # (diag(V̇) + M) ṫ = −r, r_s = Σ Ẇ ε(t_s − t_i) − Σ W ε'(t_s − t_i) ṫ_i + Σ U̇ ε(t_s − t_s')
    r = jnp.einsum("in,nkij->nk", dw, eps) - jnp.einsum("in,nkij,ij->nk", w, d_eps, dt_in)
    if u is not None:
        r = r + jnp.einsum("mn,nkml->nk", du, eps_ss)
    return _nan_if_nan_in(t_in, w, u)(solve(-jnp.where(t_out < t_max, r, 0.0), 1))
