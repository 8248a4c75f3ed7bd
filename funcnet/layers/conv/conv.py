"""N-d convolution (1-d, 2-d, 3-d), channels-last, with strides, padding, dilation and groups.

Shapes: ``x [..., *spatial, C_in]`` (any leading batch axes, none included, flattened into one of
size ``N``), ``w [*window, C_in/G, C_out]``, ``b [C_out]``, ``y [..., *out_spatial, C_out]``.
Per spatial axis, with stride ``s``, dilation ``d``, padding ``(lo, hi)``, window ``k`` and
``K = d(k − 1) + 1``: ``y[o] = Σ_t x[o·s + t·d − lo] w[t] (+ b)``, the reference being
``lax.conv_general_dilated``. In the im2col view ``Y = X̃ W`` (``X̃`` the patch matrix), so::

    dW = X̃ᵀ dY  = conv(x, dy)    batch axis contracted, window_strides=d, rhs_dilation=s,
                                  padding (lo, hi − r), batch_group_count=G
    dX = col2im(dY Wᵀ) = conv(dy, flip(W)ᵀ)   lhs_dilation=s, rhs_dilation=d,
                                  padding (K − 1 − lo, K − 1 − hi + r), feature_group_count=G
    db = Σ_{batch, spatial} dY

where ``r = (n + lo + hi − K) mod s`` counts the input rows the last window step never reaches
and ``flip(W)ᵀ`` reverses the window and swaps input/output channels within each group.
Residuals: ``x`` and ``w``. The JVP, bilinear: ``Ẏ = conv(Ẋ, W) + conv(X, Ẇ) + ḃ``.
Derivation: docs/conv.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from funcnet.core.jvp_rules import bilinear_jvp
from funcnet.core.layer import (
    Layer,
    Shape,
    check_positive_int,
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
    conv_output_size,
    dimension_numbers,
    flatten_batch,
    grad_padding,
    resolve_padding,
    spatial_tuple,
    unflatten_batch,
    weight_grad_dimension_numbers,
)
from funcnet.layers.conv._chunks import batch_chunks
from funcnet.layers.conv._layer import conv_like_layer
from funcnet.layers.conv._patches import patch_matrix, patch_sq_norms


def _conv_op(n: int, stride: Any, padding: Any, dilation: Any, groups: int, use_bias: bool) -> Op:
    """The op ``(x, w[, b]) -> conv(x, w) (+ b)`` over ``n`` spatial axes (``conv{n}d``)."""
    name = f"conv{n}d"
    stride = spatial_tuple(name, "stride", stride, n)
    dilation = spatial_tuple(name, "dilation", dilation, n)
    padding = check_padding(name, padding, n)
    check_positive_int(name, "groups", groups)
    dn, dn_w, spatial = dimension_numbers(n), weight_grad_dimension_numbers(n), tuple(range(n))

    def geometry(x_shape: Shape, w_shape: Shape, b: Any = ()) -> Pads:
        check_conv_args(name, x_shape, w_shape, n, groups, jnp.shape(b[0]) if b else None)
        in_spatial, window = x_shape[-n - 1 : -1], w_shape[:n]
        pads = resolve_padding(name, padding, in_spatial, window, stride, dilation)
        conv_output_size(name, in_spatial, window, stride, dilation, pads)
        return pads

    def product(x, w, b=()):
        """``conv(x, w)`` without the bias (``b`` only to check its shape)."""
        pads = geometry(jnp.shape(x), jnp.shape(w), b)
        y = lax.conv_general_dilated(
            flatten_batch(x, n), w, stride, pads, rhs_dilation=dilation,
            dimension_numbers=dn, feature_group_count=groups,
        )  # fmt: skip
        return unflatten_batch(y, x.shape, n)

    def forward(x, w, *b):
        y = product(x, w, b)
        return add_bias(y, b[0]) if use_bias else y

    def fwd(x, w, *b):
        return forward(x, w, *b), (x, w)

    def bwd(res, dy):
        # dX = col2im(dY Wᵀ) = conv(dilate_s(dY), flip(W)ᵀ), dW = X̃ᵀ dY = conv(Xᵀ, dY), db = Σ dY
        x, w = res
        pads = geometry(x.shape, w.shape)
        dx_pads, dw_pads = grad_padding(x.shape[-n - 1 : -1], w.shape[:n], stride, dilation, pads)
        x2, dy2 = flatten_batch(x, n), flatten_batch(dy, n)
        # Wᵀ per group: [*window, Cin/G, G, Cout/G] -> [*window, Cout/G, G·Cin/G], window flipped
        window, c_in, c_out = w.shape[:n], w.shape[-2], w.shape[-1] // groups
        w_t = w.reshape((*window, c_in, groups, c_out)).transpose((*spatial, n + 2, n + 1, n))
        w_t = jnp.flip(w_t.reshape((*window, c_out, groups * c_in)), spatial)
        dx = lax.conv_general_dilated(
            dy2, w_t, (1,) * n, dx_pads, lhs_dilation=stride, rhs_dilation=dilation,
            dimension_numbers=dn, feature_group_count=groups,
        ).reshape(x.shape)  # fmt: skip

        def dw_chunk(lo: int, hi: int) -> jax.Array:
            return lax.conv_general_dilated(
                x2[lo:hi], dy2[lo:hi], dilation, dw_pads, rhs_dilation=stride,
                dimension_numbers=dn_w, batch_group_count=groups,
            )  # fmt: skip

        length = math.prod(dy2.shape[:-1])  # K = N·Π(out): the terms summed per dW entry
        dw = sum(dw_chunk(lo, hi) for lo, hi in batch_chunks(x2.shape[0], length))
        if not use_bias:
            return dx, dw
        return dx, dw, jnp.sum(dy, axis=tuple(range(dy.ndim - 1)))

    def per_example_norms(res, dy):
        # ‖dWᵢ‖² = Σ_g ‖X̃ᵢ,gᵀ dYᵢ,g‖² (X̃ the patch matrix, g a group); ‖dbᵢ‖² = ‖Σ_pos dYᵢ‖²
        x, w = res
        pads = geometry(x.shape, w.shape)
        patches = patch_matrix(flatten_batch(x, n), w.shape[:n], dy.shape[-n - 1 : -1], stride,
                               dilation, pads)  # fmt: skip
        return (None, *patch_sq_norms(patches, dy, groups, use_bias))

    # Ẏ = conv(Ẋ, W) + conv(X, Ẇ) + ḃ: bilinear in (X, W), the tangent one operand of each conv
    jvp = bilinear_jvp(forward, product)
    return make_op(name, forward, fwd, bwd, per_example_norms=per_example_norms, jvp=jvp)


@op_factory("conv1d")
def conv1d_op(stride=1, padding="SAME", dilation=1, groups=1, use_bias=True) -> Op:
    """The 1-d convolution op ``(x [..., W, C_in], w [k, C_in/G, C_out][, b]) -> y``."""
    return _conv_op(1, stride, padding, dilation, groups, use_bias)


@op_factory("conv2d")
def conv2d_op(stride=1, padding="SAME", dilation=1, groups=1, use_bias=True) -> Op:
    """The 2-d convolution op ``(x [..., H, W, C_in], w [kh, kw, C_in/G, C_out][, b]) -> y``."""
    return _conv_op(2, stride, padding, dilation, groups, use_bias)


@op_factory("conv3d")
def conv3d_op(stride=1, padding="SAME", dilation=1, groups=1, use_bias=True) -> Op:
    """The 3-d convolution op ``(x [..., D, H, W, C_in], w [kd, kh, kw, C_in/G, C_out][, b])``."""
    return _conv_op(3, stride, padding, dilation, groups, use_bias)


def _conv_factory(n: int, doc: str) -> Callable[..., Layer]:
    """The layer factory ``conv{n}d``, documented by ``doc`` (the arguments: :func:`conv2d`)."""
    name = f"conv{n}d"

    def factory(features: int, kernel_size: Any, *, stride: Any = 1, padding: Any = "SAME",
                dilation: Any = 1, groups: int = 1, use_bias: bool = True,
                w_init: Initializer | None = None, b_init: Initializer | None = None,
                dtype: Any = jnp.float32) -> Layer:  # fmt: skip
        window = spatial_tuple(name, "kernel_size", kernel_size, n)
        op = _conv_op(n, stride, padding, dilation, groups, use_bias)
        return conv_like_layer(
            name, n, op, window, features, groups, use_bias, w_init, b_init, dtype
        )

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = doc
    return layer_factory(name)(factory)


conv1d = _conv_factory(
    1,
    """A 1-d convolution, ``x [..., W, C_in] -> y [..., W', features]``; as :func:`conv2d`.

    Examples:
      >>> import jax
      >>> conv1d(4, 3, stride=2).init(jax.random.key(0), (2, 9, 3))[0]
      (2, 5, 4)
    """,
)
conv2d = _conv_factory(
    2,
    """A 2-d convolution layer (cross-correlation, as in every deep-learning library).

    Args:
      features: number of output channels (divisible by ``groups``).
      kernel_size, stride, dilation: a positive int or a tuple of one per spatial axis.
      padding: ``"SAME"`` (output size ``⌈n/stride⌉``), ``"VALID"``, an int, or one
        ``(lo, hi)`` pair of non-negative ints per spatial axis.
      groups: split the channels into this many independent groups (``groups = C_in``
        with ``features = m·C_in`` is a depthwise convolution).
      use_bias: add a learned bias.
      w_init, b_init: initialisers; ``w_init`` defaults to ``lecun_normal`` with fan-in
        ``kh·kw·C_in/groups``.
      dtype: dtype of the parameters; the input must have the same dtype.

    Shapes:
      x: ``[..., H, W, C_in]`` (any batch axes) -> y: ``[..., H', W', features]``;
      w: ``[kh, kw, C_in/groups, features]``, b: ``[features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = conv2d(8, 3, stride=2)
      >>> out_shape, params, state = layer.init(jax.random.key(0), (2, 7, 6, 3))
      >>> out_shape, params.w.shape
      ((2, 4, 3, 8), (3, 3, 3, 8))
      >>> layer.apply(params, state, jnp.ones((2, 7, 6, 3)))[0].shape
      (2, 4, 3, 8)
    """,
)
conv3d = _conv_factory(
    3,
    """A 3-d convolution, ``x [..., D, H, W, C_in] -> y [..., D', H', W', features]``.

    Examples:
      >>> import jax
      >>> conv3d(2, (1, 3, 3), padding="VALID").init(jax.random.key(0), (1, 4, 5, 5, 3))[0]
      (1, 4, 3, 3, 2)
    """,
)


def _case(make: Any, label: str, x: Shape, w: Shape, second: bool = False, **kw: Any) -> Case:
    bias = [Arg(w[-1:])] if kw.get("use_bias", True) else []
    return Case(label, make(**kw), (Arg(x), Arg(w), *bias), second)


def _conv1d_cases() -> list[Case]:  # small shapes: each case costs a few compiles
    op = conv1d_op
    return [
        _case(op, "same", (2, 7, 3), (3, 3, 4)),
        _case(op, "stride3_asymmetric", (2, 8, 2), (3, 2, 3), stride=3, padding=((1, 2),)),
        _case(op, "dilation2_groups2", (2, 9, 4), (3, 2, 4), padding="VALID", dilation=2, groups=2),
        _case(op, "depthwise_no_bias", (2, 6, 3), (2, 1, 6), True, stride=2, groups=3,
              use_bias=False),
    ]  # fmt: skip


def _conv2d_cases() -> list[Case]:
    op = conv2d_op
    return [
        _case(op, "same", (2, 5, 5, 3), (3, 3, 3, 4)),
        _case(op, "stride2_same_odd", (2, 7, 6, 2), (3, 3, 2, 3), stride=2),
        _case(op, "stride3_valid_remainder", (2, 7, 8, 2), (2, 2, 2, 3), stride=3, padding="VALID"),
        _case(op, "explicit_asymmetric", (2, 6, 5, 2), (3, 2, 2, 3), stride=(2, 1),
              padding=((1, 2), (0, 1))),
        _case(op, "padding_wider_than_kernel", (2, 5, 4, 2), (2, 2, 2, 2),
              padding=((3, 1), (0, 2))),
        _case(op, "dilation2_stride2", (2, 7, 6, 2), (2, 3, 2, 2), stride=2, dilation=(2, 1),
              padding=((2, 0), (1, 1))),
        _case(op, "groups2_stride2", (2, 5, 5, 4), (3, 3, 2, 4), stride=2, groups=2),
        _case(op, "depthwise", (2, 5, 5, 3), (3, 3, 1, 6), groups=3),
        _case(op, "batch_axes_no_bias", (2, 2, 5, 4, 2), (3, 3, 2, 3), True, use_bias=False),
    ]  # fmt: skip


def _conv3d_cases() -> list[Case]:
    op = conv3d_op
    return [
        _case(op, "same", (2, 4, 4, 4, 2), (2, 2, 2, 2, 3)),
        _case(op, "stride2_valid_groups2", (2, 5, 5, 4, 2), (3, 2, 2, 1, 4), stride=2,
              padding="VALID", groups=2),
        _case(op, "dilation2_no_bias", (1, 5, 4, 4, 2), (2, 2, 2, 2, 2), True, dilation=2,
              use_bias=False),
    ]  # fmt: skip


add_cases("conv1d", _conv1d_cases)
add_cases("conv2d", _conv2d_cases)
add_cases("conv3d", _conv3d_cases)
add_layer_cases("conv1d", lambda: [LayerCase("stride2", conv1d(2, 2, stride=2), Arg((2, 5, 2)))])
add_layer_cases("conv2d", lambda: [LayerCase("groups2", conv2d(2, 2, groups=2), Arg((2, 3, 3, 2)))])
add_layer_cases(
    "conv3d", lambda: [LayerCase("valid", conv3d(2, 2, padding="VALID"), Arg((1, 3, 3, 2, 2)))]
)
