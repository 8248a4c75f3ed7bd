"""Layer normalisation and RMS normalisation over the trailing (or given) axes of each example.

Shapes: ``x [...]``; the normalised axes ``A`` (``axis``, default the last) hold ``D`` values
per slice; ``γ, β`` have the shape of ``x`` on ``A``. Per slice::

    layer_norm:  x̂ = (x − mean x)·s,  s = rsqrt(mean((x − mean x)²) + ε),  y = γ·x̂ + β
                 dx = s·(g − mean(g) − x̂·mean(g·x̂)),   g = γ·dy            saves x̂, s, γ
    rms_norm:    x̂ = x·s,  s = rsqrt(mean(x²) + ε),  y = γ·x̂
                 dx = s·(g − x̂·mean(g·x̂))                                 saves x̂, s, γ

with ``dγ = Σ dy·x̂`` and ``dβ = Σ dy`` summed over the other axes. Derivations:
docs/normalization.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from funcnet.core.layer import (
    Layer,
    Shape,
    check_float_dtype,
    check_floating,
    check_input_shape,
    check_negative_axes,
)
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.norm._standardize import (
    affine_grads,
    affine_jvp,
    apply_affine,
    check_axis_spec,
    check_eps,
    expand_to,
    per_example_affine_norms,
    resolve_axes,
    standardize,
    standardize_jvp,
    standardize_vjp,
)

Axis = int | Sequence[int]


class LayerNormParams(NamedTuple):
    scale: jax.Array | None  # γ, the input's shape on the normalised axes; None without scale
    bias: jax.Array | None  # β, the same shape; None without bias


def _split_axes(name: str, axis: Axis, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(normalised axes, other axes)`` of a rank-``rank`` input."""
    axes = resolve_axes(name, axis, rank)
    return axes, tuple(i for i in range(rank) if i not in axes)


@op_factory("layer_norm")
def layer_norm_op(axis: Axis = -1, eps: float = 1e-5, use_scale=True, use_bias=True) -> Op:
    """``(x[, γ][, β]) -> γ·(x − μ)·rsqrt(σ² + ε) + β`` with statistics over ``axis``."""
    check_axis_spec("layer_norm", axis)
    check_eps("layer_norm", eps)

    def normalized(x, affine):
        axes, _ = _split_axes("layer_norm", axis, x.ndim)
        x_hat, inv_std, _, _ = standardize(x, axes, eps)
        return apply_affine(x_hat, affine, use_scale, use_bias, axes), x_hat, inv_std

    def forward(x, *affine):
        return normalized(x, affine)[0]

    def fwd(x, *affine):
        y, x_hat, inv_std = normalized(x, affine)
        return y, (x_hat, inv_std, affine[:1] if use_scale else ())

    def bwd(res, dy):
        # dx = s·(g − mean(g) − x̂·mean(g·x̂)), g = γ·dy; dγ = Σ_other dy·x̂; dβ = Σ_other dy
        x_hat, inv_std, scale = res
        axes, other = _split_axes("layer_norm", axis, x_hat.ndim)
        g = dy * expand_to(scale[0], x_hat.ndim, axes) if use_scale else dy
        dx = standardize_vjp(x_hat, inv_std, g, axes)
        return (dx, *affine_grads(dy, x_hat, use_scale, use_bias, other))

    def per_example_norms(res, dy):
        # ‖dγᵢ‖² = ‖Σ_{other axes of i} dy·x̂‖², ‖dβᵢ‖² = ‖Σ_{other axes of i} dy‖²
        x_hat, _, _ = res
        _, other = _split_axes("layer_norm", axis, x_hat.ndim)
        return (None, *per_example_affine_norms(dy, x_hat, other, use_scale, use_bias))

    def jvp(primals, tangents):
        # ẏ = γ·x̂̇ + γ̇·x̂ + β̇, x̂̇ = s·(ẋ − mean(ẋ) − x̂·mean(x̂·ẋ)): the VJP's symmetric Jacobian
        (x, *affine), (dx, *d_affine) = primals, tangents
        y, x_hat, inv_std = normalized(x, affine)
        axes, _ = _split_axes("layer_norm", axis, x.ndim)
        d_x_hat = standardize_jvp(x_hat, inv_std, dx, axes)
        return y, affine_jvp(x_hat, d_x_hat, affine, d_affine, use_scale, use_bias, axes)

    return make_op("layer_norm", forward, fwd, bwd, per_example_norms=per_example_norms, jvp=jvp)


@op_factory("rms_norm")
def rms_norm_op(axis: Axis = -1, eps: float = 1e-6, use_scale=True) -> Op:
    """``(x[, γ]) -> γ·x·rsqrt(mean(x²) + ε)`` with the mean over ``axis``."""
    check_axis_spec("rms_norm", axis)
    check_eps("rms_norm", eps)

    def normalized(x, scale):
        axes, _ = _split_axes("rms_norm", axis, x.ndim)
        inv_rms = jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=axes, keepdims=True) + eps)
        x_hat = x * inv_rms
        y = x_hat * expand_to(scale[0], x.ndim, axes) if use_scale else x_hat
        return y, x_hat, inv_rms

    def forward(x, *scale):
        return normalized(x, scale)[0]

    def fwd(x, *scale):
        y, x_hat, inv_rms = normalized(x, scale)
        return y, (x_hat, inv_rms, scale)

    def bwd(res, dy):
        # dx = s·(g − x̂·mean(g·x̂)), g = γ·dy; dγ = Σ_other dy·x̂
        x_hat, inv_rms, scale = res
        axes, other = _split_axes("rms_norm", axis, x_hat.ndim)
        g = dy * expand_to(scale[0], x_hat.ndim, axes) if use_scale else dy
        dx = inv_rms * (g - x_hat * jnp.mean(g * x_hat, axis=axes, keepdims=True))
        return (dx, jnp.sum(dy * x_hat, axis=other)) if use_scale else (dx,)

    def per_example_norms(res, dy):
        # ‖dγᵢ‖² = ‖Σ_{other axes of i} dy·x̂‖²
        x_hat, _, _ = res
        _, other = _split_axes("rms_norm", axis, x_hat.ndim)
        return (None, *per_example_affine_norms(dy, x_hat, other, use_scale, False))

    def jvp(primals, tangents):
        # ẏ = γ·s·(ẋ − x̂·mean(x̂·ẋ)) + γ̇·x̂: the VJP's symmetric Jacobian
        (x, *scale), (dx, *d_scale) = primals, tangents
        y, x_hat, inv_rms = normalized(x, scale)
        axes, _ = _split_axes("rms_norm", axis, x.ndim)
        d_x_hat = standardize_jvp(x_hat, inv_rms, dx, axes, centred=False)
        return y, affine_jvp(x_hat, d_x_hat, scale, d_scale, use_scale, False, axes)

    return make_op("rms_norm", forward, fwd, bwd, per_example_norms=per_example_norms, jvp=jvp)


def _norm_layer(name: str, op: Op, axis: Axis, params_for, dtype: Any) -> Layer:
    """The layer around a normalisation op whose parameters have the normalised axes' shape."""
    check_negative_axes(name, axis)

    def init(key: jax.Array, input_shape: Shape):
        del key
        shape = check_input_shape(name, input_shape)
        axes = resolve_axes(name, axis, len(shape))
        return shape, params_for(tuple(shape[i] for i in axes)), ()

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        del key, train
        check_backward(backward, name)
        shape = jnp.shape(x)
        axes = resolve_axes(name, axis, len(shape))
        leaves = tuple(p for p in params if p is not None)
        expected = tuple(leaves[0].shape) if leaves else tuple(shape[i] for i in axes)
        if tuple(shape[i] for i in axes) != expected:
            raise ValueError(
                f"{name}: expected the normalised axes {axes} to have sizes {expected}, "
                f"got input shape {tuple(shape)}."
            )
        check_floating(name, x, leaves[0].dtype if leaves else dtype)
        return op(x, *leaves, backward=backward), state

    return Layer(name, init, apply)


@layer_factory("layer_norm")
def layer_norm(
    *,
    axis: Axis = -1,
    eps: float = 1e-5,
    use_scale: bool = True,
    use_bias: bool = True,
    dtype: Any = jnp.float32,
) -> Layer:
    """Layer normalisation: each slice over ``axis`` to zero mean and unit variance, then γ, β.

    Args:
      axis: the normalised axis or axes, negative ints (counted from the end, so that the layer
        means the same with any number of leading batch axes).
      eps: added to the variance before the reciprocal square root.
      use_scale, use_bias: learn ``γ`` (init 1) and ``β`` (init 0), shaped like the input on
        the normalised axes.
      dtype: dtype of the parameters; the input must have the same dtype.

    Shapes:
      x: ``[...]`` -> y: the same shape.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = layer_norm()
      >>> _, params, state = layer.init(jax.random.key(0), (2, 4))
      >>> y, _ = layer.apply(params, state, jnp.array([[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0]]))
      >>> [[round(v, 3) for v in row] for row in y.tolist()]
      [[-1.342, -0.447, 0.447, 1.342], [0.0, 0.0, 0.0, 0.0]]
    """
    check_float_dtype("layer_norm", dtype)
    op = layer_norm_op(axis, eps, use_scale, use_bias)

    def params_for(shape: Shape) -> LayerNormParams:
        return LayerNormParams(
            jnp.ones(shape, dtype) if use_scale else None,
            jnp.zeros(shape, dtype) if use_bias else None,
        )

    return _norm_layer("layer_norm", op, axis, params_for, dtype)


@layer_factory("rms_norm")
def rms_norm(
    *, axis: Axis = -1, eps: float = 1e-6, use_scale: bool = True, dtype: Any = jnp.float32
) -> Layer:
    """RMS normalisation: each slice over ``axis`` divided by its root mean square, then γ.

    Args:
      axis: the normalised axis or axes, negative ints (counted from the end, so that the layer
        means the same with any number of leading batch axes).
      eps: added to the mean square before the reciprocal square root.
      use_scale: learn ``γ`` (init 1), shaped like the input on the normalised axes.
      dtype: dtype of the parameters; the input must have the same dtype.

    Shapes:
      x: ``[...]`` -> y: the same shape.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = rms_norm()
      >>> _, params, state = layer.init(jax.random.key(0), (1, 2))
      >>> y, _ = layer.apply(params, state, jnp.array([[3.0, 4.0]]))
      >>> [round(v, 4) for v in y[0].tolist()]
      [0.8485, 1.1314]
    """
    check_float_dtype("rms_norm", dtype)
    op = rms_norm_op(axis, eps, use_scale)

    def params_for(shape: Shape) -> LayerNormParams:
        return LayerNormParams(jnp.ones(shape, dtype) if use_scale else None, None)

    return _norm_layer("rms_norm", op, axis, params_for, dtype)


def _layer_norm_cases() -> list[Case]:
    last, two_axes = layer_norm_op(-1), layer_norm_op((-2, -1), use_bias=False)
    return [
        Case("last_axis", last, (Arg((3, 5)), Arg((5,)), Arg((5,))), second_order=True),
        Case("two_axes_scale_only", two_axes, (Arg((2, 3, 4)), Arg((3, 4)))),
        Case("axis_0_no_affine", layer_norm_op(0, use_scale=False, use_bias=False), (Arg((6, 2)),)),
    ]


def _rms_norm_cases() -> list[Case]:
    return [
        Case("last_axis", rms_norm_op(-1), (Arg((3, 5)), Arg((5,))), second_order=True),
        Case("middle_axis_no_scale", rms_norm_op(1, use_scale=False), (Arg((2, 4, 3)),)),
    ]


add_cases("layer_norm", _layer_norm_cases)
add_cases("rms_norm", _rms_norm_cases)
add_layer_cases(
    "layer_norm", lambda: [LayerCase("two_axes", layer_norm(axis=(-2, -1)), Arg((2, 3, 4)))]
)
add_layer_cases("rms_norm", lambda: [LayerCase("last_axis", rms_norm(), Arg((3, 4)))])
