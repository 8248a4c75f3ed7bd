"""A decoder-only (causal) transformer language model over token ids.

ids [B, T] → embedding → + positions → transformer_block × n → layer_norm → dense(V)
→ logits [B, T, V]
"""

from __future__ import annotations

from typing import Any, Literal

import jax.numpy as jnp

from funcnet.core.layer import Layer, check_positive_int
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.registry import Arg
from funcnet.layers.attention import learned_positions, sinusoidal_positions, transformer_block
from funcnet.layers.combinators import serial
from funcnet.layers.dense import dense
from funcnet.layers.embedding import embedding
from funcnet.layers.norm import layer_norm


@layer_factory("transformer_lm")
def transformer_lm(
    vocab_size: int,
    *,
    context: int,
    features: int = 64,
    num_heads: int = 4,
    num_blocks: int = 2,
    hidden_features: int | None = None,
    positions: Literal["learned", "sinusoidal"] = "learned",
    lean: bool = False,
    block_size: int | None = None,
    dtype: Any = jnp.float32,
) -> Layer:
    """A causal transformer mapping ids ``[..., T]`` (``T ≤ context``) to logits ``[..., T, V]``.

    Examples:
      >>> import jax
      >>> lm = transformer_lm(10, context=8, features=8, num_heads=2, num_blocks=1)
      >>> lm.init(jax.random.key(0), (2, 8))[0]
      (2, 8, 10)
    """
    check_positive_int("transformer_lm", "num_blocks", num_blocks)
    check_positive_int("transformer_lm", "context", context)
    if positions not in ("learned", "sinusoidal"):
        raise ValueError(
            f"transformer_lm: expected positions 'learned' or 'sinusoidal', got {positions!r}."
        )
    blocks = [
        transformer_block(features, num_heads, hidden_features=hidden_features, causal=True,
                          lean=lean, block_size=block_size, dtype=dtype)
        for _ in range(num_blocks)
    ]  # fmt: skip
    position_layer = (
        learned_positions(context, dtype=dtype)
        if positions == "learned"
        else sinusoidal_positions()
    )
    return serial(
        embedding(vocab_size, features, dtype=dtype),
        position_layer,
        *blocks,
        layer_norm(dtype=dtype),
        dense(vocab_size, dtype=dtype),
    )._replace(name="transformer_lm")


def _cases() -> list[LayerCase]:
    lm = transformer_lm(7, context=4, features=4, num_heads=2, num_blocks=1, hidden_features=6,
                        positions="sinusoidal")  # fmt: skip
    return [LayerCase("sinusoidal", lm, Arg((2, 3), "int", high=7))]


add_layer_cases("transformer_lm", _cases)
