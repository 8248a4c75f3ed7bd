"""Batch normalisation over every axis but the feature axis.

Shapes: ``x [...]`` with ``C`` features on ``axis``; ``γ, β, μ, σ² [C]``. Per feature, over its
``N`` values (the batch and any spatial axes), training mode computes::

    μ = mean(x)   σ² = mean((x − μ)²)   s = rsqrt(σ² + ε)   x̂ = (x − μ)·s   y = γ·x̂ + β

and returns ``(y, μ, σ²)``; its backward is exact for all three cotangents::

    dx = (s/N)·(N·g − Σg − x̂·Σ(g·x̂)) + (dμ + 2·dσ²·(x − μ))/N     g = γ·dy
    dγ = Σ dy·x̂      dβ = Σ dy                                      saves x̂, s, γ

Evaluation mode is the affine map ``y = γ·(x − μ)·rsqrt(σ² + ε) + β`` with the running
statistics as arguments. Derivations and the running-statistics convention: docs/normalization.md.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from funcnet.core.layer import (
    Layer,
    Shape,
    check_axis_size,
    check_float_dtype,
    check_floating,
    check_input_shape,
    check_negative_axes,
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
    resolve_axes,
    standardize,
    standardize_jvp,
    standardize_vjp,
)


class BatchNormParams(NamedTuple):
    scale: jax.Array | None  # γ [C], or None without scale
    bias: jax.Array | None  # β [C], or None without bias


class BatchNormState(NamedTuple):
    mean: jax.Array  # running mean [C]
    var: jax.Array  # running (unbiased) variance [C]


@op_factory("batch_norm")
def batch_norm_op(axis: int = -1, eps: float = 1e-5, use_scale=True, use_bias=True) -> Op:
    """Training mode: ``(x[, γ][, β]) -> (y, μ, σ²)`` with the batch statistics (σ² biased)."""
    check_eps("batch_norm", eps)

    def stats(x):
        (feature,) = resolve_axes("batch_norm", axis, x.ndim)
        reduce = tuple(i for i in range(x.ndim) if i != feature)
        return feature, reduce, standardize(x, reduce, eps)

    def forward(x, *affine):
        feature, _, (x_hat, _, mean, var) = stats(x)
        y = apply_affine(x_hat, affine, use_scale, use_bias, (feature,))
        return y, mean.reshape(-1), var.reshape(-1)

    def fwd(x, *affine):
        feature, _, (x_hat, inv_std, mean, var) = stats(x)
        y = apply_affine(x_hat, affine, use_scale, use_bias, (feature,))
        scale = affine[:1] if use_scale else ()
        return (y, mean.reshape(-1), var.reshape(-1)), (x_hat, inv_std, scale)

    def bwd(res, cotangents):
        # dx = (s/N)(N·g − Σg − x̂·Σ(g·x̂)) + (dμ + 2·dσ²·x̂/s)/N, g = γ·dy; dγ = Σ dy·x̂; dβ = Σ dy
        x_hat, inv_std, scale = res
        dy, d_mean, d_var = cotangents  # None: that output is not differentiated (see make_op)
        (feature,) = resolve_axes("batch_norm", axis, x_hat.ndim)
        reduce = tuple(i for i in range(x_hat.ndim) if i != feature)
        n = x_hat.size // x_hat.shape[feature]
        dy = jnp.zeros_like(x_hat) if dy is None else dy
        g = dy * expand_to(scale[0], x_hat.ndim, (feature,)) if use_scale else dy
        # the σ² cotangent joins the x̂·Σ(g·x̂) term: 2·dσ²·(x − μ)/N = s·x̂·(2·dσ²/(N·s²))
        var_term = 0.0
        if d_var is not None:
            d_var = expand_to(d_var, x_hat.ndim, (feature,))
            var_term = (2.0 / n) * d_var / jnp.square(inv_std)
        dx = standardize_vjp(x_hat, inv_std, g, reduce, var_term)
        if d_mean is not None:
            dx = dx + expand_to(d_mean, x_hat.ndim, (feature,)) / n
        return (dx, *affine_grads(dy, x_hat, use_scale, use_bias, reduce))

    def jvp(primals, tangents):
        # ẏ = γ·x̂̇ + γ̇·x̂ + β̇, x̂̇ = s·(ẋ − mean(ẋ) − x̂·mean(x̂·ẋ)); μ̇ = mean(ẋ); σ̇² = 2·mean(x̂·ẋ)/s
        (x, *affine), (dx, *d_affine) = primals, tangents
        feature, reduce, (x_hat, inv_std, mean, var) = stats(x)
        y = apply_affine(x_hat, affine, use_scale, use_bias, (feature,))
        d_x_hat = standardize_jvp(x_hat, inv_std, dx, reduce)
        dy = affine_jvp(x_hat, d_x_hat, affine, d_affine, use_scale, use_bias, (feature,))
        d_mean = jnp.mean(dx, axis=reduce)
        d_var = 2.0 * jnp.mean(x_hat * dx, axis=reduce, keepdims=True) / inv_std
        return (y, mean.reshape(-1), var.reshape(-1)), (dy, d_mean, d_var.reshape(-1))

    return make_op("batch_norm", forward, fwd, bwd, unused_outputs=True, jvp=jvp)


@op_factory("batch_norm_eval")
def batch_norm_eval_op(axis: int = -1, eps: float = 1e-5, use_scale=True, use_bias=True) -> Op:
    """Evaluation mode: ``(x, μ, σ²[, γ][, β]) -> γ·(x − μ)·rsqrt(σ² + ε) + β``."""
    check_eps("batch_norm_eval", eps)

    def normalized(x, mean, var):
        (feature,) = resolve_axes("batch_norm_eval", axis, x.ndim)
        inv_std = jax.lax.rsqrt(var + eps)
        x_hat = (x - expand_to(mean, x.ndim, (feature,))) * expand_to(inv_std, x.ndim, (feature,))
        return feature, x_hat, inv_std

    def forward(x, mean, var, *affine):
        feature, x_hat, _ = normalized(x, mean, var)
        return apply_affine(x_hat, affine, use_scale, use_bias, (feature,))

    def fwd(x, mean, var, *affine):
        feature, x_hat, inv_std = normalized(x, mean, var)
        y = apply_affine(x_hat, affine, use_scale, use_bias, (feature,))
        return y, (x_hat, inv_std, affine[:1] if use_scale else ())

    def bwd(res, dy):
        # dx = γ·s·dy, dμ = −Σ dx, dσ² = −½·s²·γ·Σ(dy·x̂), dγ = Σ dy·x̂, dβ = Σ dy
        x_hat, inv_std, scale = res
        (feature,) = resolve_axes("batch_norm_eval", axis, x_hat.ndim)
        reduce = tuple(i for i in range(x_hat.ndim) if i != feature)
        gain = scale[0] * inv_std if use_scale else inv_std
        dx = dy * expand_to(gain, x_hat.ndim, (feature,))
        d_var = -0.5 * gain * inv_std * jnp.sum(dy * x_hat, axis=reduce)
        d_affine = affine_grads(dy, x_hat, use_scale, use_bias, reduce)
        return (dx, -jnp.sum(dx, axis=reduce), d_var, *d_affine)

    def per_example_norms(res, dy):
        # examples are independent here (μ, σ² are fixed statistics): ‖dγᵢ‖² = ‖Σ_pos dy·x̂‖²,
        # ‖dβᵢ‖² = ‖Σ_pos dy‖² over example i's positions; μ and σ² are state, not parameters
        x_hat, _, _ = res
        (feature,) = resolve_axes("batch_norm_eval", axis, x_hat.ndim)
        reduce = tuple(i for i in range(x_hat.ndim) if i != feature)
        return (None, None, None, *per_example_affine_norms(dy, x_hat, reduce, use_scale, use_bias))

    def jvp(primals, tangents):
        # ẏ = γ·x̂̇ + γ̇·x̂ + β̇, x̂̇ = s·(ẋ − μ̇) − ½·s²·σ̇²·x̂ (the transpose of the VJP's four terms)
        (x, mean, var, *affine), (dx, d_mean, d_var, *d_affine) = primals, tangents
        feature, x_hat, inv_std = normalized(x, mean, var)
        y = apply_affine(x_hat, affine, use_scale, use_bias, (feature,))

        def per_feature(v):
            return expand_to(v, x.ndim, (feature,))

        d_inv_std_rel = per_feature(-0.5 * jnp.square(inv_std) * d_var)  # ṡ/s
        d_x_hat = per_feature(inv_std) * (dx - per_feature(d_mean)) + x_hat * d_inv_std_rel
        return y, affine_jvp(x_hat, d_x_hat, affine, d_affine, use_scale, use_bias, (feature,))

    return make_op(
        "batch_norm_eval", forward, fwd, bwd, per_example_norms=per_example_norms, jvp=jvp
    )


@layer_factory("batch_norm")
def batch_norm(
    *,
    axis: int = -1,
    momentum: float = 0.9,
    eps: float = 1e-5,
    use_scale: bool = True,
    use_bias: bool = True,
    dtype: Any = jnp.float32,
) -> Layer:
    """Batch normalisation with learned ``γ, β`` and running statistics in ``state``.

    Args:
      axis: the feature axis, negative (counted from the end, so that the layer means the same
        with any number of leading batch axes); statistics are taken over every other axis.
      momentum: ``running = momentum·running + (1 − momentum)·batch`` after each training call.
      eps: added to the variance before the reciprocal square root.
      use_scale, use_bias: learn ``γ`` (init 1) and ``β`` (init 0).
      dtype: dtype of the parameters and statistics; the input must have the same dtype.

    With ``train=True`` the batch statistics normalise and the running ones are updated (the
    variance unbiased, ``N/(N − 1)``·σ²); one value per feature is an error. With
    ``train=False`` the running statistics normalise and ``state`` is returned unchanged.

    Shapes:
      x: ``[...]`` with ``C`` features on ``axis`` (and, in training mode, more than one value
      per feature) -> y: the same shape.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = batch_norm()
      >>> _, params, state = layer.init(jax.random.key(0), (4, 3))
      >>> x = jnp.arange(12.0).reshape(4, 3)
      >>> y, state = layer.apply(params, state, x, train=True)
      >>> [round(v, 3) for v in y[:, 0].tolist()]
      [-1.342, -0.447, 0.447, 1.342]
      >>> [round(v, 3) for v in state.mean.tolist()]  # 0.9·0 + 0.1·(4.5, 5.5, 6.5)
      [0.45, 0.55, 0.65]
    """
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"batch_norm: expected axis to be an int, got {axis!r}.")
    check_negative_axes("batch_norm", axis)
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
        raise TypeError(f"batch_norm: expected momentum in [0, 1], got {momentum!r}.")
    if not 0 <= momentum <= 1:
        raise ValueError(f"batch_norm: expected momentum in [0, 1], got {momentum!r}.")
    check_eps("batch_norm", eps)
    check_float_dtype("batch_norm", dtype)
    train_op = batch_norm_op(axis, eps, use_scale, use_bias)
    eval_op = batch_norm_eval_op(axis, eps, use_scale, use_bias)

    def check_shape(shape: Shape) -> int:
        check_shape_rank("batch_norm", shape, 1)
        (feature,) = resolve_axes("batch_norm", axis, len(shape))
        return feature

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, BatchNormParams, BatchNormState]:
        del key
        shape = check_input_shape("batch_norm", input_shape)
        c = shape[check_shape(shape)]
        params = BatchNormParams(
            jnp.ones((c,), dtype) if use_scale else None,
            jnp.zeros((c,), dtype) if use_bias else None,
        )
        return shape, params, BatchNormState(jnp.zeros((c,), dtype), jnp.ones((c,), dtype))

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        del key
        check_backward(backward, "batch_norm")
        shape = jnp.shape(x)
        feature = check_shape(shape)
        check_axis_size("batch_norm", shape, axis, state.mean.shape[0])
        check_floating("batch_norm", x, state.mean.dtype)
        affine = tuple(p for p in params if p is not None)
        if not train:
            return eval_op(x, state.mean, state.var, *affine, backward=backward), state
        n = x.size // shape[feature]
        if n < 2:
            raise ValueError(
                f"batch_norm: expected more than one value per feature in training mode "
                f"(axis {axis} holds the features), got input shape {tuple(shape)}."
            )
        y, mean, var = train_op(x, *affine, backward=backward)
        mean, var = jax.lax.stop_gradient(mean), jax.lax.stop_gradient(var * (n / (n - 1)))
        new_state = BatchNormState(
            momentum * state.mean + (1 - momentum) * mean,
            momentum * state.var + (1 - momentum) * var,
        )
        return y, new_state

    return Layer("batch_norm", init, apply)


def _train_cases() -> list[Case]:
    last, middle = batch_norm_op(-1), batch_norm_op(1, use_scale=False, use_bias=False)
    return [
        Case("features_last", last, (Arg((6, 4)), Arg((4,)), Arg((4,))), second_order=True),
        Case("channels_last_image", last, (Arg((2, 3, 3, 2)), Arg((2,)), Arg((2,)))),
        Case("axis_1_no_affine", middle, (Arg((3, 4, 2)),)),
    ]


def _eval_cases() -> list[Case]:
    last, middle = batch_norm_eval_op(-1), batch_norm_eval_op(1, use_scale=False, use_bias=False)
    var = lambda c: Arg((c,), "positive", 0.5, 2.0)  # noqa: E731
    return [
        Case("features_last", last, (Arg((5, 3)), Arg((3,)), var(3), Arg((3,)), Arg((3,))),
             second_order=True),
        Case("axis_1_no_affine", middle, (Arg((2, 3, 4)), Arg((3,)), var(3))),
    ]  # fmt: skip


add_cases("batch_norm", _train_cases)
add_cases("batch_norm_eval", _eval_cases)
add_layer_cases(
    "batch_norm",
    lambda: [
        LayerCase("train", batch_norm(), Arg((4, 3)), train=True),
        LayerCase("eval_image", batch_norm(), Arg((2, 2, 2, 3))),
    ],
)
