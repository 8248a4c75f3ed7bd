"""Parameter initialisers: JAX's own (``jax.nn.initializers``), re-exported.

Each factory returns ``init(key, shape, dtype) -> array``; the fan-in/fan-out of a dense
kernel ``[n_in, n_out]`` are read from its last two axes, as in JAX.
"""

from __future__ import annotations

from collections.abc import Callable

from jax.nn.initializers import (
    constant,
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    lecun_normal,
    lecun_uniform,
    normal,
    ones,
    uniform,
    variance_scaling,
    zeros,
)

Initializer = Callable  # (key, shape, dtype) -> jax.Array

__all__ = [
    "Initializer",
    "constant",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "uniform",
    "variance_scaling",
    "zeros",
]
