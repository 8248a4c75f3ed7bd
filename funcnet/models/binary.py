"""Binary multilayer perceptrons (docs/binary.md): BinaryConnect (binary weights, real
activations) and BNN / XNOR-Net / IR-Net (binary weights and activations, first and last layer
real), from one factory:

    binary_mlp(h, n, quantizer=None)   binary_dense(h₁) → bn → relu → … → dense(n)   BinaryConnect
    binary_mlp(h, n, quantizer=q)      dense(h₁) → bn → q → binary_dense(h₂) → bn → q → …
                                       → dense(n)                                     BNN

Each binary layer's weights are latent reals binarised in the forward. Batch normalisation after
every hidden layer sets the scale the ±1 sums lack (hence no biases before it).
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


@layer_factory("binary_mlp")
def binary_mlp(
    hidden_features: Sequence[int],
    features: int,
    *,
    quantizer: Op | None = None,
    xnor_scale: bool = False,
    balance_weights: bool = False,
) -> Layer:
    """A binary MLP: BinaryConnect without a ``quantizer``, a BNN with one.

    Args:
      hidden_features: hidden widths (at least one).
      features: output width (logits); the output layer is real.
      quantizer: the activations' quantiser op (``ste_sign_op()`` for a BNN): the first hidden
        layer is then real and every later one a binary layer fed binary activations. Without
        one, every hidden layer is a binary layer followed by relu (BinaryConnect).
      xnor_scale: scale each binary layer's outputs by its weights' mean magnitude (XNOR-Net).
      balance_weights: standardise each binary layer's weights per output first (IR-Net).

    Shapes:
      x: ``[..., n_in]`` -> y: ``[..., features]``.

    Examples:
      >>> import jax
      >>> model = binary_mlp((8, 8), 3, quantizer=ste_sign_op())
      >>> _, params, _ = jax.eval_shape(lambda: model.init(jax.random.key(0), (2, 5)))
      >>> [type(p).__name__ for p in params if p != ()]  # the first and last layer real
      ['DenseParams', 'BatchNormParams', 'BinaryParams', 'BatchNormParams', 'DenseParams']
    """
    if not hidden_features:
        raise ValueError(
            f"binary_mlp: expected at least one hidden layer, got {hidden_features!r}."
        )
    for width in hidden_features:
        check_positive_int("binary_mlp", "every hidden width", width)
    check_positive_int("binary_mlp", "features", features)
    if quantizer is not None and not isinstance(quantizer, Op):
        raise TypeError(f"binary_mlp: expected quantizer to be an op or None, got {quantizer!r}.")
    layers: list[Layer] = []
    for i, width in enumerate(hidden_features):
        if quantizer is not None and i == 0:
            layers += [dense(width, use_bias=False), batch_norm(), elementwise(quantizer)]
            continue
        binary = binary_dense(width, xnor_scale=xnor_scale, balance_weights=balance_weights)
        layers += [binary, batch_norm(), relu() if quantizer is None else elementwise(quantizer)]
    return serial(*layers, dense(features))._replace(name="binary_mlp")


add_layer_cases("binary_mlp", lambda: [
    LayerCase("bnn", binary_mlp((4, 4), 3, quantizer=ste_sign_op()), Arg((3, 5))),
])  # fmt: skip
