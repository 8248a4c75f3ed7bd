"""The layer around a convolution-like op (convolution, transposed convolution) and its params."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from funcnet.core.layer import (
    Layer,
    Shape,
    check_float_dtype,
    check_floating,
    check_input_shape,
    check_option_applies,
    check_positive_int,
)
from funcnet.core.op import Op, check_backward
from funcnet.initializers import Initializer, lecun_normal, zeros
from funcnet.layers._windows import check_conv_args, check_input_rank, traced_output_shape


class ConvParams(NamedTuple):
    w: jax.Array  # [*window, C_in/groups, C_out] (conv) or [*window, C_in, C_out] (transpose)
    b: jax.Array | None  # [C_out], or None without bias


def conv_like_layer(
    name: str, n: int, op: Op, window: tuple[int, ...], features: int, groups: int,
    use_bias: bool, w_init: Initializer | None, b_init: Initializer | None, dtype: Any,
) -> Layer:  # fmt: skip
    """The layer around a convolution-like ``op(x, w[, b])`` over ``n`` spatial axes with
    ``w [*window, C_in/groups, features]`` (a transposed convolution has ``groups = 1``)."""
    check_positive_int(name, "features", features)
    if features % groups:
        raise ValueError(f"{name}: expected features divisible by groups={groups}, got {features}.")
    check_float_dtype(name, dtype)
    check_option_applies(name, "b_init", b_init, use_bias, "with use_bias=True")
    w_init = w_init or lecun_normal(in_axis=-2, out_axis=-1)  # fan_in = prod(window)·C_in/G
    b_init = b_init or zeros

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, ConvParams, tuple]:
        shape = check_input_shape(name, input_shape)
        check_input_rank(name, shape, n)
        if shape[-1] % groups:
            raise ValueError(
                f"{name}: expected input channels divisible by groups={groups}, got input shape "
                f"{shape}."
            )
        w_key, b_key = jax.random.split(key)
        w = w_init(w_key, (*window, shape[-1] // groups, features), dtype)
        params = ConvParams(w, b_init(b_key, (features,), dtype) if use_bias else None)
        return traced_output_shape(op.forward, shape, params), params, ()

    def apply(params: ConvParams, state, x, *, key=None, train=False, backward="manual"):
        del key, train
        check_backward(backward, name)
        check_conv_args(name, jnp.shape(x), params.w.shape, n, groups)
        check_floating(name, x, params.w.dtype)
        args = (x, params.w, params.b) if use_bias else (x, params.w)
        return op(*args, backward=backward), state

    return Layer(name, init, apply)
