"""Sequence ops with hand-written BPTT: ``rnn``, ``lstm``, ``gru`` over ``[..., T, F]``.

Forward: a ``lax.scan`` over time of the cell's step (:mod:`funcnet.layers.recurrent._steps`)
on ``zx_t = x_t W + b``. Backward: a reverse ``lax.scan`` carrying ``dh`` (and ``dc``) and the
parameter gradients, which accumulate step by step (no ``[T, B, G·H]`` stack of ``dz``)::

    dh_{t-1} = dzh_t Uᵀ (+ direct terms)     dx_t = dzx_t Wᵀ
    dW += x_tᵀ dzx_t     dU += h_{t-1}ᵀ dzh_t     db += Σ dzx_t

Outputs ``(hs, h_T)`` (``(hs, h_T, c_T)`` for LSTM). Options, closed over by the factory:
``reverse`` (scan from the last step; ``hs`` stays aligned with ``x``), ``truncate=k`` (the
gradient through the state is cut before every k-th step of the scan, counted in scan order),
``masked`` (a last argument ``mask [..., T]``: a step whose mask is 0 keeps the state, outputs
zeros and gets no gradient). Residuals per step: ``h`` (RNN), ``h, c`` and the four gates
(LSTM), ``h, r, u, n, h U_n + b_hn`` (GRU). Derivation: docs/recurrent.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.recurrent._steps import (
    ACTIVATIONS,
    elman_step,
    elman_step_bwd,
    gru_step,
    gru_step_bwd,
    lstm_step,
    lstm_step_bwd,
    project_input,
)
from funcnet.layers.recurrent.cells import batch_sum


def check_truncate(name: str, truncate: int | None) -> None:
    if truncate is not None and (
        isinstance(truncate, bool) or not isinstance(truncate, int) or truncate <= 0
    ):
        raise ValueError(
            f"{name}: expected truncate to be None or a positive integer, got {truncate!r}."
        )


def _time_first(a: jax.Array, axis: int = -2) -> jax.Array:
    return jnp.moveaxis(a, axis, 0)


def _cut(truncate: int, s: jax.Array) -> jax.Array:
    """Whether the gradient through the state is cut before scan step ``s``."""
    return (s > 0) & (s % truncate == 0)


def _scan_order(length: int, reverse: bool) -> jax.Array:
    """The position of each time step in scan order (0 is the first step processed)."""
    steps = jnp.arange(length)
    return length - 1 - steps if reverse else steps


def _state_before(carried: jax.Array, initial: jax.Array, t: jax.Array, reverse: bool):
    """The state step ``t`` started from: the carried state of the step before it in scan order
    (read by index inside the backward scan, so no shifted copy of the states is made)."""
    length = carried.shape[0]
    first, before = (length - 1, t + 1) if reverse else (0, t - 1)
    read = lax.dynamic_index_in_dim(carried, jnp.clip(before, 0, length - 1), keepdims=False)
    return jnp.where(t == first, initial, read)


def sequence_op(kind: str, activation: str, reverse: bool, truncate: int | None, masked: bool):
    """Build the ``kind`` sequence op (:func:`rnn_op`, :func:`lstm_op`, :func:`gru_op`)."""
    n_state = 2 if kind == "lstm" else 1

    def split_args(args):
        mask = args[-1] if masked else None
        args = args[:-1] if masked else args
        x, state0, (w, u, b, *b_hn) = args[0], args[1 : 1 + n_state], args[1 + n_state :]
        return x, tuple(state0), w, u, b, (b_hn[0] if b_hn else None), mask

    def step(zx, state, u, b_hn):
        if kind == "rnn":
            h = elman_step(activation, zx, state[0], u)
            return (h,), h, ()
        if kind == "lstm":
            h, c, gates = lstm_step(zx, state[0], state[1], u)
            return (h, c), h, gates
        h, res = gru_step(zx, state[0], u, b_hn)
        return (h,), h, res

    def scan(*args):
        x, state0, w, u, b, b_hn, mask = split_args(args)
        length = x.shape[-2]
        xs_t = _time_first(x)  # projected step by step: no [T, ..., G·H] buffer of x W + b
        m = _time_first(mask != 0, -1)[..., None] if masked else None

        def body(state, inp):
            x_t, s, m_t = inp
            zx_t = project_input(x_t, w, b)
            if truncate is not None:
                state = tuple(jnp.where(_cut(truncate, s), lax.stop_gradient(a), a) for a in state)
            new, h, step_res = step(zx_t, state, u, b_hn)
            if masked:
                new = tuple(jnp.where(m_t, a, a0) for a, a0 in zip(new, state, strict=True))
                return new, (jnp.where(m_t, h, 0), new, step_res)
            return new, ((), new, step_res)  # unmasked, the output is the carried h

        final, (outs, carried, step_res) = lax.scan(
            body, state0, (xs_t, _scan_order(length, reverse), m), reverse=reverse
        )
        outs = outs if masked else carried[0]
        return (jnp.moveaxis(outs, 0, -2), *final), (carried, step_res)

    def forward(*args):
        return scan(*args)[0]

    def fwd(*args):
        y, (carried, step_res) = scan(*args)
        x, state0, w, u, _, _, mask = split_args(args)
        return y, ((x, state0, w, u, mask), carried, step_res)

    def bwd(res, dy):
        # dh_{t-1} = dzh_t Uᵀ + direct, dx_t = dzx_t Wᵀ; dW += x_tᵀ dzx_t, dU += h_{t-1}ᵀ dzh_t
        (x, state0, w, u, mask), carried, step_res = res
        dhs, dfinal = dy[0], tuple(dy[1:])
        length = x.shape[-2]
        m = _time_first(mask != 0, -1)[..., None].astype(x.dtype) if masked else None
        u_t, w_t = u.T, w.T
        batch_axes = tuple(range(x.ndim - 2))

        def body(carry, inp):
            dstate, (dw, du, db, db_hn) = carry
            x_t, dout, t, s, m_t, new_t, res_t = inp
            prev_t = tuple(
                _state_before(c, s0, t, reverse) for c, s0 in zip(carried, state0, strict=True)
            )
            d_new = (dstate[0] + dout, *dstate[1:])
            if masked:  # a padded step passes the state's cotangent straight through
                d_skip = tuple((1 - m_t) * d for d in dstate)
                d_new = tuple(m_t * d for d in d_new)
            else:
                d_skip = tuple(jnp.zeros_like(d) for d in dstate)
            if kind == "rnn":
                dzx = dzh = elman_step_bwd(activation, new_t[0], d_new[0])
                d_prev = (d_skip[0] + dzh @ u_t,)
            elif kind == "lstm":
                dzx, dc = lstm_step_bwd(res_t, prev_t[1], new_t[1], *d_new)
                dzh = dzx
                d_prev = (d_skip[0] + dzh @ u_t, d_skip[1] + dc)
            else:
                dzx, dzh, dh_direct = gru_step_bwd(res_t, prev_t[0], d_new[0])
                d_prev = (d_skip[0] + dh_direct + dzh @ u_t,)
            if truncate is not None:
                d_prev = tuple(jnp.where(_cut(truncate, s), jnp.zeros_like(d), d) for d in d_prev)
            # the parameter gradients accumulate step by step: no [T, ..., G·H] stack of dz
            lead = x_t.ndim - 1
            dw = dw + batch_sum(x_t, dzx, lead)
            du = du + batch_sum(prev_t[0], dzh, lead)
            db = db + jnp.sum(dzx, axis=batch_axes)
            if kind == "gru":
                db_hn = db_hn + jnp.sum(jnp.split(dzh, 3, axis=-1)[2], axis=batch_axes)
            return (d_prev, (dw, du, db, db_hn)), dzx @ w_t

        zero = (jnp.zeros_like(w), jnp.zeros_like(u), jnp.zeros(w.shape[-1:], w.dtype),
                jnp.zeros(u.shape[:1], w.dtype) if kind == "gru" else None)  # fmt: skip
        steps = jnp.arange(length)
        xs = (_time_first(x), _time_first(dhs), steps, _scan_order(length, reverse), m, carried,
              step_res)  # fmt: skip
        (dstate0, (dw, du, db, db_hn)), dx = lax.scan(body, (dfinal, zero), xs, reverse=not reverse)
        grads = [jnp.moveaxis(dx, 0, -2), *dstate0, dw, du, db]
        if kind == "gru":
            grads.append(db_hn)
        if masked:
            grads.append(None)
        return tuple(grads)

    return make_op(kind, forward, fwd, bwd)


@op_factory("rnn")
def rnn_op(
    activation: str = "tanh",
    *,
    reverse: bool = False,
    truncate: int | None = None,
    masked: bool = False,
) -> Op:
    """``(x, h0, w, u, b[, mask]) -> (hs, h_T)`` of an Elman RNN over ``x [..., T, F]``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"rnn: expected activation in {ACTIVATIONS}, got {activation!r}.")
    check_truncate("rnn", truncate)
    return sequence_op("rnn", activation, reverse, truncate, masked)


@op_factory("lstm")
def lstm_op(*, reverse: bool = False, truncate: int | None = None, masked: bool = False) -> Op:
    """``(x, h0, c0, w, u, b[, mask]) -> (hs, h_T, c_T)`` of an LSTM over ``x [..., T, F]``."""
    check_truncate("lstm", truncate)
    return sequence_op("lstm", "tanh", reverse, truncate, masked)


@op_factory("gru")
def gru_op(*, reverse: bool = False, truncate: int | None = None, masked: bool = False) -> Op:
    """``(x, h0, w, u, b, b_hn[, mask]) -> (hs, h_T)`` of a GRU over ``x [..., T, F]``."""
    check_truncate("gru", truncate)
    return sequence_op("gru", "tanh", reverse, truncate, masked)


def _args(kind: str, batch: tuple[int, ...], length: int, masked: bool) -> tuple[Arg, ...]:
    in_features, features = 3, 4
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    x, h = Arg((*batch, length, in_features)), Arg((*batch, features), low=-1.0, high=1.0)
    weight = {"low": -1.0, "high": 1.0}
    params = (Arg((in_features, gates * features), **weight),
              Arg((features, gates * features), **weight), Arg((gates * features,)))  # fmt: skip
    state = (h, h) if kind == "lstm" else (h,)
    extra = (Arg((features,)),) if kind == "gru" else ()
    mask = (Arg((*batch, length), kind="int", high=2),) if masked else ()
    return (x, *state, *params, *extra, *mask)


def _cases(kind: str, build) -> list[Case]:
    return [
        # reverse-over-reverse through the backward scan is checked once (LSTM): it is the
        # costliest check to compile, and the three ops share the scan code
        Case("plain", build(), _args(kind, (2,), 4, False), second_order=kind == "lstm"),
        Case("masked", build(masked=True), _args(kind, (2,), 5, True)),
        Case("masked_reverse_batch_axes", build(reverse=True, masked=True),
             _args(kind, (2, 2), 3, True)),
    ]  # fmt: skip


add_cases("rnn", lambda: _cases("rnn", rnn_op))
add_cases("lstm", lambda: _cases("lstm", lstm_op))
add_cases("gru", lambda: _cases("gru", gru_op))
