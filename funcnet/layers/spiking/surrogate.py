"""Surrogate derivatives of the spike ``S = H(u)``, ``u = V − θ``.

The Heaviside step has derivative zero almost everywhere, so the backward of a spiking layer
replaces ``H'(u)`` by a surrogate ``σ(u)`` of sharpness ``slope`` (Neftci, Mostafa & Zenke
2019). Each surrogate is the derivative of a smooth ``g``, so ``g(u) + stop_gradient(H(u) −
g(u))`` has the spike's values and the surrogate as its autodiff: the gradient reference.

=================  =================================  ==========================  =======
name               σ(u)                               g(u)                        slope
=================  =================================  ==========================  =======
fast_sigmoid       1 / (1 + k|u|)²  (SuperSpike)      u / (1 + k|u|)              25
arctan             (k/2) / (1 + (πku/2)²)             arctan(πku/2) / π           2
triangle           max(0, 1 − k|u|)                   ∫σ (u clipped to ±1/k)      1
straight_through   1                                  u                           —
=================  =================================  ==========================  =======

The defaults are snnTorch's (``fast_sigmoid`` slope 25, ``atan`` alpha 2); every peak is 1 at
its default. Derivation: docs/spiking.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax


class Surrogate(NamedTuple):
    """A surrogate derivative ``derivative(u)``, a smooth ``antiderivative(u)`` of it, and the
    sharpness ``slope`` it was built with (``None`` for straight-through)."""

    name: str
    derivative: Callable[[jax.Array], jax.Array]
    antiderivative: Callable[[jax.Array], jax.Array]
    slope: float | None = None


def _fast_sigmoid(k: float) -> Surrogate:
    return Surrogate(
        "fast_sigmoid",
        lambda u: 1 / jnp.square(1 + k * jnp.abs(u)),
        lambda u: u / (1 + k * jnp.abs(u)),
        k,
    )


def _arctan(k: float) -> Surrogate:
    c = jnp.pi * k / 2
    return Surrogate(
        "arctan",
        lambda u: (k / 2) / (1 + jnp.square(c * u)),
        lambda u: jnp.arctan(c * u) / jnp.pi,
        k,
    )


def _triangle(k: float) -> Surrogate:
    def antiderivative(u):
        uc = jnp.clip(u, -1 / k, 1 / k)
        return uc - k * uc * jnp.abs(uc) / 2

    return Surrogate("triangle", lambda u: jnp.maximum(1 - k * jnp.abs(u), 0.0), antiderivative, k)


def _straight_through(k: None) -> Surrogate:
    del k
    return Surrogate("straight_through", jnp.ones_like, lambda u: u)


SURROGATES: dict[str, tuple[Callable[[Any], Surrogate], float | None]] = {
    "fast_sigmoid": (_fast_sigmoid, 25.0),
    "arctan": (_arctan, 2.0),
    "triangle": (_triangle, 1.0),
    "straight_through": (_straight_through, None),
}


def surrogate(name: str, surrogate_name: Any, slope: Any = None) -> Surrogate:
    """The surrogate ``surrogate_name`` of sharpness ``slope`` (``None``: its default), checked
    for the layer ``name``."""
    if surrogate_name not in SURROGATES:
        raise ValueError(
            f"{name}: expected surrogate in {tuple(SURROGATES)}, got {surrogate_name!r}."
        )
    make, default = SURROGATES[surrogate_name]
    if default is None:
        if slope is not None:
            raise ValueError(
                f"{name}: expected no slope for the straight_through surrogate, got {slope!r}."
            )
        return make(None)
    slope = default if slope is None else slope
    if isinstance(slope, bool) or not isinstance(slope, int | float) or not slope > 0:
        raise ValueError(f"{name}: expected a positive slope, got {slope!r}.")
    return make(float(slope))


def heaviside(u: jax.Array) -> jax.Array:
    """``H(u) = [u > 0]`` in ``u``'s dtype; NaN stays NaN."""
    return jnp.where(jnp.isnan(u), u, (u > 0).astype(u.dtype))


def spike_reference(s: Surrogate, u: jax.Array) -> jax.Array:
    """``H(u)``'s values with ``s.derivative`` as its autodiff."""
    g = s.antiderivative(u)
    return g + lax.stop_gradient(heaviside(u) - g)


def describe(s: Surrogate) -> str:
    """The op's ``gradient`` string: ``"surrogate: fast_sigmoid spike derivative, slope 25"``."""
    shown = "" if s.slope is None else f", slope {s.slope:g}"
    return f"surrogate: {s.name} spike derivative{shown}"
