"""The multilayer perceptron: dense layers with an activation between them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax.numpy as jnp

from funcnet.core.layer import Layer, check_positive_int
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.registry import Arg
from funcnet.layers.activations import relu
from funcnet.layers.combinators import serial
from funcnet.layers.dense import dense
from funcnet.layers.norm import batch_norm as batch_norm_layer


@layer_factory("mlp")
def mlp(
    hidden_features: Sequence[int],
    features: int,
    *,
    activation: Callable[[], Layer] | None = None,
    batch_norm: bool = False,
    dtype: jnp.dtype = jnp.float32,
) -> Layer:
    """``dense(h1) → act → … → dense(h_k) → act → dense(features)``; the output is logits.

    Args:
      hidden_features: widths of the hidden layers (may be empty: a linear model).
      features: width of the output layer.
      activation: a layer factory (``relu`` by default).
      batch_norm: put a :func:`~funcnet.layers.norm.batch_norm` between each hidden dense layer and
        its activation; those dense layers then have no bias (the normalisation removes it).
      dtype: parameter dtype.

    Shapes:
      x: ``[..., n_in]`` -> y: ``[..., features]``.
    """
    activation = activation or relu
    if not callable(activation):
        raise TypeError(f"mlp: expected activation to be a layer factory, got {activation!r}.")
    for width in hidden_features:
        check_positive_int("mlp", "every hidden width", width)
    check_positive_int("mlp", "features", features)
    layers: list[Layer] = []
    for width in hidden_features:
        if batch_norm:
            layers += [dense(width, use_bias=False, dtype=dtype), batch_norm_layer(dtype=dtype)]
        else:
            layers.append(dense(width, dtype=dtype))
        layers.append(activation())
    return serial(*layers, dense(features, dtype=dtype))._replace(name="mlp")


add_layer_cases("mlp", lambda: [LayerCase("one_hidden", mlp((4,), 3), Arg((3, 5)))])
