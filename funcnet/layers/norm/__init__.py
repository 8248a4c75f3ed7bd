"""Normalisation: batch, layer, RMS and group normalisation; derivations: docs/normalization.md."""

from funcnet.layers.norm.batch_norm import (
    BatchNormParams,
    BatchNormState,
    batch_norm,
    batch_norm_eval_op,
    batch_norm_op,
)
from funcnet.layers.norm.group_norm import GroupNormParams, group_norm, group_norm_op
from funcnet.layers.norm.layer_norm import (
    LayerNormParams,
    layer_norm,
    layer_norm_op,
    rms_norm,
    rms_norm_op,
)

__all__ = [
    "BatchNormParams",
    "BatchNormState",
    "GroupNormParams",
    "LayerNormParams",
    "batch_norm",
    "batch_norm_eval_op",
    "batch_norm_op",
    "group_norm",
    "group_norm_op",
    "layer_norm",
    "layer_norm_op",
    "rms_norm",
    "rms_norm_op",
]
