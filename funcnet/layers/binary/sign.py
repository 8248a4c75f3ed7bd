"""Binarising quantisers: ``y = sign(x) ∈ {−1, +1}`` (zero maps to +1) with an intended gradient.

The true derivative of ``sign`` is zero almost everywhere, so each quantiser back-propagates the
derivative of a surrogate ``s`` instead (``dx = dy ⊙ s′(x)``; see docs/binary.md for why each):

    ste_sign       s = clip(x, −c, c)                        s′ = 1[|x| ≤ c]          (BNN, STE)
    approx_sign    s = 2x − x|x| on |x| < 1, sign(x) beyond  s′ = max(2 − 2|x|, 0)   (Bi-Real Net)
    swish_sign     s = 2σ(βx)(1 + βx(1 − σ(βx))) − 1      (BNN+)
                   s′ = β(2 − βx tanh(βx/2)) / (1 + cosh βx)
    ede_sign       s = k tanh(t x)                           s′ = k t (1 − tanh²(t x)) (IR-Net EDE)

Residuals: ``x``. The gradient reference of each is ``s(x) + stop_gradient(sign(x) − s(x))``
and finite differences are taken of ``s`` (the forward itself is piecewise constant).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from funcnet.core.op import Op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.activations._helpers import finite_float
from funcnet.layers.binary._surrogate import positive_float, sign, surrogate_op

# EDE's schedule (IR-Net, Qin et al. 2020): t from 10^−1 to 10^1 over training, k = max(1/t, 1).
EDE_T_MIN, EDE_T_MAX = 0.1, 10.0


@op_factory("ste_sign")
def ste_sign_op(clip_value: float = 1.0) -> Op:
    """``sign`` with the straight-through estimator: gradient 1 on ``|x| ≤ clip_value``, else 0."""
    c = positive_float("ste_sign", "clip_value", clip_value)
    return surrogate_op(
        "ste_sign",
        sign,
        smooth=lambda x: jnp.clip(x, -c, c),
        derivative=lambda x: (jnp.abs(x) <= c).astype(x.dtype),
        gradient=f"straight-through estimator, gradient 1 on |x| <= {c:g}",
    )


def _approx(x):
    x = jnp.clip(x, -1.0, 1.0)
    return 2 * x - x * jnp.abs(x)


@op_factory("approx_sign")
def approx_sign_op() -> Op:
    """``sign`` with Bi-Real Net's piecewise-polynomial gradient ``max(2 − 2|x|, 0)``."""
    return surrogate_op(
        "approx_sign",
        sign,
        smooth=_approx,
        derivative=lambda x: jnp.maximum(2 - 2 * jnp.abs(x), 0),
        gradient="Bi-Real Net ApproxSign, gradient max(2 - 2|x|, 0)",
    )


@op_factory("swish_sign")
def swish_sign_op(beta: float = 5.0) -> Op:
    """``sign`` with BNN+'s SignSwish gradient: the derivative of ``2σ(βx)(1+βx(1−σ(βx)))−1``."""
    b = positive_float("swish_sign", "beta", beta)

    def smooth(x):
        s = lax.logistic(b * x)
        return 2 * s * (1 + b * x * (1 - s)) - 1

    def derivative(x):  # cosh overflows to inf far out, where the gradient is 0
        return b * (2 - b * x * jnp.tanh(b * x / 2)) / (1 + jnp.cosh(b * x))

    return surrogate_op("swish_sign", sign, smooth, derivative, f"BNN+ SignSwish with beta={b:g}")


@op_factory("ede_sign")
def ede_sign_op(progress: float = 0.0) -> Op:
    """``sign`` with IR-Net's Error Decay Estimator at training ``progress`` in ``[0, 1]``:
    gradient ``k t (1 − tanh²(t x))``, ``t = 0.1·100^progress``, ``k = max(1/t, 1)``."""
    p = finite_float("ede_sign", "progress", progress)
    if not 0 <= p <= 1:
        raise ValueError(f"ede_sign: expected progress in [0, 1], got {progress!r}.")
    t = EDE_T_MIN * (EDE_T_MAX / EDE_T_MIN) ** p
    k = max(1 / t, 1.0)
    return surrogate_op(
        "ede_sign",
        sign,
        smooth=lambda x: k * jnp.tanh(t * x),
        derivative=lambda x: k * t * (1 - jnp.tanh(t * x) ** 2),
        gradient=f"IR-Net Error Decay Estimator, gradient {k:.3g}·{t:.3g}·(1 - tanh²({t:.3g}x))",
    )


_KINKS = {"avoid": (-1.0, 0.0, 1.0), "margin": 0.05}
add_cases("ste_sign", lambda: [
    Case("clip_half_batch_axes", ste_sign_op(0.5), (Arg((2, 2, 3), avoid=(-0.5, 0.0, 0.5)),)),
])  # fmt: skip
add_cases("approx_sign", lambda: [Case("matrix", approx_sign_op(), (Arg((3, 4), **_KINKS),))])
add_cases("swish_sign", lambda: [Case("matrix", swish_sign_op(), (Arg((3, 4), avoid=(0.0,)),))])
add_cases("ede_sign", lambda: [Case("half", ede_sign_op(0.5), (Arg((3, 4), avoid=(0.0,)),))])
