"""Group normalisation: per example, the channels split into groups, each group standardised.

Shapes: ``x [..., *positions, C]`` (channels last) with ``k = num_position_axes`` position axes
(counted from the end, before the channels) and any leading batch axes; ``γ, β [C]``. A layer
cannot tell batch axes from position axes, so the factory is told ``k``. With ``G`` groups the
input is viewed as ``[..., *positions, G, C/G]`` and each ``(example, group)`` slice — its
positions and its ``C/G`` channels — is standardised as in layer normalisation::

    x̂ = (x − μ)·s,  s = rsqrt(σ² + ε),  y = γ·x̂ + β
    dx = s·(g − mean(g) − x̂·mean(g·x̂)),  g = γ·dy      (means over the slice)
    dγ = Σ_{batch, positions} dy·x̂      dβ = Σ_{batch, positions} dy           saves x̂, s, γ

Per example (DP-SGD's norms): the same sums over the example's own positions and inner batch
axes, squared.

``G = 1`` is layer normalisation over ``[*positions, C]``; ``G = C`` is instance normalisation.
Derivation: docs/normalization.md.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from funcnet.core.layer import (
    Layer,
    Shape,
    check_axis_size,
    check_float_dtype,
    check_floating,
    check_input_shape,
    check_int,
    check_positive_int,
    check_shape_rank,
)
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.norm._standardize import (
    affine_grads,
    affine_jvp,
    apply_affine,
    check_eps,
    expand_to,
    per_example_affine_norms,
    standardize,
    standardize_jvp,
    standardize_vjp,
)
from funcnet.layers.norm.layer_norm import LayerNormParams

GroupNormParams = LayerNormParams  # scale γ [C] and bias β [C], each None when unused
LAYOUT = "input [..., *positions, C]"


def check_groups(name: str, shape: Shape, num_groups: int) -> None:
    """Raise unless the last axis (the channels) splits into ``num_groups`` equal groups."""
    if shape[-1] % num_groups:
        raise ValueError(
            f"{name}: expected the channel count (last axis) to be divisible by "
            f"num_groups={num_groups}, got {shape[-1]} channels in input shape {tuple(shape)}."
        )


def check_example_rank(shape: Shape, num_position_axes: int) -> None:
    """Raise unless ``shape`` has the ``num_position_axes`` position axes and the channel axis."""
    check_shape_rank("group_norm", shape, num_position_axes + 1, LAYOUT)


@op_factory("group_norm")
def group_norm_op(
    num_groups: int, *, num_position_axes: int, eps: float = 1e-5, use_scale=True, use_bias=True
) -> Op:
    """``(x[, γ][, β]) -> y`` normalising each group of channels of each example."""
    check_positive_int("group_norm", "num_groups", num_groups)
    k = check_int("group_norm", "num_position_axes", num_position_axes, minimum=0)
    check_eps("group_norm", eps)

    def grouped(x):
        """``x`` as ``[..., *positions, G, C/G]`` and the axes of one group's slice."""
        check_example_rank(x.shape, k)
        check_groups("group_norm", x.shape, num_groups)
        xg = x.reshape(*x.shape[:-1], num_groups, x.shape[-1] // num_groups)
        return xg, (*range(x.ndim - 1 - k, x.ndim - 1), x.ndim)

    def normalized(x, affine):
        xg, axes = grouped(x)
        x_hat, inv_std, _, _ = standardize(xg, axes, eps)
        x_hat = x_hat.reshape(x.shape)
        return apply_affine(x_hat, affine, use_scale, use_bias, (x.ndim - 1,)), x_hat, inv_std

    def forward(x, *affine):
        return normalized(x, affine)[0]

    def fwd(x, *affine):
        y, x_hat, inv_std = normalized(x, affine)
        return y, (x_hat, inv_std, affine[:1] if use_scale else ())

    def bwd(res, dy):
        # dx = s·(g − mean(g) − x̂·mean(g·x̂)) per group, g = γ·dy; dγ = Σ dy·x̂; dβ = Σ dy
        x_hat, inv_std, scale = res
        g = dy * expand_to(scale[0], dy.ndim, (dy.ndim - 1,)) if use_scale else dy
        x_hat_g, axes = grouped(x_hat)
        dx = standardize_vjp(x_hat_g, inv_std, g.reshape(x_hat_g.shape), axes)
        other = tuple(range(dy.ndim - 1))  # the batch and position axes
        return (dx.reshape(dy.shape), *affine_grads(dy, x_hat, use_scale, use_bias, other))

    def per_example_norms(res, dy):
        # ‖dγᵢ‖² = ‖Σ_{positions of i} dy·x̂‖², ‖dβᵢ‖² = ‖Σ_{positions of i} dy‖²
        x_hat = res[0]
        if x_hat.ndim - 1 - k < 1:
            raise ValueError(
                "group_norm per-example norms: expected a leading example axis before the "
                f"{k} position axes, got an input of shape {x_hat.shape}."
            )
        other = tuple(range(dy.ndim - 1))  # the example, inner batch and position axes
        return (None, *per_example_affine_norms(dy, x_hat, other, use_scale, use_bias))

    def jvp(primals, tangents):
        # ẏ = γ·x̂̇ + γ̇·x̂ + β̇, x̂̇ = s·(ẋ − mean(ẋ) − x̂·mean(x̂·ẋ)) per group
        (x, *affine), (dx, *d_affine) = primals, tangents
        y, x_hat, inv_std = normalized(x, affine)
        x_hat_g, axes = grouped(x_hat)
        d_x_hat = standardize_jvp(x_hat_g, inv_std, dx.reshape(x_hat_g.shape), axes)
        channels = (x.ndim - 1,)
        return y, affine_jvp(x_hat, d_x_hat.reshape(x.shape), affine, d_affine, use_scale,
                             use_bias, channels)  # fmt: skip

    return make_op("group_norm", forward, fwd, bwd, per_example_norms=per_example_norms, jvp=jvp)


@layer_factory("group_norm")
def group_norm(
    num_groups: int,
    *,
    num_position_axes: int,
    eps: float = 1e-5,
    use_scale: bool = True,
    use_bias: bool = True,
    dtype: Any = jnp.float32,
) -> Layer:
    """Group normalisation of channels-last input with ``num_groups`` groups of channels.

    Args:
      num_groups: number of groups; must divide the channel count.
      num_position_axes: how many axes before the last (the channels) belong to an example (0
        for ``[..., C]``, 1 for a sequence ``[..., T, C]``, 2 for an image ``[..., H, W, C]``);
        every axis before them is a batch axis.
      eps: added to the variance before the reciprocal square root.
      use_scale, use_bias: learn per-channel ``γ`` (init 1) and ``β`` (init 0).
      dtype: dtype of the parameters; the input must have the same dtype.

    Shapes:
      x: ``[..., *positions, C]`` -> y: the same shape.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = group_norm(2, num_position_axes=0)
      >>> _, params, state = layer.init(jax.random.key(0), (1, 4))
      >>> y, _ = layer.apply(params, state, jnp.array([[1.0, 3.0, 10.0, 30.0]]))
      >>> [round(v, 3) for v in y[0].tolist()]
      [-1.0, 1.0, -1.0, 1.0]
    """
    check_float_dtype("group_norm", dtype)
    op = group_norm_op(num_groups, num_position_axes=num_position_axes, eps=eps,
                       use_scale=use_scale, use_bias=use_bias)  # fmt: skip

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, LayerNormParams, tuple]:
        del key
        shape = check_input_shape("group_norm", input_shape)
        check_example_rank(shape, num_position_axes)
        check_groups("group_norm", shape, num_groups)
        c = shape[-1]
        params = GroupNormParams(
            jnp.ones((c,), dtype) if use_scale else None,
            jnp.zeros((c,), dtype) if use_bias else None,
        )
        return shape, params, ()

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        del key, train
        check_backward(backward, "group_norm")
        shape = jnp.shape(x)
        check_example_rank(shape, num_position_axes)
        leaves = tuple(p for p in params if p is not None)
        if leaves:
            check_axis_size("group_norm", shape, -1, leaves[0].shape[0])
        check_groups("group_norm", shape, num_groups)
        check_floating("group_norm", x, leaves[0].dtype if leaves else dtype)
        return op(x, *leaves, backward=backward), state

    return Layer("group_norm", init, apply)


def _cases() -> list[Case]:
    return [
        Case("image_2_groups", group_norm_op(2, num_position_axes=2),
             (Arg((2, 3, 2, 4)), Arg((4,)), Arg((4,))), second_order=True),
        Case("sequence_instance_norm", group_norm_op(3, num_position_axes=1, use_bias=False),
             (Arg((2, 4, 3)), Arg((3,)))),
        Case("vector_1_group_no_affine",
             group_norm_op(1, num_position_axes=0, use_scale=False, use_bias=False),
             (Arg((3, 6)),)),
    ]  # fmt: skip


add_cases("group_norm", _cases)
add_layer_cases(
    "group_norm",
    lambda: [LayerCase("sequence", group_norm(2, num_position_axes=1), Arg((2, 3, 4)))],
)
