"""Readouts of a spike train ``S [..., T, F]`` (time on axis −2, as :func:`lif` gives it):
the spike count and the first spike time of each neuron.

The spike count ``c = Σ_t S[t]`` is linear: ``dS[t] = dc``. The first spike time, in steps
(``T`` for a silent neuron), is on a 0/1 train the number of steps before the first spike::

    t_first = Σ_t P[t],   P[t] = Π_{s ≤ t} (1 − S[s])

and the op computes this polynomial for any real ``S`` (the multilinear extension), so its
gradient is exact and finite differences check it. With ``Q[u] = Π_{s < u} (1 − S[s])`` and
``R[u] = Σ_{t ≥ u} Π_{u < s ≤ t} (1 − S[s])`` (a cumulative product per ``u``, ``O(T²)``:
no scan, no division by ``1 − S``, which is 0 at a spike)::

    dS[u] = −dt · Q[u] R[u]

On a 0/1 train with its first spike at ``τ``: ``−(τ − u)`` before it (a spike at ``u``
would come ``τ − u`` steps earlier), minus the gap to the next spike at ``τ`` (without it the
next spike is the first), ``0`` after. Derivation: docs/spiking.md.
"""

from __future__ import annotations

import jax.numpy as jnp

from funcnet.core.jvp_rules import linear_jvp
from funcnet.core.layer import Layer, op_layer
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, make_op, shape_witness
from funcnet.core.registry import Arg, Case, add_cases, op_factory

LAYOUT = "spike trains [..., T, F]"


def _drop_time(shape):
    return (*shape[:-2], shape[-1])


@op_factory("spike_count")
def spike_count_op() -> Op:
    """The op ``S [..., T, F] -> Σ_t S [..., F]``."""

    def forward(s):
        return jnp.sum(s, axis=-2)

    def fwd(s):
        return forward(s), (shape_witness(s.shape),)

    def bwd(res, dy):
        # dS[t] = dc for every t
        return (jnp.broadcast_to(dy[..., None, :], res[0].shape[1:]),)

    # ṅ = Σ_t ṡ_t
    return make_op("spike_count", forward, fwd, bwd, jvp=linear_jvp(forward))


def _survival(s):
    """``Q[u] = Π_{s<u} (1 − S[s])`` along axis −2 (``P[t] = Q[t+1]``)."""
    keep = 1 - s
    p = jnp.cumprod(keep, axis=-2)
    return jnp.concatenate([jnp.ones_like(keep[..., :1, :]), p[..., :-1, :]], -2), p


def _later_survival(s):
    """``R[u] = Σ_{t≥u} Π_{u<s≤t} (1 − S[s])`` along axis −2, in ``O(T²)``.

    ``K[.., u, t, f] = 1 − S[t]`` for ``t > u``, else 1; its cumulative product over ``t``,
    summed over ``t ≥ u``, is ``R[u]`` (no division by ``1 − S``, which is 0 at a spike).
    """
    num_steps = s.shape[-2]
    later = jnp.arange(num_steps)[None, :] > jnp.arange(num_steps)[:, None]  # [u, t]: t > u
    keep = jnp.where(later[:, :, None], (1 - s)[..., None, :, :], 1)
    runs = jnp.cumprod(keep, axis=-2)
    from_u = later | jnp.eye(num_steps, dtype=bool)  # [u, t]: t ≥ u
    return jnp.sum(jnp.where(from_u[:, :, None], runs, 0), axis=-2)


@op_factory("first_spike_time")
def first_spike_time_op() -> Op:
    """The op ``S [..., T, F] -> t_first [..., F]``: ``Σ_t Π_{s≤t} (1 − S[s])``, the steps
    before each neuron's first spike on a 0/1 train (``T`` if it is silent)."""

    def forward(s):
        return jnp.sum(jnp.cumprod(1 - s, axis=-2), axis=-2)

    def fwd(s):
        q, p = _survival(s)
        return jnp.sum(p, axis=-2), (s, q)

    def bwd(res, dy):
        # dS[u] = −dt Q[u] R[u],  R[u] = Σ_{t≥u} Π_{u<s≤t} (1 − S[s])
        s, q = res
        return (-dy[..., None, :] * q * _later_survival(s),)

    def jvp(primals, tangents):
        # ṫ_first = −Σ_u Q[u] R[u] Ṡ[u]: the same row per neuron that the bwd scales by dt
        (s,), (ds,) = primals, tangents
        q, p = _survival(s)
        return jnp.sum(p, axis=-2), -jnp.sum(q * _later_survival(s) * ds, axis=-2)

    return make_op("first_spike_time", forward, fwd, bwd, jvp=jvp)


@layer_factory("spike_count")
def spike_count() -> Layer:
    """Each neuron's number of spikes, ``Σ_t S[t]`` (a rate readout: logits are counts).

    Shapes:
      x: ``[..., T, F]`` -> ``[..., F]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = spike_count().apply((), (), jnp.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]))
      >>> y.tolist()
      [2.0, 1.0]
    """
    return op_layer(spike_count_op(), min_rank=2, what=LAYOUT, output_shape=_drop_time)


@layer_factory("first_spike_time")
def first_spike_time() -> Layer:
    """Each neuron's first spike time in steps, ``T`` where it is silent (a latency readout:
    earliest wins, e.g. logits ``−t_first``); its gradient is exact (module docstring).

    Shapes:
      x: ``[..., T, F]`` -> ``[..., F]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> s = jnp.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
      >>> first_spike_time().apply((), (), s)[0].tolist()
      [1.0, 3.0]
    """
    return op_layer(first_spike_time_op(), min_rank=2, what=LAYOUT, output_shape=_drop_time)


add_cases("spike_count", lambda: [Case("plain", spike_count_op(), (Arg((2, 3, 2)),))])
add_cases(
    "first_spike_time",
    lambda: [Case("plain", first_spike_time_op(), (Arg((2, 4, 3), low=0.0, high=1.0),))],
)
add_layer_cases("spike_count", lambda: [LayerCase("count", spike_count(), Arg((2, 3, 2)))])
add_layer_cases(
    "first_spike_time",
    lambda: [LayerCase("time", first_spike_time(), Arg((2, 4, 2), low=0.0, high=1.0))],
)
