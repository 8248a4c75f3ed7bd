"""Attention: scaled dot-product (direct and memory-lean), heads, multi-head attention, positions
and the transformer block; derivations: docs/attention.md.
"""

from funcnet.layers.attention.dot_product import dot_product_attention_op
from funcnet.layers.attention.heads import merge_heads_op, split_heads_op
from funcnet.layers.attention.lean import dot_product_attention_lean_op
from funcnet.layers.attention.multi_head import MultiHeadAttentionParams, multi_head_attention
from funcnet.layers.attention.positional import (
    PositionsParams,
    add_positions_op,
    learned_positions,
    sinusoidal_positions,
    sinusoidal_table,
)
from funcnet.layers.attention.transformer import transformer_block

__all__ = [
    "MultiHeadAttentionParams",
    "PositionsParams",
    "add_positions_op",
    "dot_product_attention_lean_op",
    "dot_product_attention_op",
    "learned_positions",
    "merge_heads_op",
    "multi_head_attention",
    "sinusoidal_positions",
    "sinusoidal_table",
    "split_heads_op",
    "transformer_block",
]
