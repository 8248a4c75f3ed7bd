"""Group normalisation: per example, the channels split into groups, each group standardised.

Shapes: ``x [N, ..., C]`` (channels last), ``γ, β [C]``; with ``G`` groups the input is viewed
as ``[N, ..., G, C/G]`` and each ``(example, group)`` slice — its spatial positions and its
``C/G`` channels — is standardised as in layer normalisation::

    x̂ = (x − μ)·s,  s = rsqrt(σ² + ε),  y = γ·x̂ + β
    dx = s·(g − mean(g) − x̂·mean(g·x̂)),  g = γ·dy      (means over the slice)
    dγ = Σ_{N,...} dy·x̂      dβ = Σ_{N,...} dy           saves x̂, s, γ

``G = 1`` is layer normalisation over ``[..., C]``; ``G = C`` is instance normalisation.
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
    check_floating,
    check_input_shape,
    check_positive_int,
    check_shape_rank,
)
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.norm._standardize import (
    check_eps,
    check_float_dtype,
    expand_to,
    standardize,
    standardize_vjp,
)
from funcnet.layers.norm.layer_norm import LayerNormParams

GroupNormParams = LayerNormParams  # scale γ [C] and bias β [C], each None when unused


def check_groups(name: str, shape: Shape, num_groups: int) -> None:
    """Raise unless the last axis (the channels) splits into ``num_groups`` equal groups."""
    if shape[-1] % num_groups:
        raise ValueError(
            f"{name}: expected the channel count (last axis) to be divisible by "
            f"num_groups={num_groups}, got {shape[-1]} channels in input shape {tuple(shape)}."
        )


@op_factory("group_norm")
def group_norm_op(num_groups: int, eps: float = 1e-5, use_scale=True, use_bias=True) -> Op:
    """``(x[, γ][, β]) -> y`` normalising each group of channels of each example."""
    check_positive_int("group_norm", "num_groups", num_groups)
    check_eps("group_norm", eps)

    def grouped(x):
        """``x`` as ``[N, ..., G, C/G]`` and the axes of one group's slice."""
        check_shape_rank("group_norm", x.shape, 2)
        check_groups("group_norm", x.shape, num_groups)
        xg = x.reshape(*x.shape[:-1], num_groups, x.shape[-1] // num_groups)
        return xg, (*range(1, x.ndim - 1), x.ndim)

    def normalized(x, affine):
        xg, axes = grouped(x)
        x_hat, inv_std, _, _ = standardize(xg, axes, eps)
        x_hat = x_hat.reshape(x.shape)
        channels = lambda v: expand_to(v, x.ndim, (x.ndim - 1,))  # noqa: E731
        y = x_hat * channels(affine[0]) if use_scale else x_hat
        return (y + channels(affine[-1]) if use_bias else y), x_hat, inv_std

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
        batch_axes = tuple(range(dy.ndim - 1))
        d_affine = (jnp.sum(dy * x_hat, axis=batch_axes),) if use_scale else ()
        d_affine += (jnp.sum(dy, axis=batch_axes),) if use_bias else ()
        return (dx.reshape(dy.shape), *d_affine)

    return make_op("group_norm", forward, fwd, bwd)


def group_norm(
    num_groups: int,
    *,
    eps: float = 1e-5,
    use_scale: bool = True,
    use_bias: bool = True,
    dtype: Any = jnp.float32,
) -> Layer:
    """Group normalisation of channels-last input with ``num_groups`` groups of channels.

    Args:
      num_groups: number of groups; must divide the channel count.
      eps: added to the variance before the reciprocal square root.
      use_scale, use_bias: learn per-channel ``γ`` (init 1) and ``β`` (init 0).
      dtype: dtype of the parameters; the input must have the same dtype.

    Shapes:
      x: ``[N, ..., C]`` -> y: the same shape.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = group_norm(2)
      >>> _, params, state = layer.init(jax.random.key(0), (1, 4))
      >>> y, _ = layer.apply(params, state, jnp.array([[1.0, 3.0, 10.0, 30.0]]))
      >>> [round(v, 3) for v in y[0].tolist()]
      [-1.0, 1.0, -1.0, 1.0]
    """
    check_positive_int("group_norm", "num_groups", num_groups)
    check_float_dtype("group_norm", dtype)
    op = group_norm_op(num_groups, eps, use_scale, use_bias)

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, LayerNormParams, tuple]:
        del key
        shape = check_input_shape("group_norm", input_shape)
        check_shape_rank("group_norm", shape, 2)
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
        check_shape_rank("group_norm", shape, 2)
        leaves = tuple(p for p in params if p is not None)
        if leaves:
            check_axis_size("group_norm", shape, -1, leaves[0].shape[0])
        check_groups("group_norm", shape, num_groups)
        check_floating("group_norm", x, leaves[0].dtype if leaves else dtype)
        return op(x, *leaves, backward=backward), state

    return Layer("group_norm", init, apply)


def _cases() -> list[Case]:
    return [
        Case("image_2_groups", group_norm_op(2), (Arg((2, 3, 2, 4)), Arg((4,)), Arg((4,))),
             second_order=True),
        Case("sequence_instance_norm", group_norm_op(3, use_bias=False),
             (Arg((2, 4, 3)), Arg((3,)))),
        Case("vector_1_group_no_affine", group_norm_op(1, use_scale=False, use_bias=False),
             (Arg((3, 6)),)),
    ]  # fmt: skip


add_cases("group_norm", _cases)
