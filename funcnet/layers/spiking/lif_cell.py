"""The discrete-time leaky integrate-and-fire neuron as a recurrent :class:`Cell`.

One step, for input ``x_t [..., F]`` and state ``(S, V[, I])`` (spikes, membrane, synaptic
current; each ``[..., H]``)::

    z[t] = x_t W + b (+ S[t−1] U, recurrent)
    I[t] = α I[t−1] + z[t]          (synaptic; without it I[t] = z[t])
    V[t] = β V[t−1] + I[t] − θ S[t−1]           (reset by subtraction)
    V[t] = β (1 − S[t−1]) V[t−1] + I[t]          (reset to zero)
    S[t] = H(V[t] − θ)

Backward, with the surrogate ``σ`` in place of ``H'`` (the cell's intended gradient)::

    dV = dV[t] + dS[t] σ(V[t] − θ)      dI = dV (+ dI[t])      dz = dI
    dV[t−1] = β dV   (zero reset: β (1 − S[t−1]) dV)          dI[t−1] = α dI
    dS[t−1] = −θ dV  (zero reset: −β V[t−1] dV); 0 when the reset is detached; + dz Uᵀ
    dx, dW, db = dz Wᵀ, Σ xᵀ dz, Σ dz      dU = Σ S[t−1]ᵀ dz
    dβ = Σ dV V[t−1] (zero reset: Σ dV (1 − S[t−1]) V[t−1])       dα = Σ dI I[t−1]

A learned decay is kept as its logit (``β = sigmoid(a)``, Fang et al. 2021), so it stays in
(0, 1): ``da = dβ β (1 − β)``. Forward mode, the transpose (the intended derivative: ``σ`` for
``H'``, no tangent through a detached reset)::

    ż = ẋ W + x Ẇ + ḃ (+ Ṡ[t−1] U + S[t−1] U̇)      İ[t] = α İ[t−1] + α̇ I[t−1] + ż
    V̇[t] = β V̇[t−1] + β̇ V[t−1] + İ[t] − θ Ṡ[t−1]     Ṡ[t] = σ(V[t] − θ) V̇[t]
    (zero reset: β (1 − S[t−1]) V̇[t−1] + β̇ (1 − S[t−1]) V[t−1] − β V[t−1] Ṡ[t−1] + İ[t])

Derivation and choices: docs/spiking.md.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from funcnet.initializers import Initializer, lecun_normal, zeros
from funcnet.layers.recurrent.cell import (
    Cell,
    affine,
    affine_factors,
    affine_jvp,
    product_factors,
    product_jvp,
    summed_step_bwd,
)
from funcnet.layers.spiking.surrogate import Surrogate, describe, heaviside, spike_reference

RESETS = ("subtract", "zero")
NO_FINITE_DIFFERENCES = (
    "the spikes are piecewise constant in every input and parameter, so a finite difference "
    "is zero (or a jump) where the surrogate derivative is not; the backward is held to "
    "autodiff of the gradient reference (the surrogate written with stop_gradient)"
)


class LIFState(NamedTuple):
    s: jax.Array  # spikes of the last step [..., H]
    v: jax.Array  # membrane potential [..., H]


class SynapticLIFState(NamedTuple):
    s: jax.Array  # spikes of the last step [..., H]
    v: jax.Array  # membrane potential [..., H]
    i: jax.Array  # synaptic current [..., H]


@functools.cache
def lif_params_type(recurrent: bool, learn_beta: bool, learn_alpha: bool) -> type:
    """The NamedTuple of an LIF cell's parameters: ``w [F, H]``, ``u [H, H]`` (recurrent),
    ``b [H]``, ``beta_logit [H]``, ``alpha_logit [H]`` (learned decays); one type per choice."""
    fields = ["w", *(["u"] if recurrent else []), "b"]
    fields += [*(["beta_logit"] if learn_beta else []), *(["alpha_logit"] if learn_alpha else [])]
    return NamedTuple("LIFParams", [(f, jax.Array) for f in fields])


def _per_neuron(a: jax.Array, like: jax.Array) -> jax.Array:
    """A ``[H]`` vector broadcast explicitly over ``like``'s leading axes."""
    return jnp.expand_dims(a, tuple(range(like.ndim - 1)))


def lif_description(
    name: str,
    sur: Surrogate,
    *,
    beta: float,
    threshold: float,
    reset: str,
    detach_reset: bool,
    alpha: float | None,
    recurrent: bool,
    learn_beta: bool,
    learn_alpha: bool,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Cell:
    """The LIF cell (checked options: :func:`~funcnet.layers.spiking.lif.check_lif_options`)."""
    synaptic = alpha is not None
    params_type = lif_params_type(recurrent, learn_beta, learn_alpha)
    theta = threshold

    def logit(p):
        return math.log(p) - math.log1p(-p)

    def init(key, in_features, features, dtype):
        kw, ku = jax.random.split(key)
        parts = {"w": (w_init or lecun_normal())(kw, (in_features, features), dtype)}
        if recurrent:
            parts["u"] = (u_init or lecun_normal())(ku, (features, features), dtype)
        parts["b"] = b_init(key, (features,), dtype)
        if learn_beta:
            parts["beta_logit"] = jnp.full((features,), logit(beta), dtype)
        if learn_alpha:
            parts["alpha_logit"] = jnp.full((features,), logit(alpha), dtype)
        return params_type(**parts)

    def decays(p, v):
        b = _per_neuron(jax.nn.sigmoid(p.beta_logit), v) if learn_beta else beta
        a = _per_neuron(jax.nn.sigmoid(p.alpha_logit), v) if learn_alpha else alpha
        return b, a

    def integrate(x, state, p, reset_s):
        s, v = state[0], state[1]
        z = affine(x, p.w, p.b) + (s @ p.u if recurrent else 0.0)
        b, a = decays(p, v)
        i = a * state[2] + z if synaptic else z
        if reset == "subtract":
            return b * v + i - theta * reset_s, i
        return b * (1 - reset_s) * v + i, i

    def step(x, state, p):
        v, i = integrate(x, state, p, state[0])
        return (heaviside(v - theta), v, *((i,) if synaptic else ())), ()

    def reference_step(x, state, p):
        s = state[0]
        v, i = integrate(x, state, p, lax.stop_gradient(s) if detach_reset else s)
        return (spike_reference(sur, v - theta), v, *((i,) if synaptic else ())), ()

    def step_bwd_factors(x, p, state, new, res, d_new):
        # dV = dV' + dS' σ(V' − θ), dz = dV (+ dI'); dV[t−1] = β dV; dS[t−1] = −θ dV + dz Uᵀ;
        # per example dW = xᵀ dz, dU = S[t−1]ᵀ dz, db = dz, dβ = dV ⊙ V[t−1], dα = dI ⊙ I[t−1]
        del res
        s, v = state[0], state[1]
        dv = d_new[1] + d_new[0] * sur.derivative(new[1] - theta)
        dz = dv + d_new[2] if synaptic else dv
        b, a = decays(p, v)
        kept = v if reset == "subtract" else (1 - s) * v  # what β multiplies
        dv_prev = b * dv if reset == "subtract" else b * (1 - s) * dv
        if detach_reset:
            ds_prev = jnp.zeros_like(s)
        else:
            ds_prev = -theta * dv if reset == "subtract" else -b * v * dv
        dx, dw, db = affine_factors(x, p.w, dz)
        grads = {"w": dw, "b": db}
        if recurrent:
            ds_rec, grads["u"] = product_factors(s, p.u, dz)
            ds_prev = ds_prev + ds_rec
        if learn_beta:  # through the logit: dβ β (1 − β)
            sb = _per_neuron(jax.nn.sigmoid(p.beta_logit), v)
            grads["beta_logit"] = (None, dv * kept * (sb * (1 - sb)))
        d_state = (ds_prev, dv_prev)
        if synaptic:
            d_state = (*d_state, a * dz)
            if learn_alpha:
                sa = _per_neuron(jax.nn.sigmoid(p.alpha_logit), v)
                grads["alpha_logit"] = (None, dz * state[2] * (sa * (1 - sa)))
        return dx, d_state, params_type(**grads)

    def step_jvp(x, p, state, new, res, dx, d_state, dp):
        # ż = ẋ W + x Ẇ + ḃ (+ Ṡ U + S U̇); İ' = α İ + α̇ I + ż; V̇' = β V̇ + β̇ V + İ' − θ Ṡ
        # (zero reset: β(1 − S)V̇ + β̇(1 − S)V − β V Ṡ + İ'; no Ṡ term detached); Ṡ' = σ(V' − θ) V̇'
        del res
        s, v, ds, dv = state[0], state[1], d_state[0], d_state[1]
        dz = affine_jvp(x, p.w, dx, dp.w, dp.b)
        if recurrent:
            dz = dz + product_jvp(s, p.u, ds, dp.u)
        b, a = decays(p, v)
        di = a * d_state[2] + dz if synaptic else dz
        if learn_alpha:  # α̇ = ȧ α (1 − α) through the logit
            sa = _per_neuron(jax.nn.sigmoid(p.alpha_logit), v)
            di = di + _per_neuron(dp.alpha_logit, v) * (sa * (1 - sa)) * state[2]
        kept, d_kept = (v, dv) if reset == "subtract" else ((1 - s) * v, (1 - s) * dv)
        dv_new = b * d_kept + di
        if learn_beta:
            sb = _per_neuron(jax.nn.sigmoid(p.beta_logit), v)
            dv_new = dv_new + _per_neuron(dp.beta_logit, v) * (sb * (1 - sb)) * kept
        if not detach_reset:
            dv_new = dv_new - (theta * ds if reset == "subtract" else b * v * ds)
        ds_new = sur.derivative(new[1] - theta) * dv_new
        return (ds_new, dv_new, *((di,) if synaptic else ()))

    return Cell(
        name,
        params_type,
        SynapticLIFState if synaptic else LIFState,
        init,
        lambda p: p.w.shape[0],
        step,
        summed_step_bwd(step_bwd_factors),
        output=0,
        gradient=describe(sur),
        reference_step=reference_step,
        finite_differences=NO_FINITE_DIFFERENCES,
        step_bwd_factors=step_bwd_factors,
        step_jvp=step_jvp,
    )
