"""Mean squared error between predictions ``y`` and targets ``t`` of the same shape.

With ``N`` the number of elements, ``d = y − t`` and ``g`` the scalar incoming cotangent::

    "mean":      L = (1/N) Σ d²        dy = (2g/N) d        dt = −dy
    "half_sum":  L = ½ Σ d²            dy = g d             dt = −dy

Residuals: the difference ``d`` only.
Derivation: docs/losses.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.core.jvp_rules import scalar_jvp
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.losses._validate import check_floating, check_like

NAME = "mean_squared_error"
REDUCTIONS: tuple[str, ...] = ("mean", "half_sum")


@op_factory(NAME)
def mean_squared_error(reduction: str = "mean") -> Op:
    """The squared-error loss ``(y, t) -> scalar``.

    Args:
      reduction: ``"mean"`` for the mean of ``(y − t)²`` over every element, or
        ``"half_sum"`` for the classic ``½ Σ (y − t)²``.

    Shapes:
      y: ``[...]`` predictions; t: ``[...]`` targets, same shape and dtype -> ``[]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, t = jnp.array([1.0, 2.0]), jnp.array([0.0, 0.0])
      >>> float(mean_squared_error()(y, t)), float(mean_squared_error("half_sum")(y, t))
      (2.5, 2.5)
    """
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"{NAME}: expected reduction to be one of {REDUCTIONS}, got {reduction!r}."
        )
    half_sum = reduction == "half_sum"

    def check(y: jax.Array, t: jax.Array) -> None:
        check_floating(NAME, "predictions y", y)
        check_like(NAME, "targets t", t, "y", y)

    def reduce(d: jax.Array) -> jax.Array:
        return 0.5 * jnp.sum(d * d) if half_sum else jnp.mean(d * d)

    def forward(y: jax.Array, t: jax.Array) -> jax.Array:
        check(y, t)
        return reduce(y - t)

    def fwd(y: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
        check(y, t)
        d = y - t
        return reduce(d), d

    def bwd(d: jax.Array, g: jax.Array) -> tuple[jax.Array, jax.Array]:
        # dy = g·d ("half_sum") or (2g/N)·d ("mean"), dt = −dy
        dy = g * d if half_sum else (2 * g / d.size) * d
        return dy, -dy

    # L̇ = ⟨c·d, ẏ − ṫ⟩, c = 1 ("half_sum") or 2/N ("mean")
    return make_op(NAME, forward, fwd, bwd, jvp=scalar_jvp(fwd, bwd))


def _cases() -> list[Case]:
    mean, half_sum = mean_squared_error("mean"), mean_squared_error("half_sum")
    return [
        Case("matrix", mean, (Arg((5, 4)), Arg((5, 4))), second_order=True),
        Case("batch_axes", mean, (Arg((2, 3, 4)), Arg((2, 3, 4)))),
        Case("half_sum", half_sum, (Arg((5, 4)), Arg((5, 4))), second_order=True),
    ]


add_cases(NAME, _cases)
