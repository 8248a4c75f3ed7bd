"""The L2 weight penalty ``scale · ½ Σ w²`` of one array, and its sum over a params pytree.

With ``g`` the incoming cotangent::

    L = scale · ½ Σ w²        dw = g · scale · w

Residuals: ``w``.
Derivation: docs/losses.md.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp

from funcnet.core.jvp_rules import scalar_jvp
from funcnet.core.op import Backward, Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.losses._validate import check_floating

NAME = "l2_penalty"


def _check_scale(name: str, scale: Any) -> float:
    if (
        isinstance(scale, bool)
        or not isinstance(scale, numbers.Real)
        or not math.isfinite(scale)
        or scale < 0
    ):
        raise ValueError(f"{name}: expected scale to be a finite number >= 0, got {scale!r}.")
    return float(scale)


@op_factory(NAME)
def l2_penalty(scale: float = 1.0) -> Op:
    """The penalty ``w -> scale · ½ Σ w²``.

    Args:
      scale: the weight-decay coefficient, a finite number ``>= 0``.

    Shapes:
      w: ``[...]`` any shape, floating point -> ``[]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> float(l2_penalty(0.5)(jnp.array([1.0, 2.0, 3.0])))  # 0.5 · ½ · 14
      3.5
    """
    half_scale = 0.5 * _check_scale(NAME, scale)

    def forward(w: jax.Array) -> jax.Array:
        check_floating(NAME, "w", w)
        return half_scale * jnp.sum(w * w)

    def fwd(w: jax.Array) -> tuple[jax.Array, jax.Array]:
        return forward(w), w

    def bwd(w: jax.Array, g: jax.Array) -> tuple[jax.Array]:
        # dw = g · scale · w
        return ((2 * half_scale) * g * w,)

    # L̇ = scale · ⟨w, ẇ⟩
    return make_op(NAME, forward, fwd, bwd, jvp=scalar_jvp(fwd, bwd))


def l2_penalty_tree(params: Any, scale: float = 1.0, backward: Backward = "manual") -> jax.Array:
    """``scale · ½ Σ w²`` summed over every floating-point leaf of a params pytree.

    ``None`` leaves (a dense layer without bias) and integer leaves (counters) are skipped; a
    tree with no floating-point leaf gives ``0.0``.

    Args:
      params: a pytree of arrays.
      scale: the weight-decay coefficient, a finite number ``>= 0``.
      backward: ``"manual"`` (the hand-written backward), ``"manual_jvp"`` (the hand-written
        JVP) or ``"autodiff"``.

    Examples:
      >>> import jax.numpy as jnp
      >>> params = {"w": jnp.array([[1.0, 2.0]]), "b": None, "step": jnp.array(7)}
      >>> float(l2_penalty_tree(params, scale=2.0))  # 2 · ½ · 5
      5.0
    """
    check_backward(backward, "l2_penalty_tree")
    op = l2_penalty(_check_scale("l2_penalty_tree", scale))
    leaves = [
        w
        for w in jax.tree_util.tree_leaves(params)
        if jnp.issubdtype(jnp.result_type(w), jnp.floating)
    ]
    if not leaves:
        return jnp.zeros(())
    return sum((op(w, backward=backward) for w in leaves[1:]), op(leaves[0], backward=backward))


def _cases() -> list[Case]:
    unit, small = l2_penalty(1.0), l2_penalty(0.1)
    return [
        Case("matrix", small, (Arg((5, 4)),), second_order=True),
        Case("batch_axes", unit, (Arg((2, 3, 4)),), second_order=True),
    ]


add_cases(NAME, _cases)
