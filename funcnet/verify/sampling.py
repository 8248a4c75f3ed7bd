"""Drawing the arguments of a sample case (see :class:`funcnet.core.registry.Arg`)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from funcnet.core.registry import Arg
from funcnet.verify.tolerances import is_low_precision


def draw_arg(arg: Arg, key: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """Draw one argument; floating kinds in ``dtype``, ``"int"`` in int32."""
    if arg.kind == "int":
        return jax.random.randint(key, arg.shape, 0, int(arg.high), dtype=jnp.int32)
    if arg.kind == "simplex":
        p = jax.random.uniform(key, arg.shape, dtype, minval=0.1, maxval=1.0)
        return p / jnp.sum(p, axis=-1, keepdims=True)
    if arg.kind == "positive" and arg.low <= 0:
        raise ValueError(f"verify: a positive argument needs low > 0, got low={arg.low}.")
    if is_low_precision(dtype):
        x = _distinct_uniform(key, arg, dtype)
    else:
        x = jax.random.uniform(key, arg.shape, dtype, minval=arg.low, maxval=arg.high)
    for point in arg.avoid:
        # Push values within `margin` of a kink further out, keeping their side of it.
        d = x - point
        side = jnp.where(d >= 0, 1.0, -1.0).astype(dtype)
        x = jnp.where(jnp.abs(d) < arg.margin, x + side * arg.margin, x)
    return x


def _distinct_uniform(key: jax.Array, arg: Arg, dtype: jnp.dtype) -> jax.Array:
    """Uniform-looking values in ``[low, high]`` that stay distinct after rounding to ``dtype``.

    bfloat16 keeps 8 significant bits, so plain uniform draws repeat values, and a repeated
    value is a tie — a kink — for max-like ops. The values are a shuffled grid of ``n`` cells,
    one draw per cell kept away from the cell edges; cells are wider than the dtype's spacing
    for the small shapes sample cases use.
    """
    n = math.prod(arg.shape)
    k_perm, k_jitter = jax.random.split(key)
    cell = jax.random.permutation(k_perm, n).astype(jnp.float32)
    jitter = jax.random.uniform(k_jitter, (n,), jnp.float32, minval=0.25, maxval=0.75)
    x = arg.low + (arg.high - arg.low) * (cell + jitter) / n
    return x.reshape(arg.shape).astype(dtype)


def draw_args(args: tuple[Arg, ...], key: jax.Array, dtype: jnp.dtype) -> tuple[jax.Array, ...]:
    """Draw every argument of a case from independent keys."""
    keys = jax.random.split(key, len(args))
    return tuple(draw_arg(a, k, dtype) for a, k in zip(args, keys, strict=True))


def is_differentiable(x: jax.Array) -> bool:
    """Whether an argument gets a cotangent (floating point) or not (integer labels)."""
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)
