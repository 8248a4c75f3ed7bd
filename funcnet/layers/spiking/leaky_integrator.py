"""The non-spiking leaky integrator, a spiking network's readout: ``V[t] = β V[t−1] + x_t W + b``.

A recurrent :class:`Cell` with an exact gradient (no threshold, no spike), run by the
recurrent machinery's sequence op. Its membrane is the output; a classifier reads it out as
the maximum over time (``global_max_pool(num_position_axes=1)`` after it) or the last step
(``return_sequences=False``). Backward::

    dV = dV[t]     dV[t−1] = β dV     dx, dW, db = dV Wᵀ, Σ xᵀ dV, Σ dV

Forward mode, its transpose: ``V̇[t] = β V̇[t−1] + ẋ_t W + x_t Ẇ + ḃ``.

Derivation: docs/spiking.md.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from funcnet.core.layer import Layer
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op
from funcnet.core.registry import Arg, add_cases, op_factory
from funcnet.initializers import Initializer, lecun_normal, zeros
from funcnet.layers.recurrent.cell import (
    Cell,
    affine,
    affine_factors,
    affine_jvp,
    summed_step_bwd,
)
from funcnet.layers.recurrent.scan import sequence_cases, sequence_op
from funcnet.layers.recurrent.sequence import sequence_layer


class LeakyIntegratorParams(NamedTuple):
    w: jax.Array  # [F, H]
    b: jax.Array  # [H]


def leaky_integrator_description(
    beta: float = 0.9, *, w_init: Initializer | None = None, b_init: Initializer = zeros
) -> Cell:
    """The leaky integrator cell, ``β`` in (0, 1]."""
    ok = isinstance(beta, int | float) and not isinstance(beta, bool)
    if not ok or not 0 < beta <= 1:
        raise ValueError(f"leaky_integrator: expected beta in (0, 1], got {beta!r}.")
    beta = float(beta)

    def init(key, in_features, features, dtype):
        kw, kb = jax.random.split(key)
        w = (w_init or lecun_normal())(kw, (in_features, features), dtype)
        return LeakyIntegratorParams(w, b_init(kb, (features,), dtype))

    def step(x, state, p):
        return (beta * state[0] + affine(x, p.w, p.b),), ()

    def step_bwd_factors(x, p, state, new, res, d_new):
        # dV[t−1] = β dV, dx = dV Wᵀ; per example dW = xᵀ dV, db = dV
        del state, new, res
        dx, dw, db = affine_factors(x, p.w, d_new[0])
        return dx, (beta * d_new[0],), LeakyIntegratorParams(dw, db)

    def step_jvp(x, p, state, new, res, dx, d_state, dp):
        # V̇[t] = β V̇[t−1] + ẋ W + x Ẇ + ḃ
        del state, new, res
        return (beta * d_state[0] + affine_jvp(x, p.w, dx, dp.w, dp.b),)

    return Cell("leaky_integrator", LeakyIntegratorParams, None, init, lambda p: p.w.shape[0],
                step, summed_step_bwd(step_bwd_factors), step_bwd_factors=step_bwd_factors,
                step_jvp=step_jvp)  # fmt: skip


@op_factory("leaky_integrator")
def leaky_integrator_op(
    beta: float = 0.9, *, reverse: bool = False, truncate: int | None = None, masked: bool = False
) -> Op:
    """``(x, v0, w, b[, mask]) -> (vs, v_T)`` of a leaky integrator over ``x [..., T, F]``."""
    cell = leaky_integrator_description(beta)
    return sequence_op(cell, reverse=reverse, truncate=truncate, masked=masked)


@layer_factory("leaky_integrator")
def leaky_integrator(
    features: int,
    *,
    beta: float = 0.9,
    return_sequences: bool = True,
    return_state: bool = False,
    dtype: Any = jnp.float32,
    w_init: Initializer | None = None,
    b_init: Initializer = zeros,
) -> Layer:
    """Non-spiking leaky integrators ``V[t] = β V[t−1] + x_t W + b``, output ``V``.

    Shapes:
      x: ``[..., T, F]`` -> ``[..., T, features]`` (or the last step's ``[..., features]``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = leaky_integrator(3, return_sequences=False)
      >>> shape, params, state = layer.init(jax.random.key(0), (2, 5, 4))
      >>> v, _ = layer.apply(params, state, jnp.ones((2, 5, 4)))
      >>> shape, v.shape
      ((2, 3), (2, 3))
    """
    cell = leaky_integrator_description(beta, w_init=w_init, b_init=b_init)
    return sequence_layer(cell, features, return_sequences=return_sequences,
                          return_state=return_state, dtype=dtype)  # fmt: skip


add_cases(
    "leaky_integrator",
    lambda: sequence_cases(leaky_integrator_op, leaky_integrator_description(), ("plain",)),
)
add_layer_cases(
    "leaky_integrator", lambda: [LayerCase("membrane", leaky_integrator(3), Arg((2, 3, 3)))]
)
