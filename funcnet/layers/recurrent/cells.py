"""Recurrent cells — one time step as an op and as a layer: Elman RNN, LSTM, GRU.

Shapes: ``x [..., F]``, ``h, c [..., H]``, ``W [F, G·H]``, ``U [H, G·H]``, ``b [G·H]`` with
``G = 1`` (RNN), ``4`` (LSTM, gates ``i, f, g, o``), ``3`` (GRU, gates ``r, u, n``; plus
``b_hn [H]``). With ``z = x W + b + h U`` and ``dz`` from the step's backward
(:mod:`funcnet.layers.recurrent._steps`)::

    dx = dzx Wᵀ     dW = xᵀ dzx     db = Σ dzx     dh = dzh Uᵀ (+ direct term)     dU = hᵀ dzh

Derivation: docs/recurrent.md.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.nn.initializers import orthogonal

from funcnet.core.layer import (
    Layer,
    Shape,
    check_axis_size,
    check_floating,
    check_input_shape,
    check_positive_int,
    check_shape_rank,
)
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.initializers import Initializer, lecun_normal, zeros
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

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


class RNNParams(NamedTuple):
    w: jax.Array  # [F, H]
    u: jax.Array  # [H, H]
    b: jax.Array  # [H]


class LSTMParams(NamedTuple):
    w: jax.Array  # [F, 4H], gates i, f, g, o
    u: jax.Array  # [H, 4H]
    b: jax.Array  # [4H]


class GRUParams(NamedTuple):
    w: jax.Array  # [F, 3H], gates r, u, n
    u: jax.Array  # [H, 3H]
    b: jax.Array  # [3H], input-side bias
    b_hn: jax.Array  # [H], hidden-side bias of the candidate (inside the reset)


class LSTMState(NamedTuple):
    h: jax.Array  # [..., H]
    c: jax.Array  # [..., H]


def batch_sum(a: jax.Array, b: jax.Array, lead: int) -> jax.Array:
    """``Σ over the first lead axes of aᵀ b``: the parameter gradient of a batched product."""
    axes = tuple(range(lead))
    return jnp.tensordot(a, b, axes=(axes, axes))


@op_factory("rnn_cell")
def rnn_cell_op(activation: str = "tanh") -> Op:
    """The op ``(x, h, w, u, b) -> h' = act(x W + h U + b)``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"rnn_cell: expected activation in {ACTIVATIONS}, got {activation!r}.")

    def forward(x, h, w, u, b):
        return elman_step(activation, project_input(x, w, b), h, u)

    def fwd(x, h, w, u, b):
        h_new = forward(x, h, w, u, b)
        return h_new, (x, h, w, u, h_new)

    def bwd(res, dh_new):
        # dz = dh' ⊙ act'(z); dx = dz Wᵀ, dh = dz Uᵀ, dW = xᵀ dz, dU = hᵀ dz, db = Σ dz
        x, h, w, u, h_new = res
        dz = elman_step_bwd(activation, h_new, dh_new)
        lead = dz.ndim - 1
        return (dz @ w.T, dz @ u.T, batch_sum(x, dz, lead), batch_sum(h, dz, lead),
                jnp.sum(dz, axis=tuple(range(lead))))  # fmt: skip

    return make_op("rnn_cell", forward, fwd, bwd)


@op_factory("lstm_cell")
def lstm_cell_op() -> Op:
    """The op ``(x, h, c, w, u, b) -> (h', c')`` of one LSTM step."""

    def forward(x, h, c, w, u, b):
        h_new, c_new, _ = lstm_step(project_input(x, w, b), h, c, u)
        return h_new, c_new

    def fwd(x, h, c, w, u, b):
        h_new, c_new, gates = lstm_step(project_input(x, w, b), h, c, u)
        return (h_new, c_new), (x, h, c, w, u, gates, c_new)

    def bwd(res, dy):
        # dz = [di i(1−i), df f(1−f), dg (1−g²), do o(1−o)]; dx = dz Wᵀ, dh = dz Uᵀ, dc = dc_tot f
        x, h, c, w, u, gates, c_new = res
        dz, dc = lstm_step_bwd(gates, c, c_new, *dy)
        lead = dz.ndim - 1
        return (dz @ w.T, dz @ u.T, dc, batch_sum(x, dz, lead), batch_sum(h, dz, lead),
                jnp.sum(dz, axis=tuple(range(lead))))  # fmt: skip

    return make_op("lstm_cell", forward, fwd, bwd)


@op_factory("gru_cell")
def gru_cell_op() -> Op:
    """The op ``(x, h, w, u, b, b_hn) -> h'`` of one GRU step (cuDNN / PyTorch form)."""

    def forward(x, h, w, u, b, b_hn):
        return gru_step(project_input(x, w, b), h, u, b_hn)[0]

    def fwd(x, h, w, u, b, b_hn):
        h_new, step_res = gru_step(project_input(x, w, b), h, u, b_hn)
        return h_new, (x, h, w, u, step_res)

    def bwd(res, dh_new):
        # dx = dzx Wᵀ, dh = dh' u + dzh Uᵀ, dW = xᵀ dzx, dU = hᵀ dzh, db = Σ dzx, db_hn = Σ dm
        x, h, w, u, step_res = res
        dzx, dzh, dh_direct = gru_step_bwd(step_res, h, dh_new)
        lead = dzx.ndim - 1
        axes = tuple(range(lead))
        db_hn = jnp.sum(jnp.split(dzh, 3, axis=-1)[2], axis=axes)
        return (dzx @ w.T, dh_direct + dzh @ u.T, batch_sum(x, dzx, lead),
                batch_sum(h, dzh, lead), jnp.sum(dzx, axis=axes), db_hn)  # fmt: skip

    return make_op("gru_cell", forward, fwd, bwd)


def init_cell_params(
    kind: str,
    key: jax.Array,
    in_features: int,
    features: int,
    dtype: jnp.dtype,
    *,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
    forget_bias: float = 1.0,
) -> RNNParams | LSTMParams | GRUParams:
    """Parameters of a ``kind`` cell: ``W`` lecun-normal, ``U`` orthogonal, biases zero
    (the LSTM forget gate's bias set to ``forget_bias``)."""
    gates = GATES[kind]
    kw, ku, kb, kn = jax.random.split(key, 4)
    w = (w_init or lecun_normal())(kw, (in_features, gates * features), dtype)
    u = (u_init or orthogonal())(ku, (features, gates * features), dtype)
    b = b_init(kb, (gates * features,), dtype)
    if kind == "rnn":
        return RNNParams(w, u, b)
    if kind == "lstm":
        return LSTMParams(w, u, b.at[features : 2 * features].add(forget_bias))
    return GRUParams(w, u, b, b_init(kn, (features,), dtype))


def check_cell_config(name: str, features: int, dtype: jnp.dtype) -> None:
    check_positive_int(name, "features", features)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{name}: expected a floating-point dtype, got {jnp.dtype(dtype)}.")


def check_state(name: str, state: jax.Array, expected: Shape, dtype: jnp.dtype) -> None:
    """Raise unless an (initial) state has shape ``batch + (features,)`` and the params' dtype."""
    if tuple(jnp.shape(state)) != tuple(expected):
        raise ValueError(
            f"{name}: expected a state of shape {tuple(expected)}, got {tuple(jnp.shape(state))}."
        )
    check_floating(name, state, dtype)


class CellInit(NamedTuple):
    """How a cell's parameters are initialised (see :func:`init_cell_params`)."""

    w_init: Initializer | None = None
    u_init: Initializer | None = None
    b_init: Initializer = zeros
    forget_bias: float = 1.0


def _cell(kind: str, features: int, activation: str, dtype, options: CellInit) -> Layer:
    name = f"{kind}_cell"
    check_cell_config(name, features, dtype)
    op = {"rnn": lambda: rnn_cell_op(activation), "lstm": lstm_cell_op, "gru": gru_cell_op}[kind]()

    def init(key: jax.Array, input_shape: Shape):
        shape = check_input_shape(name, input_shape)
        check_shape_rank(name, shape, 1)
        params = init_cell_params(kind, key, shape[-1], features, dtype, **options._asdict())
        out = (*shape[:-1], features)
        return (LSTMState(out, out) if kind == "lstm" else out), params, ()

    def apply(params, state, inputs, *, key=None, train=False, backward="manual"):
        del key, train
        check_backward(backward, name)
        if not isinstance(inputs, tuple) or len(inputs) != 2:
            raise ValueError(f"{name}: expected an input (x, state), got {type(inputs)}.")
        x, s = inputs
        check_shape_rank(name, jnp.shape(x), 1)
        check_axis_size(name, jnp.shape(x), -1, params.w.shape[0])
        check_floating(name, x, params.w.dtype)
        expected = (*jnp.shape(x)[:-1], params.u.shape[0])
        for part in s if kind == "lstm" else (s,):
            check_state(name, part, expected, params.w.dtype)
        if kind == "lstm":
            return LSTMState(*op(x, s.h, s.c, *params, backward=backward)), state
        return op(x, s, *params, backward=backward), state

    return Layer(name, init, apply)


def rnn_cell(
    features: int,
    *,
    activation: str = "tanh",
    dtype=jnp.float32,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """One Elman step ``h' = act(x W + h U + b)``; apply takes ``(x, h)`` and returns ``h'``.

    Shapes:
      x: ``[..., F]``, h: ``[..., features]`` -> h': ``[..., features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> cell = rnn_cell(4)
      >>> shape, params, state = cell.init(jax.random.key(0), (2, 3))
      >>> h, _ = cell.apply(params, state, (jnp.ones((2, 3)), jnp.zeros((2, 4))))
      >>> shape, h.shape
      ((2, 4), (2, 4))
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"rnn_cell: expected activation in {ACTIVATIONS}, got {activation!r}.")
    return _cell("rnn", features, activation, dtype, CellInit(w_init, u_init, b_init))


def lstm_cell(
    features: int,
    *,
    forget_bias: float = 1.0,
    dtype=jnp.float32,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """One LSTM step; apply takes ``(x, LSTMState(h, c))`` and returns the new ``LSTMState``."""
    return _cell("lstm", features, "tanh", dtype, CellInit(w_init, u_init, b_init, forget_bias))


def gru_cell(
    features: int,
    *,
    dtype=jnp.float32,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """One GRU step (cuDNN form); apply takes ``(x, h)`` and returns ``h'``."""
    return _cell("gru", features, "tanh", dtype, CellInit(w_init, u_init, b_init))


def _cases() -> list[Case]:
    x, h, b = Arg((2, 3)), Arg((2, 4)), Arg((4,))
    return [
        Case("tanh", rnn_cell_op("tanh"), (x, h, Arg((3, 4)), Arg((4, 4)), b), second_order=True),
        Case("relu", rnn_cell_op("relu"), (Arg((2, 2, 3)), Arg((2, 2, 4)), Arg((3, 4)),
                                           Arg((4, 4)), b)),
    ]  # fmt: skip


def _lstm_cases() -> list[Case]:
    args = (Arg((2, 3)), Arg((2, 4)), Arg((2, 4)), Arg((3, 16)), Arg((4, 16)), Arg((16,)))
    return [Case("batch", lstm_cell_op(), args, second_order=True)]


def _gru_cases() -> list[Case]:
    args = (Arg((2, 3)), Arg((2, 4)), Arg((3, 12)), Arg((4, 12)), Arg((12,)), Arg((4,)))
    return [Case("batch", gru_cell_op(), args, second_order=True)]


add_cases("rnn_cell", _cases)
add_cases("lstm_cell", _lstm_cases)
add_cases("gru_cell", _gru_cases)
