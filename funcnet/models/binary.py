"""Binary multilayer perceptrons (docs/binary.md): BinaryConnect (binary weights, real
activations) and BNN / XNOR-Net (binary weights and activations, first and last layer real).

    binaryconnect_mlp   binary_dense(h₁) → bn → relu → … → dense(features)
    bnn_mlp             dense(h₁) → bn → q → binary_dense(h₂) → bn → q → … → dense(features)

``q`` is the activations' quantiser (``ste_sign_op()`` by default); each binary layer's weights
are latent reals binarised in the forward. Batch normalisation after every binary layer sets
the scale the ±1 sums lack (hence no biases before it).
"""

from __future__ import annotations

from collections.abc import Sequence

from funcnet.core.layer import Layer, check_positive_int, elementwise
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op
from funcnet.core.registry import Arg
from funcnet.layers.activations import relu
from funcnet.layers.binary import binary_dense, ste_sign_op
from funcnet.layers.combinators import serial
from funcnet.layers.dense import dense
from funcnet.layers.norm import batch_norm


def _check_widths(name: str, hidden_features: Sequence[int], features: int) -> None:
    if not hidden_features:
        raise ValueError(f"{name}: expected at least one hidden layer, got {hidden_features!r}.")
    for width in hidden_features:
        check_positive_int(name, "every hidden width", width)
    check_positive_int(name, "features", features)


@layer_factory("binaryconnect_mlp")
def binaryconnect_mlp(hidden_features: Sequence[int], features: int) -> Layer:
    """BinaryConnect: every hidden layer a :func:`binary_dense` (binary weights), batch norm
    and relu between them, a real output layer.

    Shapes:
      x: ``[..., n_in]`` -> y: ``[..., features]``.

    Examples:
      >>> import jax
      >>> binaryconnect_mlp((8,), 3).init(jax.random.key(0), (2, 5))[0]
      (2, 3)
    """
    _check_widths("binaryconnect_mlp", hidden_features, features)
    layers = [layer for h in hidden_features for layer in (binary_dense(h), batch_norm(), relu())]
    return serial(*layers, dense(features))._replace(name="binaryconnect_mlp")


@layer_factory("bnn_mlp")
def bnn_mlp(
    hidden_features: Sequence[int],
    features: int,
    *,
    quantizer: Op | None = None,
    xnor_scale: bool = False,
    balance_weights: bool = False,
) -> Layer:
    """A binarised network (BNN; XNOR-Net with ``xnor_scale``): binary weights and activations
    in every hidden layer after the first, the first and the output layer real.

    Args:
      hidden_features: hidden widths; the first hidden layer has real weights.
      features: output width (logits).
      quantizer: the activations' quantiser op (``ste_sign_op()`` by default).
      xnor_scale: scale each binary layer's outputs by its weights' mean magnitude.
      balance_weights: standardise each binary layer's weights per output first (IR-Net).

    Shapes:
      x: ``[..., n_in]`` -> y: ``[..., features]``.

    Examples:
      >>> import jax
      >>> bnn_mlp((8, 8), 3).init(jax.random.key(0), (2, 5))[0]
      (2, 3)
    """
    _check_widths("bnn_mlp", hidden_features, features)
    quantizer = quantizer or ste_sign_op()
    first, *rest = hidden_features
    layers = [dense(first, use_bias=False), batch_norm(), elementwise(quantizer)]
    for h in rest:
        binary = binary_dense(h, xnor_scale=xnor_scale, balance_weights=balance_weights)
        layers += [binary, batch_norm(), elementwise(quantizer)]
    return serial(*layers, dense(features))._replace(name="bnn_mlp")


add_layer_cases("binaryconnect_mlp", lambda: [
    LayerCase("one_hidden", binaryconnect_mlp((4,), 3), Arg((3, 5))),
])  # fmt: skip
add_layer_cases("bnn_mlp", lambda: [LayerCase("two_hidden", bnn_mlp((4, 4), 3), Arg((3, 5)))])
