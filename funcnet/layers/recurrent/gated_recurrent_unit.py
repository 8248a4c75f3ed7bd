"""The GRU in the cuDNN / PyTorch form: the reset gate multiplies the hidden product::

    [r, u] = σ(x W_ru + b_ru + h U_ru)     m = h U_n + b_hn     n = tanh(x W_n + b_n + r ⊙ m)
    h' = (1 − u) ⊙ n + u ⊙ h

Its description (:class:`~funcnet.layers.recurrent.cell.Cell`), then the ops and layers the
generic machinery builds from it: ``gru_op`` / ``gru`` (a sequence), ``gru_cell_op`` /
``gru_cell`` (one step). ``W [F, 3H]``, ``U [H, 3H]``, ``b [3H]`` (gates ``r, u, n``),
``b_hn [H]``; the state is ``h [..., H]``. Backward::

    dzn = dh' (1 − u)(1 − n²)     dzr = dzn m r(1 − r)     dzu = dh' (h − n) u(1 − u)
    dzx = [dzr, dzu, dzn]     dzh = [dzr, dzu, dzn ⊙ r]     db_hn = Σ dzn ⊙ r
    dx = dzx Wᵀ     dh = dh' ⊙ u + dzh Uᵀ     dW = Σ xᵀ dzx     dU = Σ hᵀ dzh     db = Σ dzx

The step's residuals are ``r, u, n, m``. Forward mode, its transpose::

    ṙ = r(1 − r)(ẋ W + x Ẇ + ḃ + ḣ U + h U̇)_r     u̇ likewise     ṁ = (ḣ U + h U̇)_n + ḃ_hn
    ṅ = (1 − n²)((ẋ W + x Ẇ + ḃ)_n + ṙ m + r ṁ)     ḣ' = (1 − u) ṅ + u̇ (h − n) + u ḣ

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
    add_bias,
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
from funcnet.layers.recurrent.sequence import masked_input, sequence_layer
from funcnet.layers.recurrent.step import cell_layer, cell_op, split_input, step_case


class GRUParams(NamedTuple):
    w: jax.Array  # [F, 3H], gates r, u, n
    u: jax.Array  # [H, 3H]
    b: jax.Array  # [3H], input-side bias
    b_hn: jax.Array  # [H], hidden-side bias of the candidate (inside the reset)


def gru_description(
    *,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Cell:
    """The GRU cell (cuDNN / PyTorch form); ``b`` and ``b_hn`` from ``b_init``."""

    def init(key, in_features, features, dtype):
        w, u, b = init_gated(key, in_features, features, 3, dtype, w_init, u_init, b_init)
        b_hn = b_init(jax.random.split(key, 4)[3], (features,), dtype)
        return GRUParams(w, u, b, b_hn)

    def step(x, state, p):
        (h,) = state
        xr, xu, xn = jnp.split(affine(x, p.w, p.b), 3, axis=-1)
        hr, hu, hn = jnp.split(h @ p.u, 3, axis=-1)
        r, upd = sigmoid(xr + hr), sigmoid(xu + hu)
        m = add_bias(hn, p.b_hn)
        n = jnp.tanh(xn + r * m)
        return (n + upd * (h - n),), jnp.concatenate([r, upd, n, m], axis=-1)

    def step_bwd_factors(x, p, state, new, res, d_new):
        # dzx = [dzr, dzu, dzn], dzh = [dzr, dzu, dzn r]; dh = dh' u + dzh Uᵀ; per example
        # dW = xᵀ dzx, dU = hᵀ dzh, db = dzx, db_hn = dzn r
        (h,), (dh_new,) = state, d_new
        r, upd, n, m = jnp.split(res, 4, axis=-1)
        dzn = dh_new * (1 - upd) * (1 - n * n)
        dzr = dzn * m * r * (1 - r)
        dzu = dh_new * (h - n) * upd * (1 - upd)
        dzm = dzn * r
        dx, dw, db = affine_factors(x, p.w, jnp.concatenate([dzr, dzu, dzn], axis=-1))
        dh, du = product_factors(h, p.u, jnp.concatenate([dzr, dzu, dzm], axis=-1))
        return dx, (dh + dh_new * upd,), GRUParams(dw, du, db, (None, dzm))

    def step_jvp(x, p, state, new, res, dx, d_state, dp):
        # żx = ẋ W + x Ẇ + ḃ, żh = ḣ U + h U̇; ṙ = r(1−r)(żx + żh)_r, u̇ likewise, ṁ = żh_n + ḃ_hn,
        # ṅ = (1−n²)(żx_n + ṙ m + r ṁ); ḣ' = (1 − u) ṅ + u̇ (h − n) + u ḣ
        (h,), (dh,) = state, d_state
        r, upd, n, m = jnp.split(res, 4, axis=-1)
        dxr, dxu, dxn = jnp.split(affine_jvp(x, p.w, dx, dp.w, dp.b), 3, axis=-1)
        dhr, dhu, dhn = jnp.split(product_jvp(h, p.u, dh, dp.u), 3, axis=-1)
        dr, du = (dxr + dhr) * r * (1 - r), (dxu + dhu) * upd * (1 - upd)
        dn = (dxn + dr * m + r * add_bias(dhn, dp.b_hn)) * (1 - n * n)
        return ((1 - upd) * dn + du * (h - n) + upd * dh,)

    return Cell("gru", GRUParams, None, init, lambda p: p.w.shape[0], step,
                summed_step_bwd(step_bwd_factors), step_bwd_factors=step_bwd_factors,
                step_jvp=step_jvp)  # fmt: skip


@op_factory("gru")
def gru_op(*, reverse: bool = False, truncate: int | None = None, masked: bool = False) -> Op:
    """``(x, h0, w, u, b, b_hn[, mask]) -> (hs, h_T)`` of a GRU over ``x [..., T, F]``."""
    return sequence_op(gru_description(), reverse=reverse, truncate=truncate, masked=masked)


@op_factory("gru_cell")
def gru_cell_op() -> Op:
    """The op ``(x, h, w, u, b, b_hn) -> h'`` of one GRU step (cuDNN / PyTorch form)."""
    return cell_op(gru_description())


@layer_factory("gru")
def gru(
    features: int,
    *,
    return_sequences: bool = True,
    return_state: bool = False,
    reverse: bool = False,
    truncate: int | None = None,
    dtype: Any = jnp.float32,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """A GRU in the cuDNN / PyTorch form (the reset gate multiplies ``h U_n + b_hn``).

    The sequence options are :func:`~funcnet.layers.recurrent.sequence.sequence_layer`'s;
    ``w_init``, ``u_init``, ``b_init`` fill ``W`` (lecun normal), ``U`` (orthogonal) and the
    biases ``b``, ``b_hn`` (zeros).

    Shapes:
      x: ``[..., T, F]`` (or a ``RecurrentInput``) -> ``[..., T, features]`` or
      ``[..., features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = gru(4, reverse=True)
      >>> shape, params, state = layer.init(jax.random.key(0), (2, 5, 3))
      >>> hs, _ = layer.apply(params, state, jnp.ones((2, 5, 3)))
      >>> shape, hs.shape
      ((2, 5, 4), (2, 5, 4))
    """
    cell = gru_description(w_init=w_init, u_init=u_init, b_init=b_init)
    return sequence_layer(cell, features, return_sequences=return_sequences,
                          return_state=return_state, reverse=reverse, truncate=truncate,
                          dtype=dtype)  # fmt: skip


@layer_factory("gru_cell")
def gru_cell(
    features: int,
    *,
    dtype: Any = jnp.float32,
    w_init: Initializer | None = None,
    u_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """One GRU step (cuDNN form); apply takes ``(x, h)`` and returns ``h'``.

    Shapes:
      x: ``[..., F]``, h: ``[..., features]`` -> h': ``[..., features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> cell = gru_cell(4)
      >>> shape, params, state = cell.init(jax.random.key(0), (2, 3))
      >>> h, _ = cell.apply(params, state, (jnp.ones((2, 3)), jnp.zeros((2, 4))))
      >>> shape, h.shape
      ((2, 4), (2, 4))
    """
    cell = gru_description(w_init=w_init, u_init=u_init, b_init=b_init)
    return cell_layer(cell, features, dtype=dtype)


add_cases("gru", lambda: sequence_cases(gru_op, gru_description()))
add_cases("gru_cell", lambda: [step_case("batch", gru_cell_op(), gru_description())])
add_layer_cases(
    "gru",
    lambda: [LayerCase("masked_reverse", gru(4, reverse=True), Arg((2, 3, 3 + 1)),
                       make_input=masked_input)],
)  # fmt: skip
add_layer_cases(
    "gru_cell",
    lambda: [LayerCase("batch", gru_cell(4), Arg((2, 3 + 4)),
                       make_input=split_input(3, gru_description()))],
)  # fmt: skip
