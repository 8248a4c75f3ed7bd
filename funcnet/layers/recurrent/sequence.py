"""The sequence layer of any :class:`~funcnet.layers.recurrent.cell.Cell` over ``[..., T, F]``.

Each layer is one sequence op (:mod:`funcnet.layers.recurrent.scan`): a forward ``lax.scan``
and a hand-written reverse-scan backward. The input is either ``x`` or a
:class:`RecurrentInput` carrying a ``mask`` and/or an initial ``state``; the output is
``ys [..., T, H]`` (``return_sequences=True``) or the final state's output part ``[..., H]``,
and with ``return_state=True`` the pair ``(output, final_state)``. See docs/recurrent.md.
"""

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
from funcnet.layers.recurrent.cell import (
    Cell,
    check_cell_config,
    described,
    params_dtype,
    state_parts_checked,
)
from funcnet.layers.recurrent.scan import check_truncate, sequence_op


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
        raise TypeError(f"{name}: expected an array or a RecurrentInput, got {described(inputs)}.")
    return RecurrentInput(inputs)


def _check_mask(name: str, mask: Any, x_shape: Shape) -> jax.Array:
    shape, dtype = tuple(jnp.shape(mask)), jnp.result_type(mask)
    if shape != x_shape[:-1]:
        raise ValueError(f"{name}: expected a mask of shape {x_shape[:-1]}, got {shape}.")
    if not (dtype == jnp.bool_ or jnp.issubdtype(dtype, jnp.integer)):
        raise ValueError(f"{name}: expected a bool or integer mask, got dtype {dtype}.")
    return jnp.asarray(mask).astype(jnp.int32)


def sequence_layer(
    cell: Cell,
    features: int,
    *,
    return_sequences: bool = True,
    return_state: bool = False,
    reverse: bool = False,
    truncate: int | None = None,
    dtype: Any = jnp.float32,
) -> Layer:
    """The sequence layer of ``cell`` (:func:`~funcnet.layers.rnn`, ``lstm``, ``gru`` use it).

    Args:
      cell: the cell's description (its initialisers closed over).
      features: the state width ``H``.
      return_sequences: output every step's output part (``[..., T, H]``) or only the final
        state's (``[..., H]``; with a mask, the state after the last real step).
      return_state: output ``(output, final_state)``.
      reverse: scan from the last step to the first (outputs stay aligned with ``x``).
      truncate: truncated BPTT, the gradient through the state is cut every ``truncate``
        steps (``None``: full BPTT).
      dtype: the parameters' dtype; ``x`` and the state must have it.

    Shapes:
      x: ``[..., T, F]`` (or a :class:`RecurrentInput`) -> ``[..., T, H]`` or ``[..., H]``.
    """
    name = cell.name
    check_cell_config(name, features, dtype)
    check_truncate(name, truncate)
    ops = {m: sequence_op(cell, reverse=reverse, truncate=truncate, masked=m) for m in (0, 1)}

    def init(key: jax.Array, input_shape: Any):
        if isinstance(input_shape, RecurrentInput):
            input_shape = input_shape.x
        shape = check_input_shape(name, input_shape)
        check_shape_rank(name, shape, 2)
        params = cell.init(key, shape[-1], features, dtype)
        h_shape = (*shape[:-2], features)
        out = (*shape[:-1], features) if return_sequences else h_shape
        state_shape = cell.state_of((h_shape,) * cell.num_states)
        return ((out, state_shape) if return_state else out), params, ()

    def apply(params, state, inputs, *, key=None, train=False, backward="manual"):
        del key, train
        check_backward(backward, name)
        x, mask, s0 = _unpack(name, inputs)
        shape = tuple(jnp.shape(x))
        check_shape_rank(name, shape, 2)
        check_axis_size(name, shape, -1, cell.in_features(params))
        dtype = params_dtype(params)
        check_floating(name, x, dtype)
        h_shape = (*shape[:-2], features)
        if s0 is None:
            parts = tuple(jnp.zeros(h_shape, dtype) for _ in range(cell.num_states))
        else:
            parts = state_parts_checked(name, cell, s0, h_shape, dtype)
        args = (x, *parts, *params)
        if mask is not None:
            args = (*args, _check_mask(name, mask, shape))
        ys, *final = ops[mask is not None](*args, backward=backward)
        y = ys if return_sequences else final[cell.output]
        return ((y, cell.state_of(tuple(final))) if return_state else y), state

    return Layer(name, init, apply)


def masked_input(a: jax.Array) -> RecurrentInput:
    """``RecurrentInput(x, mask)`` from one drawn array ``[..., T, F + 1]``: ``x`` its first
    ``F`` features, the mask ``a[..., -1] > -1`` (three steps in four are real for draws
    uniform in [-2, 2]); a layer configuration's ``make_input``."""
    return RecurrentInput(a[..., :-1], a[..., -1] > -1.0)
