"""The post-synaptic kernels of the current-based LIF neuron (``τ = τ_mem``, ``τ_s = τ_syn``
with ``0 < τ_s < τ``), shared by ``event_lif`` and ``max_voltage``: an input spike of weight
``w`` at ``t_i`` adds ``w ε(t − t_i)`` to the membrane, a reset at ``t_k`` subtracts
``θ η(t − t_k)``::

    ε(Δ) = κ (e^{−Δ/τ} − e^{−Δ/τ_s}),   κ = τ_s / (τ − τ_s),   η(Δ) = e^{−Δ/τ}

(zero for ``Δ ≤ 0``; ``ε(0) = 0``, so the membrane is continuous at every event). At
``τ_s = τ/2``, ``κ = 1`` and ``ε(Δ) = e^{−Δ/τ} − e^{−2Δ/τ}``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def check_tau_syn(name: str, tau_mem, tau_syn) -> None:
    """Raise unless ``tau_syn`` is ``None`` (``τ_mem/2``) or a number in ``(0, τ_mem)``."""
    if tau_syn is None:
        return
    if isinstance(tau_syn, bool) or not isinstance(tau_syn, int | float):
        raise TypeError(f"{name}: expected tau_syn to be a number or None, got {tau_syn!r}.")
    if not 0 < tau_syn < tau_mem:
        raise ValueError(f"{name}: expected 0 < tau_syn < tau_mem = {tau_mem}, got {tau_syn!r}.")


def psp_kernels(
    delta: jax.Array, live: jax.Array, tau: float, tau_syn: float
) -> tuple[jax.Array, jax.Array]:
    """``(ε(Δ), ε'(Δ))`` where ``live``, zero elsewhere (and finite: ``Δ`` is masked first)."""
    e = jnp.exp(-jnp.where(live, delta, 0.0) / tau)
    if 2 * tau_syn == tau:
        return jnp.where(live, e - e * e, 0.0), jnp.where(live, (2 * e * e - e) / tau, 0.0)
    kappa, e_syn = tau_syn / (tau - tau_syn), jnp.exp(-jnp.where(live, delta, 0.0) / tau_syn)
    d_eps = kappa * (e_syn / tau_syn - e / tau)
    return jnp.where(live, kappa * (e - e_syn), 0.0), jnp.where(live, d_eps, 0.0)


def event_scales(t: jax.Array, tau: float, tau_syn: float) -> tuple[jax.Array, jax.Array]:
    """``(κ e^{t/τ}, κ e^{t/τ_s})``: what an event at ``t`` adds per unit weight to ``A`` and
    ``B`` of ``V(t') = A e^{−t'/τ} − B e^{−t'/τ_s}``."""
    e = jnp.exp(t / tau)
    if 2 * tau_syn == tau:
        return e, e * e
    kappa = tau_syn / (tau - tau_syn)
    return kappa * e, kappa * jnp.exp(t / tau_syn)


def reset_slope(delta: jax.Array, live: jax.Array, tau: float) -> jax.Array:
    """``η'(Δ) = −e^{−Δ/τ} / τ`` where ``live``, zero elsewhere."""
    return jnp.where(live, -jnp.exp(-jnp.where(live, delta, 0.0) / tau) / tau, 0.0)


def sorted_events(t_in: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The input spikes of one example sorted by time: ``(times [E], weights [E, N],
    order [E])``, ``order`` the flat index into ``t_in [I, K_in]`` of each event."""
    k_in = t_in.shape[-1]
    order = jnp.argsort(t_in.reshape(-1))
    return t_in.reshape(-1)[order], jnp.repeat(w, k_in, axis=0)[order], order
