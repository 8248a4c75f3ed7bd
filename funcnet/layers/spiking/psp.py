"""The post-synaptic kernels of the current-based LIF neuron with ``τ_syn = τ_mem / 2``
(``τ = τ_mem``), shared by ``event_lif`` and ``max_voltage``: an input spike of weight ``w`` at
``t_i`` adds ``w ε(t − t_i)`` to the membrane, a reset at ``t_k`` subtracts ``θ η(t − t_k)``::

    ε(Δ) = e^{−Δ/τ} − e^{−2Δ/τ},   ε'(Δ) = (2 e^{−2Δ/τ} − e^{−Δ/τ}) / τ,   η(Δ) = e^{−Δ/τ}

(zero for ``Δ ≤ 0``; ``ε(0) = 0``, so the membrane is continuous at every event).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def psp_kernels(delta: jax.Array, live: jax.Array, tau: float) -> tuple[jax.Array, jax.Array]:
    """``(ε(Δ), ε'(Δ))`` where ``live``, zero elsewhere (and finite: ``Δ`` is masked first)."""
    e = jnp.exp(-jnp.where(live, delta, 0.0) / tau)
    return jnp.where(live, e - e * e, 0.0), jnp.where(live, (2 * e * e - e) / tau, 0.0)


def reset_slope(delta: jax.Array, live: jax.Array, tau: float) -> jax.Array:
    """``η'(Δ) = −e^{−Δ/τ} / τ`` where ``live``, zero elsewhere."""
    return jnp.where(live, -jnp.exp(-jnp.where(live, delta, 0.0) / tau) / tau, 0.0)


def sorted_events(t_in: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The input spikes of one example sorted by time: ``(times [E], weights [E, N],
    order [E])``, ``order`` the flat index into ``t_in [I, K_in]`` of each event."""
    k_in = t_in.shape[-1]
    order = jnp.argsort(t_in.reshape(-1))
    return t_in.reshape(-1)[order], jnp.repeat(w, k_in, axis=0)[order], order
