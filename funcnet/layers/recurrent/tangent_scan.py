"""Forward mode for the sequence op of any :class:`~funcnet.layers.recurrent.cell.Cell`.

The JVP of ``(x, *state0, *params[, mask]) -> (ys, *final_state)`` is one forward ``lax.scan``
carrying the state ``s`` (all its parts) and its tangent ``ṡ``, each step the cell's own
hand-written ``step_jvp``::

    s_t, res_t = cell.step(x_t, s_{t-1}, θ)
    ṡ_t = cell.step_jvp(x_t, θ, s_{t-1}, s_t, res_t, ẋ_t, ṡ_{t-1}, θ̇)
    ẏ_t = ṡ_t[cell.output]

It is the transpose of the reverse-scan BPTT (:mod:`~funcnet.layers.recurrent.scan`), step for
step: each ``step_jvp`` is the transpose of the cell's ``step_bwd``, and the options transpose
alike: ``masked`` (a padded step keeps the state's tangent and outputs a zero tangent, as its
backward passes the state's cotangent straight through and reads none from the output),
``truncate=k`` (the state's tangent is zeroed before every k-th step in scan order, as the
backward zeroes the cotangent leaving that step: the intended derivative of truncated BPTT),
``reverse`` (the scan runs from the last step). The time-order helpers both scans share live
here. Derivation: docs/recurrent.md, "Forward mode".
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from funcnet.layers.recurrent.cell import Cell


def time_first(a: jax.Array, axis: int = -2) -> jax.Array:
    """``a`` with its time axis (``axis``) moved first, as ``lax.scan`` walks it."""
    return jnp.moveaxis(a, axis, 0)


def cut_before(truncate: int, s: jax.Array) -> jax.Array:
    """Whether the gradient through the state is cut before scan step ``s``."""
    return (s > 0) & (s % truncate == 0)


def scan_order(length: int, reverse: bool) -> jax.Array:
    """The position of each time step in scan order (0 is the first step processed)."""
    steps = jnp.arange(length)
    return length - 1 - steps if reverse else steps


def sequence_jvp(cell: Cell, split: Callable, *, reverse: bool, truncate: int | None, masked: bool):
    """The hand-written JVP ``(primals, tangents) -> (y, ẏ)`` of ``cell``'s sequence op with
    these options (``split``: the op's arguments as ``(x, state0, params, mask)``)."""
    out = cell.output
    # the primal part as the op's reference computes it (same values): differentiating the JVP
    # once more (jax.hessian) then gives the reference's second derivative
    step = cell.reference_step or cell.step

    def jvp(primals, tangents):
        # ṡ_t = step_jvp(ẋ_t, ṡ_{t−1}, θ̇), ẏ_t = ṡ_t[out]; ṡ_{t−1} = 0 at a cut, kept when padded
        x, state0, params, mask = split(primals)
        dx, d_state0, d_params, _ = split(tangents)  # the mask's tangent is a float0 zero
        m = time_first(mask != 0, -1)[..., None] if masked else None

        def body(carry, inp):
            state, d_state = carry
            x_t, dx_t, s, m_t = inp
            if truncate is not None:  # the primal state as the reference cuts it, too
                cut = cut_before(truncate, s)
                state = tuple(jnp.where(cut, lax.stop_gradient(a), a) for a in state)
                d_state = tuple(jnp.where(cut, jnp.zeros_like(d), d) for d in d_state)
            new, res = step(x_t, state, params)
            d_new = cell.step_jvp(x_t, params, state, new, res, dx_t, d_state, d_params)
            if masked:  # a padded step keeps the state (and its tangent) and outputs zeros
                new = tuple(jnp.where(m_t, a, a0) for a, a0 in zip(new, state, strict=True))
                d_new = tuple(jnp.where(m_t, a, a0) for a, a0 in zip(d_new, d_state, strict=True))
                ys = (jnp.where(m_t, new[out], 0), jnp.where(m_t, d_new[out], 0))
            else:
                ys = (new[out], d_new[out])
            return (new, tuple(d_new)), ys

        inputs = (time_first(x), time_first(dx), scan_order(x.shape[-2], reverse), m)
        carry0 = (tuple(state0), tuple(d_state0))
        (final, d_final), (ys, d_ys) = lax.scan(body, carry0, inputs, reverse=reverse)
        y = (jnp.moveaxis(ys, 0, -2), *final)
        return y, (jnp.moveaxis(d_ys, 0, -2), *d_final)

    return jvp
