"""Sequence layers ``rnn``, ``lstm``, ``gru`` over ``[..., T, F]`` (batch axes leading).

Each layer is one sequence op (:mod:`funcnet.layers.recurrent.sequence`): a forward ``lax.scan``
and a hand-written reverse-scan backward. The input is either ``x`` or a :class:`RecurrentInput`
carrying a ``mask`` and/or an initial ``state``; the output is ``hs [..., T, H]``
(``return_sequences=True``) or the final state's ``h [..., H]``, and with ``return_state=True``
the pair ``(output, final_state)``. See docs/recurrent.md."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from funcnet.core.layer import (
    Layer,
    Shape,
    check_axis_size,
    check_floating,
    check_input_shape,
    check_shape_rank,
)
from funcnet.core.op import check_backward
from funcnet.initializers import Initializer, zeros
from funcnet.layers.recurrent._steps import ACTIVATIONS
from funcnet.layers.recurrent.cells import (
    CellInit,
    LSTMState,
    check_cell_config,
    check_state,
    init_cell_params,
)
from funcnet.layers.recurrent.sequence import check_truncate, gru_op, lstm_op, rnn_op


class RecurrentInput(NamedTuple):
    """The input of a sequence layer when it needs more than ``x``.

    Attributes:
      x: ``[..., T, F]``.
      mask: ``[..., T]`` bool or int, nonzero for real steps; a step with mask 0 keeps the
        state, outputs zeros and receives no gradient (``None``: every step is real).
      state: the initial state, ``h0 [..., H]`` (``LSTMState(h0, c0)`` for LSTM); zeros if None.
    """

    x: Any
    mask: Any = None
    state: Any = None


def _unpack(name: str, inputs: Any) -> RecurrentInput:
    if isinstance(inputs, RecurrentInput):
        return inputs
    if isinstance(inputs, tuple):
        raise ValueError(f"{name}: expected an array or a RecurrentInput, got a {type(inputs)}.")
    return RecurrentInput(inputs)


def _check_mask(name: str, mask: Any, x_shape: Shape) -> jax.Array:
    shape, dtype = tuple(jnp.shape(mask)), jnp.result_type(mask)
    if shape != x_shape[:-1]:
        raise ValueError(f"{name}: expected a mask of shape {x_shape[:-1]}, got {shape}.")
    if not (dtype == jnp.bool_ or jnp.issubdtype(dtype, jnp.integer)):
        raise ValueError(f"{name}: expected a bool or integer mask, got dtype {dtype}.")
    return jnp.asarray(mask).astype(jnp.int32)


def sequence_layer(
    kind: str,
    features: int,
    *,
    activation: str = "tanh",
    return_sequences: bool = True,
    return_state: bool = False,
    reverse: bool = False,
    truncate: int | None = None,
    dtype: jnp.dtype = jnp.float32,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
    forget_bias: float = 1.0,
) -> Layer:
    """The ``kind`` (``"rnn"``, ``"lstm"``, ``"gru"``) sequence layer; options shared by all.

    Args:
      features: the state width ``H``.
      return_sequences: output every step's ``h`` (``[..., T, H]``) or only the final
        state's ``h`` (``[..., H]``; with a mask, the state after the last real step).
      return_state: output ``(output, final_state)``.
      reverse: scan from the last step to the first (outputs stay aligned with ``x``).
      truncate: truncated BPTT, the gradient through the state is cut every ``truncate``
        steps (``None``: full BPTT).
      dtype: the parameters' dtype; ``x`` and the state must have it.
      w_init, u_init, b_init: initialisers of ``W`` (lecun normal), ``U`` (orthogonal) and the
        biases (zeros).
      activation: the RNN's nonlinearity; forget_bias: the LSTM's initial forget-gate bias.

    Shapes:
      x: ``[..., T, F]`` (or a :class:`RecurrentInput`) -> ``[..., T, H]`` or ``[..., H]``.
    """
    check_cell_config(kind, features, dtype)
    check_truncate(kind, truncate)
    build = {"rnn": lambda **k: rnn_op(activation, **k), "lstm": lstm_op, "gru": gru_op}[kind]
    init_options = CellInit(w_init, u_init, b_init, forget_bias)._asdict()
    ops = {masked: build(reverse=reverse, truncate=truncate, masked=masked) for masked in (0, 1)}

    def init(key: jax.Array, input_shape: Any):
        if isinstance(input_shape, RecurrentInput):
            input_shape = input_shape.x
        shape = check_input_shape(kind, input_shape)
        check_shape_rank(kind, shape, 2)
        params = init_cell_params(kind, key, shape[-1], features, dtype, **init_options)
        h_shape = (*shape[:-2], features)
        out = (*shape[:-1], features) if return_sequences else h_shape
        state_shape = LSTMState(h_shape, h_shape) if kind == "lstm" else h_shape
        return ((out, state_shape) if return_state else out), params, ()

    def apply(params, state, inputs, *, key=None, train=False, backward="manual"):
        del key, train
        check_backward(backward, kind)
        x, mask, s0 = _unpack(kind, inputs)
        shape = tuple(jnp.shape(x))
        check_shape_rank(kind, shape, 2)
        check_axis_size(kind, shape, -1, params.w.shape[0])
        check_floating(kind, x, params.w.dtype)
        h_shape = (*shape[:-2], features)
        if s0 is None:
            s0 = tuple(jnp.zeros(h_shape, params.w.dtype) for _ in range(1 + (kind == "lstm")))
        else:
            s0 = tuple(s0) if kind == "lstm" else (s0,)
            if len(s0) != 1 + (kind == "lstm"):
                raise ValueError(f"{kind}: expected an initial LSTMState(h, c), got {s0}.")
            for part in s0:
                check_state(kind, part, h_shape, params.w.dtype)
        args = (x, *s0, *params)
        if mask is not None:
            args = (*args, _check_mask(kind, mask, shape))
        hs, *final = ops[mask is not None](*args, backward=backward)
        final_state = LSTMState(*final) if kind == "lstm" else final[0]
        y = hs if return_sequences else final[0]
        return ((y, final_state) if return_state else y), state

    return Layer(kind, init, apply)


def rnn(features: int, *, activation: str = "tanh", **options: Any) -> Layer:
    """An Elman RNN ``h_t = act(x_t W + h_{t-1} U + b)``, ``act`` ``"tanh"`` or ``"relu"``.

    Options as in :func:`sequence_layer`.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = rnn(4, return_sequences=False)
      >>> shape, params, state = layer.init(jax.random.key(0), (2, 5, 3))
      >>> h, _ = layer.apply(params, state, jnp.ones((2, 5, 3)))
      >>> shape, h.shape
      ((2, 4), (2, 4))
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"rnn: expected activation in {ACTIVATIONS}, got {activation!r}.")
    return sequence_layer("rnn", features, activation=activation, **options)


def lstm(features: int, *, forget_bias: float = 1.0, **options: Any) -> Layer:
    """An LSTM (gates ``i, f, g, o``; the forget gate's bias starts at ``forget_bias``).

    Options as in :func:`sequence_layer`.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = lstm(4, return_state=True)
      >>> _, params, state = layer.init(jax.random.key(0), (2, 5, 3))
      >>> (hs, final), _ = layer.apply(params, state, RecurrentInput(jnp.ones((2, 5, 3))))
      >>> hs.shape, final.c.shape
      ((2, 5, 4), (2, 4))
    """
    return sequence_layer("lstm", features, forget_bias=forget_bias, **options)


def gru(features: int, **options: Any) -> Layer:
    """A GRU in the cuDNN / PyTorch form (the reset gate multiplies ``h U_n + b_hn``).

    Options as in :func:`sequence_layer`.
    """
    return sequence_layer("gru", features, **options)
