"""Standardising over a set of axes, and its closed-form VJP and JVP (shared by the norm layers).

Over the ``N`` elements of each slice reduced by ``axes``::

    μ = mean(x)    σ² = mean((x − μ)²)    s = σ⁻¹ = rsqrt(σ² + ε)    x̂ = (x − μ)·s

and, for a cotangent ``g = ∂L/∂x̂``, the VJP through ``μ`` and ``σ²`` collapses to::

    dx = s·(g − mean(g) − x̂·mean(g·x̂))    =  (1/N)·s·(N·g − Σg − x̂·Σ(g·x̂))

which needs only ``x̂`` and ``s``. The Jacobian is symmetric, so the JVP is the same operator
applied to a tangent: ``x̂̇ = s·(ẋ − mean(ẋ) − x̂·mean(x̂·ẋ))``. The variance is the two-pass
``mean((x − μ)²)`` (never the cancelling ``E[x²] − μ²``) and ``rsqrt(σ² + ε)`` is finite even
for a constant slice.
Derivation: docs/normalization.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp


def resolve_axes(name: str, axis: int | Sequence[int], rank: int) -> tuple[int, ...]:
    """``axis`` (an int or a sequence of distinct ints, negatives allowed) as sorted axes."""
    check_axis_spec(name, axis)
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if any(not -rank <= a < rank for a in axes):
        raise ValueError(
            f"{name}: expected every axis in [{-rank}, {rank}) for an input of rank {rank}, "
            f"got axis={axis!r}."
        )
    resolved = tuple(sorted(a % rank for a in axes))
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"{name}: expected distinct axes, got axis={axis!r}.")
    return resolved


def check_axis_spec(name: str, axis: Any) -> None:
    """Raise unless ``axis`` is an int or a non-empty tuple/list of ints (rank not yet known):
    a TypeError for another kind of object, a ValueError for an empty sequence."""
    if isinstance(axis, int) and not isinstance(axis, bool):
        return
    message = f"{name}: expected axis to be an int or a tuple of ints, got {axis!r}."
    if not isinstance(axis, (tuple, list)) or any(
        isinstance(a, bool) or not isinstance(a, int) for a in axis
    ):
        raise TypeError(message)
    if not axis:
        raise ValueError(message)


def check_eps(name: str, eps: Any) -> None:
    """Raise unless ``eps`` is a positive number (it keeps ``rsqrt(σ² + ε)`` finite)."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise TypeError(f"{name}: expected eps to be a positive number, got {eps!r}.")
    if not eps > 0:
        raise ValueError(f"{name}: expected eps to be a positive number, got {eps!r}.")


def standardize(x: jax.Array, axes: tuple[int, ...], eps: float) -> tuple[jax.Array, ...]:
    """``(x̂, s, μ, σ²)`` over ``axes``; ``s``, ``μ`` and ``σ²`` keep the reduced axes (size 1)."""
    mean = jnp.mean(x, axis=axes, keepdims=True)
    centred = x - mean
    var = jnp.mean(jnp.square(centred), axis=axes, keepdims=True)
    inv_std = jax.lax.rsqrt(var + eps)
    return centred * inv_std, inv_std, mean, var


def standardize_vjp(
    x_hat: jax.Array,
    inv_std: jax.Array,
    g: jax.Array,
    axes: tuple[int, ...],
    extra: jax.Array | float = 0.0,
) -> jax.Array:
    """``dx = s·(g − mean(g) − x̂·(mean(g·x̂) − extra))``: the VJP of :func:`standardize`'s ``x̂``.

    ``extra`` (shaped like ``s``) lets a caller fold in another term proportional to ``s·x̂``
    (batch norm's variance cotangent) without a second pass over ``x``.
    """
    mean_g = jnp.mean(g, axis=axes, keepdims=True)
    mean_gx = jnp.mean(g * x_hat, axis=axes, keepdims=True)
    return inv_std * (g - mean_g - x_hat * (mean_gx - extra))


def standardize_jvp(
    x_hat: jax.Array, inv_std: jax.Array, dx: jax.Array, axes: tuple[int, ...], centred: bool = True
) -> jax.Array:
    """``x̂̇ = s·(ẋ − mean(ẋ) − x̂·mean(x̂·ẋ))``: the JVP of :func:`standardize`'s ``x̂``.

    Its Jacobian ``s·(I − 11ᵀ/N − x̂x̂ᵀ/N)`` is symmetric, so this is :func:`standardize_vjp`
    applied to the tangent. With ``centred=False`` it is the JVP of RMS normalisation's
    ``x̂ = x·s``, ``s·(ẋ − x̂·mean(x̂·ẋ))`` (no mean to subtract; again symmetric).
    """
    if centred:
        return standardize_vjp(x_hat, inv_std, dx, axes)
    return inv_std * (dx - x_hat * jnp.mean(x_hat * dx, axis=axes, keepdims=True))


def expand_to(v: jax.Array, rank: int, kept: tuple[int, ...]) -> jax.Array:
    """Insert size-1 axes so that ``v``'s axes land at positions ``kept`` of rank ``rank``."""
    return jnp.expand_dims(v, tuple(i for i in range(rank) if i not in kept))


def apply_affine(x_hat: jax.Array, affine: tuple, use_scale: bool, use_bias: bool,
                 axes: tuple[int, ...]) -> jax.Array:  # fmt: skip
    """``γ·x̂ + β`` (each term only when used), ``γ, β`` holding ``x̂``'s sizes on ``axes``."""
    y = x_hat * expand_to(affine[0], x_hat.ndim, axes) if use_scale else x_hat
    return y + expand_to(affine[-1], x_hat.ndim, axes) if use_bias else y


def affine_jvp(x_hat: jax.Array, d_x_hat: jax.Array, affine: tuple, d_affine: tuple,
               use_scale: bool, use_bias: bool, axes: tuple[int, ...]) -> jax.Array:  # fmt: skip
    """``ẏ = γ·x̂̇ + γ̇·x̂ + β̇`` (each term only when used): the JVP of :func:`apply_affine`."""
    scale, d_shift = (affine[:1] if use_scale else ()), (d_affine[-1:] if use_bias else ())
    dy = apply_affine(d_x_hat, (*scale, *d_shift), use_scale, use_bias, axes)  # γ·x̂̇ + β̇
    return dy + x_hat * expand_to(d_affine[0], x_hat.ndim, axes) if use_scale else dy


def affine_grads(dy: jax.Array, x_hat: jax.Array, use_scale: bool, use_bias: bool,
                 other: tuple[int, ...]) -> tuple[jax.Array, ...]:  # fmt: skip
    """``(dγ, dβ) = (Σ_other dy·x̂, Σ_other dy)``, each only when used."""
    d_scale = (jnp.sum(dy * x_hat, axis=other),) if use_scale else ()
    return d_scale + ((jnp.sum(dy, axis=other),) if use_bias else ())


def per_example_affine_norms(dy, x_hat, other, use_scale, use_bias) -> tuple[jax.Array, ...]:
    """Per-example squared norms of ``dγ = Σ dy·x̂`` and ``dβ = Σ dy`` (summed over the axes
    ``other`` except the example axis, 0)."""
    if 0 not in other:
        raise ValueError(
            "per-example norms: expected a leading example axis outside the normalised axes, "
            f"got an input of shape {x_hat.shape}."
        )
    within = tuple(a for a in other if a != 0)

    def sq(a):
        s = jnp.sum(a, axis=within)
        return jnp.sum(s.reshape(s.shape[0], -1) ** 2, axis=1)

    return ((sq(dy * x_hat),) if use_scale else ()) + ((sq(dy),) if use_bias else ())
