"""Drawing the arguments of a sample case (see :class:`funcnet.core.registry.Arg`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.core.registry import Arg


def draw_arg(arg: Arg, key: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """Draw one argument; floating kinds in ``dtype``, ``"int"`` in int32."""
    if arg.kind == "int":
        return jax.random.randint(key, arg.shape, 0, int(arg.high), dtype=jnp.int32)
    if arg.kind == "simplex":
        p = jax.random.uniform(key, arg.shape, dtype, minval=0.1, maxval=1.0)
        return p / jnp.sum(p, axis=-1, keepdims=True)
    if arg.kind == "positive" and arg.low <= 0:
        raise ValueError(f"verify: a positive argument needs low > 0, got low={arg.low}.")
    x = jax.random.uniform(key, arg.shape, dtype, minval=arg.low, maxval=arg.high)
    for point in arg.avoid:
        # Push values within `margin` of a kink further out, keeping their side of it.
        d = x - point
        side = jnp.where(d >= 0, 1.0, -1.0).astype(dtype)
        x = jnp.where(jnp.abs(d) < arg.margin, x + side * arg.margin, x)
    return x


def draw_args(args: tuple[Arg, ...], key: jax.Array, dtype: jnp.dtype) -> tuple[jax.Array, ...]:
    """Draw every argument of a case from independent keys."""
    keys = jax.random.split(key, len(args))
    return tuple(draw_arg(a, k, dtype) for a, k in zip(args, keys, strict=True))


def is_differentiable(x: jax.Array) -> bool:
    """Whether an argument gets a cotangent (floating point) or not (integer labels)."""
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)
