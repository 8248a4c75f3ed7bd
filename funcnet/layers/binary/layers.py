"""Binary layers (BinaryConnect, BNN, XNOR-Net): latent real weights, binarised in the forward.

``binary_dense`` and ``binary_conv2d`` keep real-valued *latent* weights ``w`` (what the
optimizer updates) and compute with ``q(w)`` — ``sign(w)`` with a straight-through gradient by
default, ``mean|w| ⊙ sign(w)`` with ``xnor_scale`` — and, with an ``input_quantizer``, with
binarised inputs too (BNN: binary weights and activations). The layer is ``dense``/``conv2d``
applied to ``(q_x(x), q(w), b)``, so its backward is theirs composed with the quantisers'
intended gradients:

    dx = q_x′(x) ⊙ (dY q(w)ᵀ)      dw = q′(w) ⊙ (q_x(x)ᵀ dY)      db = Σ dY

Params: :class:`BinaryParams` (a type of its own, so that :func:`latent_weight_mask` finds the
latent weights for BinaryConnect's clipping and for Bop). See docs/binary.md.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from funcnet.core.layer import Layer, check_floating
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, check_backward
from funcnet.core.registry import Arg
from funcnet.initializers import Initializer, zeros
from funcnet.layers.binary.scaled import magnitude_aware_sign_op
from funcnet.layers.binary.sign import ste_sign_op
from funcnet.layers.conv import conv2d
from funcnet.layers.dense import dense
from funcnet.layers.norm import layer_norm_op


class BinaryParams(NamedTuple):
    w: jax.Array  # latent real-valued weights: dense [n_in, n_out], conv [kh, kw, C_in, C_out]
    b: jax.Array | None  # [n_out], or None without bias


def latent_weight_mask(params: Any) -> Any:
    """``params``' structure with ``True`` at every binary layer's latent weight ``w`` and
    ``False`` elsewhere (an optax mask: BinaryConnect's clipping, Bop)."""

    def mark(node):
        if isinstance(node, BinaryParams):
            return BinaryParams(True, None if node.b is None else False)
        return False

    return jax.tree.map(mark, params, is_leaf=lambda n: isinstance(n, BinaryParams))


def _check_quantizer(name: str, what: str, op: Any) -> None:
    if op is not None and not isinstance(op, Op):
        raise TypeError(f"{name}: expected {what} to be an op (e.g. ste_sign_op()), got {op!r}.")


def _binarised(name: str, inner: Layer, weight_q: Op | None, xnor_scale: bool,
               input_q: Op | None, balance_weights: bool,
               num_reduce_axes: int) -> Layer:  # fmt: skip
    """``inner`` (dense or conv2d) applied to the quantised input and latent weights."""
    _check_quantizer(name, "weight_quantizer", weight_q)
    _check_quantizer(name, "input_quantizer", input_q)
    for what, flag in (("xnor_scale", xnor_scale), ("balance_weights", balance_weights)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name}: expected {what} to be a bool, got {flag!r}.")
    # Libra-PB: each output channel's weights centred and standardised (layer norm over them)
    axes = tuple(range(-1 - num_reduce_axes, -1))
    balance = layer_norm_op(axes, use_scale=False, use_bias=False) if balance_weights else None
    if xnor_scale and weight_q is not None:
        raise ValueError(
            f"{name}: expected either xnor_scale=True or a weight_quantizer, got both "
            f"({weight_q.name})."
        )
    if xnor_scale:
        weight_q = magnitude_aware_sign_op(num_reduce_axes)
    weight_q = weight_q or ste_sign_op()

    def init(key: jax.Array, input_shape: Any) -> tuple[Any, BinaryParams, tuple]:
        out_shape, params, state = inner.init(key, input_shape)
        return out_shape, BinaryParams(params.w, params.b), state

    def apply(params: BinaryParams, state, x, *, key=None, train=False, backward="manual"):
        check_backward(backward, name)
        w_dtype = jnp.result_type(params.w)
        if not jnp.issubdtype(w_dtype, jnp.floating):
            raise ValueError(
                f"{name}: expected floating-point latent weights, got dtype {w_dtype}."
            )
        check_floating(name, x, w_dtype)
        if input_q is not None:
            x = input_q(x, backward=backward)
        w = params.w if balance is None else balance(params.w, backward=backward)
        w = weight_q(w, backward=backward)
        return inner.apply(params._replace(w=w), state, x, key=key, train=train, backward=backward)

    return Layer(name, init, apply)


@layer_factory("binary_dense")
def binary_dense(
    features: int,
    *,
    weight_quantizer: Op | None = None,
    input_quantizer: Op | None = None,
    xnor_scale: bool = False,
    balance_weights: bool = False,
    use_bias: bool = False,
    w_init: Initializer | None = None,
    b_init: Initializer = zeros,
    dtype: Any = jnp.float32,
) -> Layer:
    """A dense layer computing with binarised latent weights (and, optionally, inputs).

    Args:
      features: number of output features.
      weight_quantizer: the weights' quantiser op (``ste_sign_op()`` by default).
      input_quantizer: the inputs' quantiser op (``ste_sign_op()`` for a BNN), or None.
      xnor_scale: scale each output by ``mean|w|`` over its inputs (XNOR-Net); excludes
        ``weight_quantizer``.
      balance_weights: centre and standardise each output's weights before quantising them
        (IR-Net's Libra-PB; a layer norm over the kernel's input axes, its backward included).
      use_bias, w_init, b_init, dtype: as :func:`~funcnet.layers.dense.dense`; ``dtype`` is the
        latent weights' dtype (floating point).

    Shapes:
      x: ``[..., n_in]`` -> y: ``[..., features]``; w: ``[n_in, features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = binary_dense(3, input_quantizer=ste_sign_op())
      >>> _, params, state = layer.init(jax.random.key(0), (2, 4))
      >>> y, _ = layer.apply(params, state, jnp.ones((2, 4)))
      >>> bool(jnp.all(jnp.abs(y) <= 4) and jnp.all(y % 2 == 0))  # sums of four ±1
      True
    """
    inner = dense(features, use_bias=use_bias, w_init=w_init, b_init=b_init, dtype=dtype)
    return _binarised("binary_dense", inner, weight_quantizer, xnor_scale, input_quantizer,
                      balance_weights, 1)  # fmt: skip


@layer_factory("binary_conv2d")
def binary_conv2d(
    features: int,
    kernel_size: Any,
    *,
    stride: Any = 1,
    padding: Any = "SAME",
    weight_quantizer: Op | None = None,
    input_quantizer: Op | None = None,
    xnor_scale: bool = False,
    balance_weights: bool = False,
    use_bias: bool = False,
    w_init: Initializer | None = None,
    b_init: Initializer = zeros,
    dtype: Any = jnp.float32,
) -> Layer:
    """A 2-d convolution computing with binarised latent weights (and, optionally, inputs).

    Args:
      features, kernel_size, stride, padding: as :func:`~funcnet.layers.conv.conv2d`.
      weight_quantizer, input_quantizer, xnor_scale, balance_weights: as :func:`binary_dense`
        (the XNOR scale and the balancing are over each output channel's window and inputs).
      use_bias, w_init, b_init, dtype: as :func:`~funcnet.layers.conv.conv2d`.

    Shapes:
      x: ``[..., H, W, C_in]`` -> y: ``[..., H', W', features]``; w: ``[kh, kw, C_in, features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = binary_conv2d(4, 3, xnor_scale=True)
      >>> _, params, _ = jax.eval_shape(lambda: layer.init(jax.random.key(0), (1, 5, 5, 2)))
      >>> params.w.shape, params.w.dtype  # latent real weights
      ((3, 3, 2, 4), dtype('float32'))
    """
    inner = conv2d(features, kernel_size, stride=stride, padding=padding, use_bias=use_bias,
                   w_init=w_init, b_init=b_init, dtype=dtype)  # fmt: skip
    return _binarised("binary_conv2d", inner, weight_quantizer, xnor_scale, input_quantizer,
                      balance_weights, 3)  # fmt: skip


# Inputs kept 0.05 from the sign's jump and the clip's kinks; the layer contract then checks the
# layer behind a dense layer (whose gradients pass through the quantisers' intended gradients).
_AWAY = {"avoid": (-1.0, 0.0, 1.0)}
add_layer_cases("binary_dense", lambda: [
    LayerCase("bnn_xnor", binary_dense(3, input_quantizer=ste_sign_op(), xnor_scale=True,
                                       use_bias=True), Arg((2, 4), **_AWAY)),
])  # fmt: skip
add_layer_cases("binary_conv2d", lambda: [
    LayerCase("bnn", binary_conv2d(2, 2, input_quantizer=ste_sign_op()),
              Arg((1, 3, 3, 2), **_AWAY)),
])  # fmt: skip
