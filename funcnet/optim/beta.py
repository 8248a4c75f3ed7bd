"""The β rules of nonlinear conjugate gradient: the new direction is ``d = -g + β d_prev``.

With the gradient ``g`` at the new point, ``g_prev`` at the previous one, ``y = g - g_prev`` and
the previous direction ``d_prev``:

=====================  ======================  =============================================
name                   β                       reference
=====================  ======================  =============================================
``fletcher_reeves``    ‖g‖² / ‖g_prev‖²          Fletcher & Reeves 1964 (MATLAB ``traincgf``)
``polak_ribiere``      gᵀy / ‖g_prev‖²           Polak & Ribière 1969 (MATLAB ``traincgp``)
``polak_ribiere_plus`` max(gᵀy / ‖g_prev‖², 0)   Gilbert & Nocedal 1992
``hestenes_stiefel``   gᵀy / d_prevᵀy            Hestenes & Stiefel 1952
``dai_yuan``           ‖g‖² / d_prevᵀy           Dai & Yuan 1999
=====================  ======================  =============================================

On a convex quadratic with exact line searches all five are the same number (linear CG). A zero
denominator (the previous gradient was zero, or ``d_prevᵀy = 0``) gives β = 0: a restart along
``-g``, never a NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

BetaRule = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]


def ratio(num: jax.Array, den: jax.Array) -> jax.Array:
    """``num / den``, and 0 where ``den`` is 0."""
    zero = den == 0
    return jnp.where(zero, 0.0, num / jnp.where(zero, 1.0, den))


def fletcher_reeves(g, g_prev, d_prev, y) -> jax.Array:
    return ratio(optax.tree.vdot(g, g), optax.tree.vdot(g_prev, g_prev))


def polak_ribiere(g, g_prev, d_prev, y) -> jax.Array:
    return ratio(optax.tree.vdot(g, y), optax.tree.vdot(g_prev, g_prev))


def polak_ribiere_plus(g, g_prev, d_prev, y) -> jax.Array:
    return jnp.maximum(polak_ribiere(g, g_prev, d_prev, y), 0.0)


def hestenes_stiefel(g, g_prev, d_prev, y) -> jax.Array:
    return ratio(optax.tree.vdot(g, y), optax.tree.vdot(d_prev, y))


def dai_yuan(g, g_prev, d_prev, y) -> jax.Array:
    return ratio(optax.tree.vdot(g, g), optax.tree.vdot(d_prev, y))


BETAS: dict[str, BetaRule] = {
    "fletcher_reeves": fletcher_reeves,
    "polak_ribiere": polak_ribiere,
    "polak_ribiere_plus": polak_ribiere_plus,
    "hestenes_stiefel": hestenes_stiefel,
    "dai_yuan": dai_yuan,
}


def beta_rule(name: str, where: str) -> BetaRule:
    """The rule called ``name``; a ValueError naming ``where`` and the choices otherwise."""
    if not isinstance(name, str) or name not in BETAS:
        raise ValueError(f"{where}: expected beta to be one of {tuple(BETAS)}, got {name!r}.")
    return BETAS[name]


__all__ = [
    "BETAS",
    "beta_rule",
    "dai_yuan",
    "fletcher_reeves",
    "hestenes_stiefel",
    "polak_ribiere",
    "polak_ribiere_plus",
    "ratio",
]
