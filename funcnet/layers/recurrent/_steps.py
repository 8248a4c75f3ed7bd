"""One time step of each recurrent cell, forward and hand-written backward, in one place.

The cell ops (:mod:`funcnet.layers.recurrent.cells`) and the sequence ops
(:mod:`funcnet.layers.recurrent.sequence`) both call these functions, so each formula is
written once.
The input projection ``zx = x W + b`` is hoisted out of the step (for a sequence it is one
matrix product over all time steps); a step sees ``zx``, the previous state and ``U``.

Gates are stacked on the last axis in the order given below. Each ``*_step`` returns the new
state and the residuals its ``*_step_bwd`` needs; each ``*_step_bwd`` maps the cotangent of the
new state to the cotangent of the pre-activations: ``dzx`` (input side; ``dx = dzx Wᵀ``,
``dW = xᵀ dzx``, ``db = Σ dzx``) and ``dzh`` (hidden side; ``dh_prev ⊇ dzh Uᵀ``,
``dU = h_prevᵀ dzh``). Derivations: docs/recurrent.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

ACTIVATIONS = ("tanh", "relu")


def add_bias(z: jax.Array, b: jax.Array) -> jax.Array:
    """``z + b`` with ``b`` broadcast explicitly over the leading axes (no rank promotion)."""
    return z + jnp.expand_dims(b, tuple(range(z.ndim - b.ndim)))


def project_input(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    """``zx = x W + b`` for every leading axis (batch and time)."""
    return add_bias(jnp.matmul(x, w), b)


def _sigmoid(z: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(z)


# Elman: h' = act(zx + h U)


def elman_step(activation: str, zx: jax.Array, h: jax.Array, u: jax.Array) -> jax.Array:
    """The new state ``h' = act(zx + h U)``; ``h'`` is also the step's only residual."""
    z = zx + jnp.matmul(h, u)
    # relu as a select, as jax.nn.relu differentiates it: a NaN cotangent at z < 0 gives 0
    return jnp.tanh(z) if activation == "tanh" else jnp.where(z <= 0, jnp.zeros_like(z), z)


def elman_step_bwd(activation: str, h_new: jax.Array, dh_new: jax.Array) -> jax.Array:
    """``dz = dh' ⊙ act'(z)`` with ``act'`` read off ``h'`` (``1 − h'²`` or ``[h' > 0]``)."""
    if activation == "tanh":
        return dh_new * (1 - h_new * h_new)
    return jnp.where(h_new > 0, dh_new, 0)


# LSTM: [i, f, g, o] = [σ, σ, tanh, σ](zx + h U);  c' = f c + i g;  h' = o tanh(c')


def lstm_step(
    zx: jax.Array, h: jax.Array, c: jax.Array, u: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(h', c', gates)`` with ``gates = [i, f, g, o]`` after their nonlinearities."""
    z = zx + jnp.matmul(h, u)
    zi, zf, zg, zo = jnp.split(z, 4, axis=-1)
    i, f, g, o = _sigmoid(zi), _sigmoid(zf), jnp.tanh(zg), _sigmoid(zo)
    c_new = f * c + i * g
    h_new = o * jnp.tanh(c_new)
    return h_new, c_new, jnp.concatenate([i, f, g, o], axis=-1)


def lstm_step_bwd(
    gates: jax.Array, c: jax.Array, c_new: jax.Array, dh_new: jax.Array, dc_new: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(dz, dc)``: cotangents of the pre-activations ``z`` and of the previous cell ``c``.

    ``dc_tot = dc' + dh' o (1 − tanh²c')``; ``di = dc_tot g``, ``df = dc_tot c``,
    ``dg = dc_tot i``, ``do = dh' tanh c'``; ``dc = dc_tot f``; each gate's ``dz`` is its
    cotangent times its nonlinearity's derivative (``s(1 − s)`` or ``1 − t²``).
    """
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    tc = jnp.tanh(c_new)
    dc_tot = dc_new + dh_new * o * (1 - tc * tc)
    dzi = dc_tot * g * i * (1 - i)
    dzf = dc_tot * c * f * (1 - f)
    dzg = dc_tot * i * (1 - g * g)
    dzo = dh_new * tc * o * (1 - o)
    return jnp.concatenate([dzi, dzf, dzg, dzo], axis=-1), dc_tot * f


# GRU (cuDNN / PyTorch form): [r, u] = σ(zx_ru + h U_ru);  m = h U_n + b_hn;
# n = tanh(zx_n + r ⊙ m);  h' = (1 − u) n + u h


def gru_step(
    zx: jax.Array, h: jax.Array, u: jax.Array, b_hn: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(h', res)`` with ``res = [r, u, n, m]`` (the gates, the candidate, ``h U_n + b_hn``)."""
    zh = jnp.matmul(h, u)
    xr, xu, xn = jnp.split(zx, 3, axis=-1)
    hr, hu, hn = jnp.split(zh, 3, axis=-1)
    r, upd = _sigmoid(xr + hr), _sigmoid(xu + hu)
    m = add_bias(hn, b_hn)
    n = jnp.tanh(xn + r * m)
    h_new = n + upd * (h - n)
    return h_new, jnp.concatenate([r, upd, n, m], axis=-1)


def gru_step_bwd(
    res: jax.Array, h: jax.Array, dh_new: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(dzx, dzh, dh_direct)``: input- and hidden-side pre-activation cotangents and the
    cotangent reaching ``h`` directly through ``u ⊙ h`` (``dh = dh_direct + dzh Uᵀ``).

    ``dn = dh' (1 − u)``, ``du = dh' (h − n)``, ``dzn = dn (1 − n²)``, ``dr = dzn m``,
    ``dm = dzn r``; ``dzx = [dr r(1 − r), du u(1 − u), dzn]``, ``dzh = [.., .., dm]``.
    """
    r, upd, n, m = jnp.split(res, 4, axis=-1)
    dzn = dh_new * (1 - upd) * (1 - n * n)
    dzr = dzn * m * r * (1 - r)
    dzu = dh_new * (h - n) * upd * (1 - upd)
    dzx = jnp.concatenate([dzr, dzu, dzn], axis=-1)
    dzh = jnp.concatenate([dzr, dzu, dzn * r], axis=-1)
    return dzx, dzh, dh_new * upd
