"""Binary cross-entropy on logits ``z`` against targets ``t ∈ [0, 1]`` of the same shape.

With ``σ`` the logistic sigmoid, ``N`` the number of elements and ``g`` the incoming cotangent::

    L  = (1/N) Σ [max(z, 0) − z·t + log1p(exp(−|z|))]      (= −t log σ(z) − (1−t) log σ(−z))
    dz = (g/N) (σ(z) − t)        dt = −(g/N) z

The forward computes ``max(z, 0) + log1p(exp(−|z|))`` as ``jnp.logaddexp(z, 0)``: the same
overflow-free expression, but with a smooth derivative rule. Spelled out, ``max`` and ``|·|``
each differentiate to 0 at ``z = 0``, so the autodiff reference would get slope ``−t`` instead
of ``½ − t`` there, exactly where a zero-initialised output layer starts.
Residuals: ``z`` and ``t`` (``dz`` needs both, ``dt`` needs ``z``).
Derivation: docs/losses.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.core.jvp_rules import scalar_jvp
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.losses._validate import check_floating, check_like

NAME = "binary_cross_entropy_with_logits"


@op_factory(NAME)
def binary_cross_entropy_with_logits() -> Op:
    """The sigmoid cross-entropy ``(z, t) -> scalar``, averaged over every element.

    Shapes:
      z: ``[...]`` logits; t: ``[...]`` target probabilities, same shape and dtype -> ``[]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> loss = binary_cross_entropy_with_logits()
      >>> round(float(loss(jnp.zeros(3), jnp.array([0.0, 0.5, 1.0]))), 6)  # log 2
      0.693147
    """

    def check(z: jax.Array, t: jax.Array) -> None:
        check_floating(NAME, "logits z", z)
        check_like(NAME, "targets t", t, "z", z)

    def forward(z: jax.Array, t: jax.Array) -> jax.Array:
        check(z, t)
        return jnp.mean(jnp.logaddexp(z, 0) - z * t)  # logaddexp(z, 0) = softplus(z)

    def fwd(z: jax.Array, t: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        return forward(z, t), (z, t)

    def bwd(res: tuple[jax.Array, jax.Array], g: jax.Array) -> tuple[jax.Array, jax.Array]:
        # dz = (g/N)(σ(z) − t), dt = −(g/N) z
        z, t = res
        c = g / z.size
        return c * (jax.nn.sigmoid(z) - t), -c * z

    # L̇ = ⟨(σ(z) − t)/N, ż⟩ − ⟨z/N, ṫ⟩
    return make_op(NAME, forward, fwd, bwd, jvp=scalar_jvp(fwd, bwd))


def _cases() -> list[Case]:
    op = binary_cross_entropy_with_logits()
    target = lambda shape: Arg(shape, low=0.0, high=1.0)  # noqa: E731
    return [
        Case("matrix", op, (Arg((5, 4), low=-4.0, high=4.0), target((5, 4))), second_order=True),
        Case("batch_axes", op, (Arg((2, 3, 4), low=-4.0, high=4.0), target((2, 3, 4)))),
    ]


add_cases(NAME, _cases)
