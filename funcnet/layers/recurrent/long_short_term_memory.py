"""The LSTM: gates ``[i, f, g, o] = [σ, σ, tanh, σ](x W + h U + b)``,
``c' = f ⊙ c + i ⊙ g``, ``h' = o ⊙ tanh c'``.

Its description (:class:`~funcnet.layers.recurrent.cell.Cell`), then the ops and layers the
generic machinery builds from it: ``lstm_op`` / ``lstm`` (a sequence), ``lstm_cell_op`` /
``lstm_cell`` (one step). ``W [F, 4H]``, ``U [H, 4H]``, ``b [4H]``, gates stacked in the order
``i, f, g, o``; the state is ``LSTMState(h, c)``. Backward, with ``dc_tot = dc' + dh' ⊙ o ⊙
(1 − tanh² c')``::

    dz = [dc_tot g i(1−i), dc_tot c f(1−f), dc_tot i (1−g²), dh' tanh c' o(1−o)]
    dx = dz Wᵀ     dh = dz Uᵀ     dc = dc_tot ⊙ f     dW = Σ xᵀ dz     dU = Σ hᵀ dz     db = Σ dz

The step's residuals are the four gates (``c'`` and ``h'`` are the carried state; ``tanh c'``
is recomputed). Forward mode, its transpose: ``ż = ẋ W + x Ẇ + ḣ U + h U̇ + ḃ``, the gates'
tangents ``ż ⊙ [i(1−i), f(1−f), 1−g², o(1−o)]``, then ``ċ' = ḟ c + f ċ + i̇ g + i ġ``,
``ḣ' = ȯ tanh c' + o (1 − tanh² c') ċ'``. Derivation: docs/recurrent.md.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from funcnet.core.layer import Layer
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op
from funcnet.core.registry import Arg, add_cases, op_factory
from funcnet.initializers import Initializer, zeros
from funcnet.layers.recurrent.cell import (
    Cell,
    affine,
    affine_factors,
    affine_jvp,
    init_gated,
    product_factors,
    product_jvp,
    sigmoid,
    summed_step_bwd,
)
from funcnet.layers.recurrent.scan import sequence_cases, sequence_op
from funcnet.layers.recurrent.sequence import sequence_layer
from funcnet.layers.recurrent.step import cell_layer, cell_op, split_input, step_case


class LSTMParams(NamedTuple):
    w: jax.Array  # [F, 4H], gates i, f, g, o
    u: jax.Array  # [H, 4H]
    b: jax.Array  # [4H]


class LSTMState(NamedTuple):
    h: jax.Array  # [..., H]
    c: jax.Array  # [..., H]


def lstm_description(
    *,
    forget_bias: float = 1.0,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Cell:
    """The LSTM cell; the forget gate's bias starts at ``forget_bias`` (added to ``b_init``)."""

    def init(key, in_features, features, dtype):
        w, u, b = init_gated(key, in_features, features, 4, dtype, w_init, u_init, b_init)
        return LSTMParams(w, u, b.at[features : 2 * features].add(forget_bias))

    def step(x, state, p):
        h, c = state
        zi, zf, zg, zo = jnp.split(affine(x, p.w, p.b) + h @ p.u, 4, axis=-1)
        i, f, g, o = sigmoid(zi), sigmoid(zf), jnp.tanh(zg), sigmoid(zo)
        c_new = f * c + i * g
        return (o * jnp.tanh(c_new), c_new), jnp.concatenate([i, f, g, o], axis=-1)

    def step_bwd_factors(x, p, state, new, gates, d_new):
        # dz = [dĉ g i(1−i), dĉ c f(1−f), dĉ i(1−g²), dh' tanh c' o(1−o)], dc = dĉ f, dh = dz Uᵀ
        # with dĉ = dc' + dh' o (1 − tanh² c')
        (h, c), (_, c_new), (dh_new, dc_new) = state, new, d_new
        i, f, g, o = jnp.split(gates, 4, axis=-1)
        tc = jnp.tanh(c_new)
        dc_tot = dc_new + dh_new * o * (1 - tc * tc)
        dzi, dzf = dc_tot * g * i * (1 - i), dc_tot * c * f * (1 - f)
        dzg, dzo = dc_tot * i * (1 - g * g), dh_new * tc * o * (1 - o)
        dz = jnp.concatenate([dzi, dzf, dzg, dzo], axis=-1)
        dx, dw, db = affine_factors(x, p.w, dz)  # per example dW = xᵀ dz, db = dz
        dh, du = product_factors(h, p.u, dz)  # per example dU = hᵀ dz
        return dx, (dh, dc_tot * f), LSTMParams(dw, du, db)

    def step_jvp(x, p, state, new, gates, dx, d_state, dp):
        # ż = ẋ W + x Ẇ + ḣ U + h U̇ + ḃ; [i̇, ḟ, ġ, ȯ] = ż ⊙ [i(1−i), f(1−f), 1−g², o(1−o)];
        # ċ' = ḟ c + f ċ + i̇ g + i ġ; ḣ' = ȯ tanh c' + o (1 − tanh² c') ċ'
        (h, c), (_, c_new), (dh, dc) = state, new, d_state
        i, f, g, o = jnp.split(gates, 4, axis=-1)
        dz = affine_jvp(x, p.w, dx, dp.w, dp.b) + product_jvp(h, p.u, dh, dp.u)
        dzi, dzf, dzg, dzo = jnp.split(dz, 4, axis=-1)
        tc = jnp.tanh(c_new)
        dc_new = dzf * f * (1 - f) * c + f * dc + dzi * i * (1 - i) * g + i * (1 - g * g) * dzg
        return dzo * o * (1 - o) * tc + o * (1 - tc * tc) * dc_new, dc_new

    return Cell("lstm", LSTMParams, LSTMState, init, lambda p: p.w.shape[0], step,
                summed_step_bwd(step_bwd_factors), step_bwd_factors=step_bwd_factors,
                step_jvp=step_jvp)  # fmt: skip


@op_factory("lstm")
def lstm_op(*, reverse: bool = False, truncate: int | None = None, masked: bool = False) -> Op:
    """``(x, h0, c0, w, u, b[, mask]) -> (hs, h_T, c_T)`` of an LSTM over ``x [..., T, F]``."""
    return sequence_op(lstm_description(), reverse=reverse, truncate=truncate, masked=masked)


@op_factory("lstm_cell")
def lstm_cell_op() -> Op:
    """The op ``(x, h, c, w, u, b) -> (h', c')`` of one LSTM step."""
    return cell_op(lstm_description())


@layer_factory("lstm")
def lstm(
    features: int,
    *,
    forget_bias: float = 1.0,
    return_sequences: bool = True,
    return_state: bool = False,
    reverse: bool = False,
    truncate: int | None = None,
    dtype: Any = jnp.float32,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """An LSTM (gates ``i, f, g, o``; the forget gate's bias starts at ``forget_bias``).

    The sequence options are :func:`~funcnet.layers.recurrent.sequence.sequence_layer`'s;
    ``w_init``, ``u_init``, ``b_init`` fill ``W`` (lecun normal), ``U`` (orthogonal) and ``b``
    (zeros, plus ``forget_bias`` on the forget gate).

    Shapes:
      x: ``[..., T, F]`` (or a ``RecurrentInput``) -> ``[..., T, features]`` or
      ``[..., features]``; the final state is an ``LSTMState(h, c)``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from funcnet.layers import RecurrentInput
      >>> layer = lstm(4, return_state=True)
      >>> _, params, state = layer.init(jax.random.key(0), (2, 5, 3))
      >>> (hs, final), _ = layer.apply(params, state, RecurrentInput(jnp.ones((2, 5, 3))))
      >>> hs.shape, final.c.shape
      ((2, 5, 4), (2, 4))
    """
    cell = lstm_description(forget_bias=forget_bias, w_init=w_init, u_init=u_init, b_init=b_init)
    return sequence_layer(cell, features, return_sequences=return_sequences,
                          return_state=return_state, reverse=reverse, truncate=truncate,
                          dtype=dtype)  # fmt: skip


@layer_factory("lstm_cell")
def lstm_cell(
    features: int,
    *,
    forget_bias: float = 1.0,
    dtype: Any = jnp.float32,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """One LSTM step; apply takes ``(x, LSTMState(h, c))`` and returns the new ``LSTMState``.

    Shapes:
      x: ``[..., F]``, h, c: ``[..., features]`` -> h', c': ``[..., features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> cell = lstm_cell(4)
      >>> shape, params, state = cell.init(jax.random.key(0), (2, 3))
      >>> h, c = jnp.zeros((2, 4)), jnp.zeros((2, 4))
      >>> new, _ = cell.apply(params, state, (jnp.ones((2, 3)), LSTMState(h, c)))
      >>> shape, new.c.shape
      (LSTMState(h=(2, 4), c=(2, 4)), (2, 4))
    """
    cell = lstm_description(forget_bias=forget_bias, w_init=w_init, u_init=u_init, b_init=b_init)
    return cell_layer(cell, features, dtype=dtype)


add_cases("lstm", lambda: sequence_cases(lstm_op, lstm_description(), second_order=True))
add_cases("lstm_cell", lambda: [step_case("batch", lstm_cell_op(), lstm_description())])
add_layer_cases(
    "lstm", lambda: [LayerCase("final_h", lstm(4, return_sequences=False), Arg((2, 3, 3)))]
)
add_layer_cases(
    "lstm_cell",
    lambda: [LayerCase("batch", lstm_cell(4), Arg((2, 3 + 2 * 4)),
                       make_input=split_input(3, lstm_description()))],
)  # fmt: skip
