"""Transposed convolution (1-d, 2-d), channels-last: ``lax.conv_transpose``'s conventions.

Shapes: ``x [..., *spatial, C_in]`` (any leading batch axes, flattened into ``N``),
``w [*window, C_in, C_out]`` (not flipped, as ``lax.conv_transpose`` with
``transpose_kernel=False``), ``b [C_out]``, ``y [..., *out_spatial, C_out]``.
The forward is a stride-1 convolution of the input dilated by the stride ``s`` (zeros between
entries) with padding ``(a, b)`` and kernel dilation ``d``; ``K = d(k − 1) + 1``::

    y[o] = Σ_t x̂[o + t·d − a] w[t],   x̂ = dilate_s(x),   m = (n − 1)s + 1 + a + b − K + 1

``"SAME"`` gives ``m = n·s``; ``"VALID"`` gives ``m = n·s + max(K − s, 0)``; explicit pairs are
``(a, b)`` themselves (lax's meaning). The VJP::

    dX = conv(dy, flip(W)ᵀ)   window_strides=s, rhs_dilation=d, padding (K − 1 − a, K − 1 − b)
    dW = conv(x, dy)          batch axis contracted, lhs_dilation=s, window_strides=d,
                              padding (a, b)
    db = Σ_{batch, spatial} dY

Per example (DP-SGD's norms): ``‖dWᵢ‖² = ‖Pᵢᵀ dYᵢ‖²`` with ``P`` the patch matrix of
``dilate_s(x)`` (stride 1, padding ``(a, b)``, dilation ``d``). Residuals: ``x`` and ``w``.
The JVP, bilinear: ``Ẏ = conv_transpose(Ẋ, W) + conv_transpose(X, Ẇ) + ḃ``.
Derivation: docs/conv.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
from jax import lax

from funcnet.core.jvp_rules import bilinear_jvp
from funcnet.core.layer import (
    Layer,
    Shape,
)
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.initializers import Initializer
from funcnet.layers._windows import (
    Pads,
    add_bias,
    check_conv_args,
    check_padding,
    dilated_size,
    dimension_numbers,
    flatten_batch,
    spatial_tuple,
    transpose_output_size,
    transpose_padding,
    unflatten_batch,
    weight_grad_dimension_numbers,
)
from funcnet.layers.conv._layer import conv_like_layer
from funcnet.layers.conv._patches import dilate, patch_matrix, patch_sq_norms


def _conv_transpose_op(n: int, stride: Any, padding: Any, dilation: Any, use_bias: bool) -> Op:
    """The op ``(x, w[, b]) -> conv_transpose(x, w) (+ b)`` over ``n`` spatial axes."""
    name = f"conv_transpose{n}d"
    stride = spatial_tuple(name, "stride", stride, n)
    dilation = spatial_tuple(name, "dilation", dilation, n)
    padding = check_padding(name, padding, n)
    dn, dn_w, spatial = dimension_numbers(n), weight_grad_dimension_numbers(n), tuple(range(n))

    def geometry(x_shape: Shape, w_shape: Shape, b: Any = ()) -> Pads:
        check_conv_args(name, x_shape, w_shape, n, 1, jnp.shape(b[0]) if b else None)
        pads = transpose_padding(padding, w_shape[:n], stride, dilation)
        transpose_output_size(name, x_shape[-n - 1 : -1], w_shape[:n], stride, dilation, pads)
        return pads

    def product(x, w, b=()):
        """``conv_transpose(x, w)`` without the bias (``b`` only to check its shape)."""
        geometry(jnp.shape(x), jnp.shape(w), b)
        y = lax.conv_transpose(
            flatten_batch(x, n), w, stride, padding, rhs_dilation=dilation, dimension_numbers=dn
        )
        return unflatten_batch(y, x.shape, n)

    def forward(x, w, *b):
        y = product(x, w, b)
        return add_bias(y, b[0]) if use_bias else y

    def fwd(x, w, *b):
        return forward(x, w, *b), (x, w)

    def bwd(res, dy):
        # dX = conv(dY, flip(W)ᵀ) strided by s, dW = conv(dilate_s(X)ᵀ, dY), db = Σ dY
        x, w = res
        pads = geometry(x.shape, w.shape)
        extents = dilated_size(w.shape[:n], dilation)
        x2, dy2 = flatten_batch(x, n), flatten_batch(dy, n)
        w_t = jnp.flip(jnp.swapaxes(w, -1, -2), spatial)  # [*window, C_out, C_in]
        dx_pads = [(k - 1 - a, k - 1 - b) for (a, b), k in zip(pads, extents, strict=True)]
        dx = lax.conv_general_dilated(
            dy2, w_t, stride, dx_pads, rhs_dilation=dilation, dimension_numbers=dn
        ).reshape(x.shape)
        dw = lax.conv_general_dilated(
            x2, dy2, dilation, pads, lhs_dilation=stride, dimension_numbers=dn_w
        )
        if not use_bias:
            return dx, dw
        return dx, dw, jnp.sum(dy, axis=tuple(range(dy.ndim - 1)))

    def per_example_norms(res, dy):
        # ‖dWᵢ‖² = ‖Pᵢᵀ dYᵢ‖² (P the patches of dilate_s(X), stride 1); ‖dbᵢ‖² = ‖Σ_pos dYᵢ‖²
        x, w = res
        pads = geometry(x.shape, w.shape)
        patches = patch_matrix(dilate(flatten_batch(x, n), stride), w.shape[:n],
                               dy.shape[-n - 1 : -1], (1,) * n, dilation, pads)  # fmt: skip
        return (None, *patch_sq_norms(patches, dy, 1, use_bias))

    # Ẏ = convᵀ(Ẋ, W) + convᵀ(X, Ẇ) + ḃ: bilinear in (X, W), as the convolution
    jvp = bilinear_jvp(forward, product)
    return make_op(name, forward, fwd, bwd, per_example_norms=per_example_norms, jvp=jvp)


@op_factory("conv_transpose1d")
def conv_transpose1d_op(stride=1, padding="SAME", dilation=1, use_bias=True) -> Op:
    """The 1-d transposed convolution op ``(x [..., W, C_in], w [k, C_in, C_out][, b]) -> y``."""
    return _conv_transpose_op(1, stride, padding, dilation, use_bias)


@op_factory("conv_transpose2d")
def conv_transpose2d_op(stride=1, padding="SAME", dilation=1, use_bias=True) -> Op:
    """The 2-d transposed convolution op ``(x [..., H, W, C_in], w [kh, kw, C_in, C_out][, b])``."""
    return _conv_transpose_op(2, stride, padding, dilation, use_bias)


def _conv_transpose_factory(n: int, doc: str) -> Callable[..., Layer]:
    """The layer factory ``conv_transpose{n}d``, documented by ``doc``."""
    name = f"conv_transpose{n}d"

    def factory(features: int, kernel_size: Any, *, stride: Any = 1, padding: Any = "SAME",
                dilation: Any = 1, use_bias: bool = True, w_init: Initializer | None = None,
                b_init: Initializer | None = None, dtype: Any = jnp.float32) -> Layer:  # fmt: skip
        window = spatial_tuple(name, "kernel_size", kernel_size, n)
        op = _conv_transpose_op(n, stride, padding, dilation, use_bias)
        return conv_like_layer(name, n, op, window, features, 1, use_bias, w_init, b_init, dtype)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = doc
    return layer_factory(name)(factory)


conv_transpose1d = _conv_transpose_factory(
    1,
    """A 1-d transposed convolution, ``x [..., W, C_in] -> y [..., W', features]``; as
    :func:`conv_transpose2d`.

    Examples:
      >>> import jax
      >>> conv_transpose1d(4, 3, stride=2).init(jax.random.key(0), (2, 5, 3))[0]
      (2, 10, 4)
    """,
)
conv_transpose2d = _conv_transpose_factory(
    2,
    """A 2-d transposed convolution (upsampling by ``stride``), as ``lax.conv_transpose``.

    Args:
      features: number of output channels.
      kernel_size, stride, dilation: a positive int or one per spatial axis.
      padding: ``"SAME"`` (output ``n·stride``), ``"VALID"`` (output
        ``n·stride + max(K − stride, 0)``), an int, or one ``(lo, hi)`` pair per axis padding
        the stride-dilated input (``lax.conv_transpose``'s meaning).
      use_bias: add a learned bias.
      w_init, b_init: initialisers; ``w_init`` defaults to ``lecun_normal`` over
        ``[*window, C_in, features]``.
      dtype: dtype of the parameters; the input must have the same dtype.

    Shapes:
      x: ``[..., H, W, C_in]`` (any batch axes) -> y: ``[..., H', W', features]``;
      w: ``[kh, kw, C_in, features]`` (not flipped), b: ``[features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = conv_transpose2d(2, 3, stride=2, padding="VALID")
      >>> out_shape, params, state = layer.init(jax.random.key(0), (1, 4, 4, 3))
      >>> out_shape, layer.apply(params, state, jnp.ones((1, 4, 4, 3)))[0].shape
      ((1, 9, 9, 2), (1, 9, 9, 2))
    """,
)


def _cases(make: Any, configs: list[tuple]) -> list[Case]:
    out = []
    for label, x, w, kwargs, second in configs:
        bias = (Arg((w[-1],)),) if kwargs.get("use_bias", True) else ()
        out.append(Case(label, make(**kwargs), (Arg(x), Arg(w), *bias), second))
    return out


# (label, x shape, w shape, op kwargs, second order)
CONV_TRANSPOSE1D_CASES = [
    ("stride2_same", (2, 5, 3), (3, 3, 2), dict(stride=2), False),
    ("stride3_same_short_kernel", (2, 4, 2), (2, 2, 2), dict(stride=3), False),
    ("stride3_valid_dilation2", (2, 4, 2), (2, 2, 3), dict(stride=3, padding="VALID",
                                                           dilation=2), False),
    ("explicit_no_bias", (2, 5, 2), (3, 2, 2), dict(stride=2, padding=((0, 3),),
                                                    use_bias=False), True),
]  # fmt: skip
CONV_TRANSPOSE2D_CASES = [
    ("stride1_same", (2, 4, 4, 3), (3, 3, 3, 2), {}, False),
    ("stride2_same", (2, 4, 3, 2), (3, 3, 2, 3), dict(stride=2), False),
    ("stride2_valid_even_kernel", (2, 3, 4, 2), (2, 4, 2, 2), dict(stride=(2, 3),
                                                                   padding="VALID"), False),
    ("explicit_asymmetric", (2, 3, 3, 2), (3, 2, 2, 2), dict(stride=2, padding=((2, 0), (1, 3))),
     False),
    ("batch_axes_no_bias", (2, 2, 3, 3, 2), (2, 2, 2, 2), dict(stride=2, use_bias=False), True),
]  # fmt: skip

add_cases("conv_transpose1d", lambda: _cases(conv_transpose1d_op, CONV_TRANSPOSE1D_CASES))
add_cases("conv_transpose2d", lambda: _cases(conv_transpose2d_op, CONV_TRANSPOSE2D_CASES))
add_layer_cases(
    "conv_transpose1d",
    lambda: [LayerCase("stride2", conv_transpose1d(2, 3, stride=2), Arg((2, 3, 2)))],
)
add_layer_cases(
    "conv_transpose2d",
    lambda: [LayerCase("valid", conv_transpose2d(2, 2, padding="VALID"), Arg((2, 2, 3, 2)))],
)
