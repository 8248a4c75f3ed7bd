"""The pre-norm transformer block, composed from funcnet layers::

    x ← x + MHA(LN(x))          (multi-head self-attention, optionally causal or lean)
    x ← x + W₂ gelu(W₁ LN(x))   (the MLP)

Each piece is a layer with a hand-written backward (layer_norm, multi_head_attention, dense,
gelu, add); ``residual`` and ``serial`` join them. Docs: docs/attention.md.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from funcnet.core.layer import Layer, Shape, check_axis_size, check_input_shape, check_positive_int
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.registry import Arg
from funcnet.layers.activations import gelu
from funcnet.layers.attention.multi_head import multi_head_attention
from funcnet.layers.combinators import residual, serial
from funcnet.layers.dense import dense
from funcnet.layers.norm import layer_norm

NAME = "transformer_block"


@layer_factory("transformer_block")
def transformer_block(
    features: int,
    num_heads: int,
    *,
    hidden_features: int | None = None,
    causal: bool = False,
    lean: bool = False,
    block_size: int | None = None,
    dtype: Any = jnp.float32,
) -> Layer:
    """A pre-norm transformer block on ``x [..., T, features]``.

    Args:
      features: features ``D`` of the input and output.
      num_heads: attention heads (must divide ``features``).
      hidden_features: hidden width of the MLP (default ``4·features``).
      causal, lean, block_size: passed to :func:`multi_head_attention`.
      dtype: dtype of every parameter.

    Shapes:
      x: ``[..., T, features]`` -> y: the same shape.

    Examples:
      >>> import jax
      >>> block = transformer_block(8, 2, causal=True)
      >>> out_shape, params, state = block.init(jax.random.key(0), (3, 5, 8))
      >>> out_shape
      (3, 5, 8)
    """
    check_positive_int(NAME, "features", features)
    check_positive_int(NAME, "num_heads", num_heads)
    if features % num_heads:
        raise ValueError(
            f"{NAME}: expected features divisible by num_heads={num_heads}, got {features}."
        )
    hidden_features = 4 * features if hidden_features is None else hidden_features
    check_positive_int(NAME, "hidden_features", hidden_features)
    attention = multi_head_attention(
        num_heads, causal=causal, lean=lean, block_size=block_size, dtype=dtype
    )
    body = serial(
        residual(layer_norm(dtype=dtype), attention),
        residual(layer_norm(dtype=dtype), dense(hidden_features, dtype=dtype), gelu(),
                 dense(features, dtype=dtype)),
    )  # fmt: skip

    def init(key: jax.Array, input_shape: Shape):
        shape = check_input_shape(NAME, input_shape)
        if len(shape) < 2:
            raise ValueError(f"{NAME}: expected an input [..., T, {features}], got {shape}.")
        check_axis_size(NAME, shape, -1, features)
        return body.init(key, shape)

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        check_axis_size(NAME, jnp.shape(x), -1, features)  # the inner layers check the rest
        return body.apply(params, state, x, key=key, train=train, backward=backward)

    return Layer(NAME, init, apply)


add_layer_cases(
    NAME,
    lambda: [
        LayerCase("causal", transformer_block(4, 2, hidden_features=6, causal=True), Arg((2, 3, 4)))
    ],
)
