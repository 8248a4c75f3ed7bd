"""A small convolutional classifier for 1-d sequences or 2-d images (channels last)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp

from funcnet.core.layer import Layer, check_int, check_positive_int
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.registry import Arg
from funcnet.initializers import constant
from funcnet.layers.activations import relu
from funcnet.layers.combinators import serial
from funcnet.layers.conv import conv1d, conv2d
from funcnet.layers.dense import dense
from funcnet.layers.flatten import flatten
from funcnet.layers.norm import batch_norm as batch_norm_layer
from funcnet.layers.pool import max_pool1d, max_pool2d

# A small positive bias keeps every relu off its kink where the input is exactly zero (the
# blank background of an image): there the gradient check's central differences would
# straddle the kink, and the units would start with no gradient.
CONV_BIAS_INIT = constant(0.01)


@layer_factory("cnn")
def cnn(
    num_position_axes: int,
    features: int,
    *,
    channels: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    hidden_features: int = 128,
    batch_norm: bool = False,
    dtype: Any = jnp.float32,
) -> Layer:
    """``[conv → relu → max-pool 2] × len(channels) → flatten → dense → relu → dense``.

    Args:
      num_position_axes: 1 for sequences ``[..., L, C]``, 2 for images ``[..., H, W, C]``.
      features: width of the output layer (logits).
      channels: output channels of each convolution block.
      kernel_size: the convolutions' window (SAME padding, stride 1).
      hidden_features: width of the hidden dense layer.
      batch_norm: put a :func:`~funcnet.layers.norm.batch_norm` (over the channels) after each
        convolution and after the hidden dense layer, before the relu; those layers then have
        no bias (the normalisation removes it).
      dtype: the parameters' dtype (a floating dtype); the input must have it.

    Shapes:
      x: ``[..., L, C]`` (1-d) or ``[..., H, W, C]`` (2-d) -> y: ``[..., features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> model = cnn(2, 10, channels=(4,), hidden_features=8, dtype=jnp.float16)
      >>> shape, params, _ = model.init(jax.random.key(0), (2, 8, 8, 1))
      >>> shape, params[0].w.dtype
      ((2, 10), dtype('float16'))
    """
    check_int("cnn", "num_position_axes", num_position_axes)
    if num_position_axes not in (1, 2):
        raise ValueError(f"cnn: expected num_position_axes 1 or 2, got {num_position_axes!r}.")
    for c in channels:
        check_positive_int("cnn", "every channel count", c)
    check_positive_int("cnn", "features", features)
    check_positive_int("cnn", "hidden_features", hidden_features)
    conv, pool = (conv1d, max_pool1d) if num_position_axes == 1 else (conv2d, max_pool2d)
    layers: list[Layer] = []
    for c in channels:
        if batch_norm:
            layers += [conv(c, kernel_size, use_bias=False, dtype=dtype),
                       batch_norm_layer(dtype=dtype)]  # fmt: skip
        else:
            layers.append(conv(c, kernel_size, b_init=CONV_BIAS_INIT, dtype=dtype))
        layers += [relu(), pool(2)]
    layers.append(flatten(num_position_axes=num_position_axes))
    if batch_norm:
        layers += [dense(hidden_features, use_bias=False, dtype=dtype),
                   batch_norm_layer(dtype=dtype)]  # fmt: skip
    else:
        layers.append(dense(hidden_features, dtype=dtype))
    return serial(*layers, relu(), dense(features, dtype=dtype))._replace(name="cnn")


add_layer_cases(
    "cnn",
    lambda: [LayerCase("sequence", cnn(1, 3, channels=(2,), hidden_features=4), Arg((2, 6, 1)))],
)
