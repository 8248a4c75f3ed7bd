"""Drawing a check's arguments, cotangents and directions (:class:`~funcnet.core.registry.Arg`).

Draws come from NumPy generators, not ``jax.random``: an eager ``jax.random`` call compiles a
program for every new shape (0.2–0.9 s each on the CI machine), and a check draws a dozen
shapes per case, so sampling with JAX cost more than the checks themselves. Values are drawn
in float64 and rounded once to the check's dtype.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.core.registry import Arg
from funcnet.verify.tolerances import is_low_precision


def generators(seed: int, count: int) -> list[np.random.Generator]:
    """``count`` independent generators derived from ``seed``."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(count)]


def draw_arg(arg: Arg, rng: np.random.Generator, dtype: jnp.dtype) -> jax.Array:
    """Draw one argument; floating kinds in ``dtype``, ``"int"`` in int32."""
    if arg.kind == "int":
        return jnp.asarray(rng.integers(0, int(arg.high), arg.shape, dtype=np.int32))
    if arg.kind == "simplex":
        p = rng.uniform(0.1, 1.0, arg.shape)
        return _as(p / p.sum(axis=-1, keepdims=True), dtype)
    if arg.kind == "symmetric":
        return _as(_symmetric(rng, arg), dtype)
    if arg.kind == "positive" and arg.low <= 0:
        raise ValueError(f"verify: a positive argument needs low > 0, got low={arg.low}.")
    if is_low_precision(dtype):
        x = _distinct_uniform(rng, arg)
    else:
        x = rng.uniform(arg.low, arg.high, arg.shape)
    for point in arg.avoid:
        # Push values within `margin` of a kink further out, keeping their side of it.
        d = x - point
        x = np.where(np.abs(d) < arg.margin, x + np.where(d >= 0, 1.0, -1.0) * arg.margin, x)
    return _as(x, dtype)


def _as(x: np.ndarray, dtype: jnp.dtype) -> jax.Array:
    return jnp.asarray(np.asarray(x).astype(dtype))


def _symmetric(rng: np.random.Generator, arg: Arg) -> np.ndarray:
    """``Q diag(λ) Qᵀ`` with ``Q`` random orthogonal and ``λ_k`` drawn from the middle of the
    ``k``-th of ``n`` equal cells of ``[low, high]`` (well-separated, controlled spectra)."""
    *batch, n, m = arg.shape
    if n != m:
        raise ValueError(f"verify: a symmetric argument needs a square shape, got {arg.shape}.")
    q, r = np.linalg.qr(rng.standard_normal((*batch, n, n)))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    cells = np.arange(n) + rng.uniform(0.25, 0.75, (*batch, n))
    lam = arg.low + (arg.high - arg.low) * cells / n
    a = (q * lam[..., None, :]) @ np.swapaxes(q, -1, -2)
    return (a + np.swapaxes(a, -1, -2)) / 2


def _distinct_uniform(rng: np.random.Generator, arg: Arg) -> np.ndarray:
    """Uniform-looking values in ``[low, high]`` that stay distinct after rounding to a low dtype.

    bfloat16 keeps 8 significant bits, so plain uniform draws repeat values, and a repeated
    value is a tie — a kink — for max-like ops. The values are a shuffled grid of ``n`` cells,
    one draw per cell kept away from the cell edges; cells are wider than the dtype's spacing
    for the small shapes sample cases use.
    """
    n = math.prod(arg.shape)
    cell = rng.permutation(n)
    jitter = rng.uniform(0.25, 0.75, n)
    x = arg.low + (arg.high - arg.low) * (cell + jitter) / n
    return x.reshape(arg.shape)


def draw_args(args: tuple[Arg, ...], rng: np.random.Generator, dtype: jnp.dtype) -> tuple:
    """Draw every argument of a case, one after another from ``rng``."""
    return tuple(draw_arg(a, rng, dtype) for a in args)


def random_like(rng: np.random.Generator, x: Any) -> jax.Array:
    """Standard normal values with the shape and dtype of ``x``."""
    return _as(rng.standard_normal(jnp.shape(x)), jnp.result_type(x))


def random_cotangent(rng: np.random.Generator, y: Any) -> Any:
    """A random cotangent for an output pytree (an op may return a tuple, e.g. ``(hs, h_T)``)."""
    return jax.tree.map(lambda a: random_like(rng, a), y)


def is_differentiable(x: jax.Array) -> bool:
    """Whether an argument gets a cotangent (floating point) or not (integer labels)."""
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def to_float64(tree: Any) -> Any:
    """Floating leaves of ``tree`` in float64 (integer leaves, labels and masks, unchanged).

    Converted by NumPy: an eager ``astype`` compiles a program for every new shape.
    """
    return jax.tree.map(
        lambda a: _as(np.asarray(a), jnp.float64) if is_differentiable(a) else a, tree
    )
