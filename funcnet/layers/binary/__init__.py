"""Binary and low-bit networks: quantisers with intended (straight-through, surrogate) gradients,
binary dense and convolution layers, BinaryConnect's latent-weight clipping and Bop as optax
transformations, packed-bit inference. See docs/binary.md."""

from funcnet.layers.binary.layers import (
    BinaryParams,
    binary_conv2d,
    binary_dense,
    latent_weight_mask,
)
from funcnet.layers.binary.levels import dorefa_op, ste_heaviside_op, ste_ternary_op
from funcnet.layers.binary.optimizers import bop, bop_with, clip_latent_weights
from funcnet.layers.binary.scaled import magnitude_aware_sign_op
from funcnet.layers.binary.sign import approx_sign_op, ede_sign_op, ste_sign_op, swish_sign_op

__all__ = [
    "BinaryParams",
    "approx_sign_op",
    "binary_conv2d",
    "binary_dense",
    "bop",
    "bop_with",
    "clip_latent_weights",
    "dorefa_op",
    "ede_sign_op",
    "latent_weight_mask",
    "magnitude_aware_sign_op",
    "ste_heaviside_op",
    "ste_sign_op",
    "ste_ternary_op",
    "swish_sign_op",
]
