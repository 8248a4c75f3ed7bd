"""The sequence op of any :class:`~funcnet.layers.recurrent.cell.Cell`, with hand-written BPTT.

``(x, *state0, *params[, mask]) -> (ys, *final_state)`` over ``x [..., T, F]``.
Forward: a ``lax.scan`` over time of ``cell.step``; the input is projected step by step inside
it, so no ``[T, ..., G·H]`` buffer of the projection exists. Backward: a reverse ``lax.scan``
carrying the state's cotangent and the parameter gradients, which accumulate step by step (no
``[T, ..., G·H]`` stack of pre-activation cotangents)::

    d_state_{t-1}, dx_t, dparams_t = cell.step_bwd(..., d_state_t + d_output_t)
    dparams += dparams_t

The residuals per step are the carried states and the step's own ``res`` (RNN ``h``; LSTM
``h, c`` and four gates; GRU ``h`` and ``r, u, n, h U_n + b_hn``); the state a step started
from is read from the carried states by index inside the backward scan.

DP-SGD's per-example norms (``bwd_with_norms``, for a cell with ``step_bwd_factors``): each
parameter's gradient on example ``i`` is ``Σ_t aᵢₜᵀ gᵢₜ`` (``x_t`` and ``dz_t`` for ``W``), so the
same reverse scan also stacks each step's distinct factors over time (``[T, ..., ·]``; ``x`` is
not copied) and its squared norm is the Gram form over the steps and inner batch axes of the
example, ``Σ_{t,s} (aᵢₜ·aᵢₛ)(gᵢₜ·gᵢₛ)`` (or ``aᵢᵀgᵢ`` formed, whichever is cheaper).

Options, closed over by the factory: ``reverse`` (scan from the last step; ``ys`` stays aligned
with ``x``), ``truncate=k`` (the gradient through the state is cut before every k-th step of
the scan, counted in scan order: an intended gradient, whose reference applies
``lax.stop_gradient`` there; ``forward`` stays the true forward), ``masked`` (a last
argument ``mask [..., T]``: a step whose mask is 0 keeps the state, outputs zeros and gets no
gradient). Forward mode, for a cell with ``step_jvp``: the forward scan of
:mod:`~funcnet.layers.recurrent.tangent_scan`. Derivation: docs/recurrent.md.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax

from funcnet.core.op import Op, make_op
from funcnet.core.per_example_norms import leading_rows
from funcnet.core.registry import Arg, Case
from funcnet.layers.recurrent.cell import Cell, factor_sq_norms, param_shapes, sum_factors
from funcnet.layers.recurrent.tangent_scan import cut_before, scan_order, sequence_jvp, time_first


def check_truncate(name: str, truncate: int | None) -> None:
    if truncate is not None and (
        isinstance(truncate, bool) or not isinstance(truncate, int) or truncate <= 0
    ):
        raise ValueError(
            f"{name}: expected truncate to be None or a positive integer, got {truncate!r}."
        )


def _state_before(carried: jax.Array, initial: jax.Array, t: jax.Array, reverse: bool):
    """The state step ``t`` started from: the carried state of the step before it in scan order
    (read by index inside the backward scan, so no shifted copy of the states is made)."""
    length = carried.shape[0]
    first, before = (length - 1, t + 1) if reverse else (0, t - 1)
    read = lax.dynamic_index_in_dim(carried, jnp.clip(before, 0, length - 1), keepdims=False)
    return jnp.where(t == first, initial, read)


def sequence_op(
    cell: Cell, *, reverse: bool = False, truncate: int | None = None, masked: bool = False
) -> Op:
    """The op ``(x, *state0, *params[, mask]) -> (ys, *final_state)`` of ``cell`` over time.

    Shapes:
      x: ``[..., T, F]``; each state part ``[..., H]``; mask ``[..., T]`` ->
      ys: ``[..., T, H]`` (the ``cell.output`` part at each step), each final part ``[..., H]``.
    """
    check_truncate(cell.name, truncate)
    num_states, out = cell.num_states, cell.output

    def split(args):
        mask = args[-1] if masked else None
        args = args[:-1] if masked else args
        state0, params = args[1 : 1 + num_states], cell.params_type(*args[1 + num_states :])
        return args[0], tuple(state0), params, mask

    def scan(x, state0, params, mask, cut=truncate is not None, step=cell.step):
        m = time_first(mask != 0, -1)[..., None] if masked else None

        def body(state, inp):
            x_t, s, m_t = inp
            if cut:
                here = cut_before(truncate, s)
                state = tuple(jnp.where(here, lax.stop_gradient(a), a) for a in state)
            new, step_res = step(x_t, state, params)
            if masked:
                new = tuple(jnp.where(m_t, a, a0) for a, a0 in zip(new, state, strict=True))
                return new, (jnp.where(m_t, new[out], 0), new, step_res)
            return new, ((), new, step_res)  # unmasked, the output is the carried state part

        inputs = (time_first(x), scan_order(x.shape[-2], reverse), m)
        final, (ys, carried, step_res) = lax.scan(body, state0, inputs, reverse=reverse)
        ys = ys if masked else carried[out]
        return (jnp.moveaxis(ys, 0, -2), *final), (carried, step_res)

    def forward(*args):
        return scan(*split(args), cut=False)[0]

    def reference(*args):  # truncated, and a surrogate cell's reference step scanned
        return scan(*split(args), step=cell.reference_step or cell.step)[0]

    def fwd(*args):
        x, state0, params, mask = split(args)
        y, (carried, step_res) = scan(x, state0, params, mask)
        return y, ((x, state0, params, mask), carried, step_res)

    def backward(res, dy, with_norms=False):
        """The reverse scan; ``with_norms``: each step's parameter factors are stacked over time
        too, and the per-example squared norms computed from them after the scan."""
        (x, state0, params, mask), carried, step_res = res
        dys, dfinal = dy[0], tuple(dy[1:])
        m = time_first(mask != 0, -1)[..., None].astype(x.dtype) if masked else None
        layout = []  # with_norms: where each parameter's factors are among the stacked arrays

        def body(carry, inp):
            d_state, d_params = carry
            x_t, dy_t, t, s, m_t, new_t, res_t = inp
            prev_t = tuple(
                _state_before(c, s0, t, reverse) for c, s0 in zip(carried, state0, strict=True)
            )
            d_new = tuple(d + dy_t if i == out else d for i, d in enumerate(d_state))
            if masked:  # a padded step passes the state's cotangent straight through
                d_new = tuple(m_t * d for d in d_new)
            step_args = (x_t, params, prev_t, new_t, res_t, d_new)
            if with_norms:  # each example's factors at this step, stacked over time
                dx_t, d_prev, factors = cell.step_bwd_factors(*step_args)
                d_params_t, stacked = sum_factors(factors), _distinct(factors, x_t, layout)
            else:
                (dx_t, d_prev, d_params_t), stacked = cell.step_bwd(*step_args), ()
            if masked:
                d_prev = tuple(p + (1 - m_t) * d for p, d in zip(d_prev, d_state, strict=True))
            if truncate is not None:
                cut = cut_before(truncate, s)
                d_prev = tuple(jnp.where(cut, jnp.zeros_like(d), d) for d in d_prev)
            # the parameter gradients accumulate step by step: no [T, ..., G·H] stack of dz
            return (d_prev, jax.tree.map(jnp.add, d_params, d_params_t)), (dx_t, stacked)

        length = x.shape[-2]
        xs = (time_first(x), time_first(dys), jnp.arange(length), scan_order(length, reverse),
              m, carried, step_res)  # fmt: skip
        zeros = jax.tree.map(jnp.zeros_like, params)
        (d_state0, d_params), (dx, stacked) = lax.scan(body, (dfinal, zeros), xs,
                                                       reverse=not reverse)  # fmt: skip
        cotangents = (jnp.moveaxis(dx, 0, -2), *d_state0, *d_params,
                      *((None,) if masked else ()))  # fmt: skip
        if not with_norms:
            return cotangents
        norms = _norms_of_stacked(layout, stacked, time_first(x))
        return cotangents, (None,) * (1 + num_states) + norms + ((None,) if masked else ())

    def bwd(res, dy):
        # d_state_{t-1}, dx_t, dparams_t = step_bwd(d_state_t + dys_t); dparams = Σ_t dparams_t
        return backward(res, dy)

    def bwd_with_norms(res, dy):
        # as bwd; ‖dθᵢ‖² = ‖Σ_t aᵢₜᵀ gᵢₜ‖² = Σ_{t,s} (aᵢₜ·aᵢₛ)(gᵢₜ·gᵢₛ) from each step's factors
        return backward(res, dy, with_norms=True)

    with_norms = None if cell.step_bwd_factors is None else bwd_with_norms
    jvp = None
    if cell.step_jvp is not None:  # a forward scan carrying the state's tangent
        jvp = sequence_jvp(cell, split, reverse=reverse, truncate=truncate, masked=masked)
    if truncate is None and cell.reference_step is None:
        return make_op(cell.name, forward, fwd, bwd, bwd_with_norms=with_norms, jvp=jvp)
    truncated = "" if truncate is None else f"truncated BPTT, cut every {truncate} steps"
    if cell.reference_step is None:
        gradient, fd = (
            f"surrogate: {truncated}",
            (
                "truncated BPTT is not the derivative of any function of the arguments (cutting "
                "the state's gradient is not a change of forward); the op without truncate is "
                "held to finite differences"
            ),
        )
    else:  # a surrogate cell (a spike's surrogate derivative), possibly truncated too
        gradient = cell.gradient + (f"; {truncated}" if truncated else "")
        fd = cell.finite_differences
    return make_op(cell.name, forward, fwd, bwd, gradient=gradient,
                   gradient_reference=reference, finite_differences=fd,
                   bwd_with_norms=with_norms, jvp=jvp)  # fmt: skip


def _distinct(factors, x_t: jax.Array, layout: list) -> tuple[jax.Array, ...]:
    """The arrays of one step's factor pairs to stack over time, each once (several parameters
    share a ``dz``) and ``x_t`` not at all (the op's input is ``x`` itself); ``layout`` (filled
    on the scan body's one trace) records each pair's place: an index, ``"x"`` or ``None``."""
    arrays, index = [], {}

    def place(a):
        if a is None or a is x_t:
            return None if a is None else "x"
        if id(a) not in index:
            index[id(a)] = len(arrays)
            arrays.append(a)
        return index[id(a)]

    layout[:] = [(place(a), place(g)) for a, g in factors]
    return tuple(arrays)


def _norms_of_stacked(layout: list, stacked: tuple, x: jax.Array) -> tuple[jax.Array, ...]:
    """Each parameter's per-example squared norm from its factors stacked over time ``[T, B,
    *inner, ·]`` (``x`` time-first too): the rows of example ``i`` are its steps and inner
    batch positions."""

    def rows(k):  # [T, B, *inner, ·] -> [B, T·inner, ·]
        a = jnp.moveaxis(x if k == "x" else stacked[k], 0, 1)
        return leading_rows(a, a.ndim - 1)

    if x.ndim < 3:
        raise ValueError(
            "per-example norms: expected a sequence input [B, ..., T, F] with a leading example "
            f"axis, got shape {x.shape[1:-1] + x.shape[:1] + x.shape[-1:]}."
        )
    return factor_sq_norms([(None if a is None else rows(a), rows(g)) for a, g in layout])


def _args(cell: Cell, batch: tuple[int, ...], length: int, masked: bool) -> tuple[Arg, ...]:
    in_features, features = 3, 4
    # weights in [-1, 1] keep the recurrence away from saturation; vectors (biases) in [-2, 2]
    params = tuple(Arg(s, low=-1.0, high=1.0) if len(s) > 1 else Arg(s)
                   for s in param_shapes(cell, in_features, features))  # fmt: skip
    state = (Arg((*batch, features), low=-1.0, high=1.0),) * cell.num_states
    mask = (Arg((*batch, length), kind="int", high=2),) if masked else ()
    return (Arg((*batch, length, in_features)), *state, *params, *mask)


def sequence_cases(
    build: Callable[..., Op],
    cell: Cell,
    labels: tuple[str, ...] = ("plain", "masked_reverse_batch_axes", "truncated"),
    second_order: bool = False,
) -> list[Case]:
    """Registry cases of the sequence op ``build(reverse=, masked=)`` of ``cell``: tiny shapes
    (3 input features, 4 state features), chosen from ``plain`` (batch 2, length 4; with
    reverse-over-reverse if ``second_order``), ``masked`` (length 5),
    ``masked_reverse_batch_axes`` (batch axes ``(2, 2)``, length 3) and ``truncated`` (BPTT cut
    every 2 steps of a reversed scan, length 5: an intended gradient)."""
    make = {
        "plain": lambda: Case("plain", build(), _args(cell, (2,), 4, False), second_order),
        "masked": lambda: Case("masked", build(masked=True), _args(cell, (2,), 5, True)),
        "masked_reverse_batch_axes": lambda: Case(
            "masked_reverse_batch_axes",
            build(reverse=True, masked=True),
            _args(cell, (2, 2), 3, True),
        ),
        "truncated": lambda: Case(
            "truncated", build(reverse=True, truncate=2), _args(cell, (2,), 5, False)
        ),
    }
    return [make[label]() for label in labels]
