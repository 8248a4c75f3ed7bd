"""One time step of any :class:`~funcnet.layers.recurrent.cell.Cell`, as an op and as a layer.

The op is ``(x, *state, *params) -> new_state`` (one array for a one-part state, a tuple of
its parts otherwise); its backward is the cell's ``step_bwd``::

    dx, d_state, d_params = cell.step_bwd(x, params, state, new_state, res, d_new_state)

and its JVP the cell's ``step_jvp`` (the transpose of ``step_bwd``)::

    d_new_state = cell.step_jvp(x, params, state, new_state, res, dx, d_state, d_params)

The layer applies it to ``(x, state)`` and returns the new state (an array or the cell's
``state_type``). Derivations: docs/recurrent.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.per_example_norms import leading_rows
from funcnet.core.registry import Arg, Case
from funcnet.layers.recurrent.cell import (
    Cell,
    check_cell_config,
    described,
    factor_sq_norms,
    param_shapes,
    params_dtype,
    state_parts_checked,
    sum_factors,
)


def cell_op(cell: Cell) -> Op:
    """The op ``(x, *state, *params) -> new_state`` of one step of ``cell``.

    Shapes:
      x: ``[..., F]``; each state part ``[..., H]`` -> each new part ``[..., H]``.
    """
    num_states = cell.num_states

    def split(args):
        return args[0], tuple(args[1 : 1 + num_states]), cell.params_type(*args[1 + num_states :])

    def output(parts):
        return parts[0] if num_states == 1 else parts

    def forward(*args):
        return output(cell.step(*split(args))[0])

    def reference(*args):  # a surrogate cell's gradient reference
        x, state, params = split(args)
        return output(cell.reference_step(x, state, params)[0])

    def fwd(*args):
        x, state, params = split(args)
        new, step_res = cell.step(x, state, params)
        return output(new), (x, state, params, new, step_res)

    def bwd(res, dy):
        # dx, d_state, d_params = step_bwd(d_new_state): the cell's hand-written step VJP
        x, state, params, new, step_res = res
        d_new = (dy,) if num_states == 1 else tuple(dy)
        dx, d_state, d_params = cell.step_bwd(x, params, state, new, step_res, d_new)
        return (dx, *d_state, *d_params)

    def bwd_with_norms(res, dy):
        # as bwd; ‖dθᵢ‖² = ‖aᵢᵀ gᵢ‖² from the step's factors (rows: the inner batch positions)
        x, state, params, new, step_res = res
        d_new = (dy,) if num_states == 1 else tuple(dy)
        dx, d_state, factors = cell.step_bwd_factors(x, params, state, new, step_res, d_new)
        rows = [tuple(None if a is None else leading_rows(a, a.ndim - 1) for a in pair)
                for pair in factors]  # fmt: skip
        norms = (None,) * (1 + num_states) + factor_sq_norms(rows)
        return (dx, *d_state, *sum_factors(factors)), norms

    def jvp(primals, tangents):
        # ṡ' = step_jvp(ẋ, ṡ, θ̇), s the state: the cell's step JVP, the transpose of step_bwd
        x, state, params = split(primals)
        dx, d_state, d_params = split(tangents)
        new, step_res = (cell.reference_step or cell.step)(x, state, params)  # as differentiated
        d_new = cell.step_jvp(x, params, state, new, step_res, dx, d_state, d_params)
        return output(new), output(tuple(d_new))

    with_norms = None if cell.step_bwd_factors is None else bwd_with_norms
    jvp = None if cell.step_jvp is None else jvp
    if cell.reference_step is None:
        return make_op(f"{cell.name}_cell", forward, fwd, bwd, bwd_with_norms=with_norms, jvp=jvp)
    return make_op(f"{cell.name}_cell", forward, fwd, bwd, gradient=cell.gradient,
                   gradient_reference=reference, finite_differences=cell.finite_differences,
                   bwd_with_norms=with_norms, jvp=jvp)  # fmt: skip


def cell_layer(cell: Cell, features: int, *, dtype: Any = jnp.float32) -> Layer:
    """One step of ``cell`` as a layer: apply takes ``(x, state)`` and returns the new state.

    Shapes:
      x: ``[..., F]``, each state part ``[..., features]`` -> the new state, parts alike.
    """
    name = f"{cell.name}_cell"
    check_cell_config(name, features, dtype)
    op = cell_op(cell)

    def init(key: jax.Array, input_shape: Shape):
        shape = check_input_shape(name, input_shape)
        check_shape_rank(name, shape, 1)
        out = (*shape[:-1], features)
        params = cell.init(key, shape[-1], features, dtype)
        return cell.state_of((out,) * cell.num_states), params, ()

    def apply(params, state, inputs, *, key=None, train=False, backward="manual"):
        del key, train
        check_backward(backward, name)
        if not isinstance(inputs, tuple) or len(inputs) != 2:
            raise TypeError(f"{name}: expected an input (x, state), got {described(inputs)}.")
        x, s = inputs
        check_shape_rank(name, jnp.shape(x), 1)
        check_axis_size(name, jnp.shape(x), -1, cell.in_features(params))
        dtype = params_dtype(params)
        check_floating(name, x, dtype)
        parts = state_parts_checked(name, cell, s, (*jnp.shape(x)[:-1], features), dtype)
        new = op(x, *parts, *params, backward=backward)
        return cell.state_of((new,) if cell.num_states == 1 else new), state

    return Layer(name, init, apply)


def step_case(
    label: str, op: Op, cell: Cell, batch: tuple[int, ...] = (2,), second_order: bool = True
) -> Case:
    """A registry case of ``op`` (one step of ``cell``): 3 input features, 4 state features,
    by default with reverse-over-reverse (the step's backward is differentiable)."""
    in_features, features = 3, 4
    state = (Arg((*batch, features)),) * cell.num_states
    params = tuple(Arg(s) for s in param_shapes(cell, in_features, features))
    return Case(label, op, (Arg((*batch, in_features)), *state, *params), second_order)


def split_input(in_features: int, cell: Cell) -> Callable[[jax.Array], tuple[jax.Array, Any]]:
    """``a -> (x, state)``: one drawn array ``[..., F + k·H]`` split into a cell layer's input
    (a layer configuration's ``make_input``)."""

    def make(a: jax.Array) -> tuple[jax.Array, Any]:
        parts = jnp.split(a[..., in_features:], cell.num_states, axis=-1)
        return a[..., :in_features], cell.state_of(tuple(parts))

    return make
