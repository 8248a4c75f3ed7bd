"""The Elman RNN: ``h' = act(x W + h U + b)``, ``act`` tanh or relu.

Its description (:class:`~funcnet.layers.recurrent.cell.Cell`), then the ops and layers the
generic machinery builds from it: ``rnn_op`` / ``rnn`` (a sequence), ``rnn_cell_op`` /
``rnn_cell`` (one step). ``W [F, H]``, ``U [H, H]``, ``b [H]``; the state is ``h [..., H]``.
Backward (``act'`` read off ``h'`` itself: ``1 − h'²`` or ``[h' > 0]``)::

    dz = dh' ⊙ act'     dx = dz Wᵀ     dh = dz Uᵀ     dW = Σ xᵀ dz     dU = Σ hᵀ dz     db = Σ dz

Forward mode, its transpose: ``ḣ' = act' ⊙ (ẋ W + x Ẇ + ḣ U + h U̇ + ḃ)``.

Derivation: docs/recurrent.md.
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
    summed_step_bwd,
)
from funcnet.layers.recurrent.scan import sequence_cases, sequence_op
from funcnet.layers.recurrent.sequence import sequence_layer
from funcnet.layers.recurrent.step import cell_layer, cell_op, split_input, step_case

# each activation with its derivative applied to dy, read off the output y = act(z); relu as a
# select, as autodiff differentiates it (a NaN cotangent at z < 0 gives 0; at a NaN z, y is NaN
# and the select passes dy on: y <= 0 exactly where z <= 0)
ACTIVATIONS = {
    "tanh": (jnp.tanh, lambda y, dy: dy * (1 - y * y)),
    "relu": (
        lambda z: jnp.where(z <= 0, jnp.zeros_like(z), z),
        lambda y, dy: jnp.where(y <= 0, 0, dy),
    ),
}


class RNNParams(NamedTuple):
    w: jax.Array  # [F, H]
    u: jax.Array  # [H, H]
    b: jax.Array  # [H]


def check_activation(name: str, activation: Any) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"{name}: expected activation in {tuple(ACTIVATIONS)}, got {activation!r}."
        )


def rnn_description(
    activation: str = "tanh",
    *,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Cell:
    """The Elman cell: ``h' = act(x W + h U + b)``; ``W`` lecun-normal, ``U`` orthogonal."""
    check_activation("rnn", activation)
    act, act_bwd = ACTIVATIONS[activation]

    def init(key, in_features, features, dtype):
        return RNNParams(*init_gated(key, in_features, features, 1, dtype, w_init, u_init, b_init))

    def step(x, state, p):
        (h,) = state
        return (act(affine(x, p.w, p.b) + h @ p.u),), ()

    def step_bwd_factors(x, p, state, new, res, d_new):
        # dz = dh' ⊙ act'(z); dx = dz Wᵀ, dh = dz Uᵀ; per example dW = xᵀ dz, dU = hᵀ dz, db = dz
        del res
        dz = act_bwd(new[0], d_new[0])
        dx, dw, db = affine_factors(x, p.w, dz)
        dh, du = product_factors(state[0], p.u, dz)
        return dx, (dh,), RNNParams(dw, du, db)

    def step_jvp(x, p, state, new, res, dx, d_state, dp):
        # ż = ẋ W + x Ẇ + ḣ U + h U̇ + ḃ; ḣ' = act'(z) ⊙ ż (the same diagonal act' as the bwd)
        del res
        dz = affine_jvp(x, p.w, dx, dp.w, dp.b) + product_jvp(state[0], p.u, d_state[0], dp.u)
        return (act_bwd(new[0], dz),)

    return Cell("rnn", RNNParams, None, init, lambda p: p.w.shape[0], step,
                summed_step_bwd(step_bwd_factors), step_bwd_factors=step_bwd_factors,
                step_jvp=step_jvp)  # fmt: skip


@op_factory("rnn")
def rnn_op(
    activation: str = "tanh",
    *,
    reverse: bool = False,
    truncate: int | None = None,
    masked: bool = False,
) -> Op:
    """``(x, h0, w, u, b[, mask]) -> (hs, h_T)`` of an Elman RNN over ``x [..., T, F]``."""
    return sequence_op(rnn_description(activation), reverse=reverse, truncate=truncate,
                       masked=masked)  # fmt: skip


@op_factory("rnn_cell")
def rnn_cell_op(activation: str = "tanh") -> Op:
    """The op ``(x, h, w, u, b) -> h' = act(x W + h U + b)``."""
    return cell_op(rnn_description(activation))


@layer_factory("rnn")
def rnn(
    features: int,
    *,
    activation: str = "tanh",
    return_sequences: bool = True,
    return_state: bool = False,
    reverse: bool = False,
    truncate: int | None = None,
    dtype: Any = jnp.float32,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """An Elman RNN ``h_t = act(x_t W + h_{t-1} U + b)``, ``act`` ``"tanh"`` or ``"relu"``.

    The sequence options are :func:`~funcnet.layers.recurrent.sequence.sequence_layer`'s;
    ``w_init``, ``u_init``, ``b_init`` fill ``W`` (lecun normal), ``U`` (orthogonal) and ``b``
    (zeros).

    Shapes:
      x: ``[..., T, F]`` (or a ``RecurrentInput``) -> ``[..., T, features]`` or
      ``[..., features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = rnn(4, return_sequences=False)
      >>> shape, params, state = layer.init(jax.random.key(0), (2, 5, 3))
      >>> h, _ = layer.apply(params, state, jnp.ones((2, 5, 3)))
      >>> shape, h.shape
      ((2, 4), (2, 4))
    """
    cell = rnn_description(activation, w_init=w_init, u_init=u_init, b_init=b_init)
    return sequence_layer(cell, features, return_sequences=return_sequences,
                          return_state=return_state, reverse=reverse, truncate=truncate,
                          dtype=dtype)  # fmt: skip


@layer_factory("rnn_cell")
def rnn_cell(
    features: int,
    *,
    activation: str = "tanh",
    dtype: Any = jnp.float32,
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
    check_activation("rnn_cell", activation)
    cell = rnn_description(activation, w_init=w_init, u_init=u_init, b_init=b_init)
    return cell_layer(cell, features, dtype=dtype)


ALL_SEQUENCE_CASES = ("plain", "masked", "masked_reverse_batch_axes")
# the masks, reverse and batch axes are the generic scan's: the cheapest cell runs every case
add_cases("rnn", lambda: sequence_cases(rnn_op, rnn_description(), ALL_SEQUENCE_CASES))
add_cases(
    "rnn_cell",
    lambda: [
        step_case("tanh", rnn_cell_op("tanh"), rnn_description()),
        step_case("relu_batch_axes", rnn_cell_op("relu"), rnn_description(), (2, 2), False),
    ],
)
add_layer_cases("rnn", lambda: [LayerCase("sequences", rnn(4), Arg((2, 3, 3)))])
add_layer_cases(
    "rnn_cell",
    lambda: [
        LayerCase(
            "tanh", rnn_cell(4), Arg((2, 3 + 4)), make_input=split_input(3, rnn_description())
        )
    ],
)
