"""Quantisers to other level sets, each with the straight-through estimator (docs/binary.md):

    ste_heaviside  y = 1[x > 0] ∈ {0, 1}                        dx = dy ⊙ 1[|x| ≤ c]
    ste_ternary    y = sign(x) if |x| > θ else 0 ∈ {−1, 0, 1}   dx = dy ⊙ 1[|x| ≤ c]
    dorefa         y = round(clip(x, 0, 1)·n)/n, n = 2^k − 1     dx = dy ⊙ 1[0 ≤ x ≤ 1]
                   (k bits, k ≥ 1: DoReFa-Net's activation quantiser)

Residuals: ``x``. The surrogate is the clip whose derivative is the gradient; the gradient
reference is ``clip(x) + stop_gradient(y − clip(x))``; finite differences are taken of the clip.
"""

from __future__ import annotations

import jax.numpy as jnp

from funcnet.core.layer import check_int
from funcnet.core.op import Op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.binary._surrogate import positive_float, surrogate_op


def _inside(c: float):
    return lambda x: (jnp.abs(x) <= c).astype(x.dtype)


@op_factory("ste_heaviside")
def ste_heaviside_op(clip_value: float = 1.0) -> Op:
    """The step ``x -> 1[x > 0]`` (0 at 0, as Larq) with gradient 1 on ``|x| ≤ clip_value``."""
    c = positive_float("ste_heaviside", "clip_value", clip_value)

    def forward(x):
        return jnp.where(x > 0, jnp.ones_like(x), jnp.where(x <= 0, jnp.zeros_like(x), x))

    gradient = f"straight-through estimator, gradient 1 on |x| <= {c:g}"
    clip = lambda x: jnp.clip(x, -c, c)  # noqa: E731
    return surrogate_op("ste_heaviside", forward, clip, _inside(c), gradient)


@op_factory("ste_ternary")
def ste_ternary_op(threshold: float = 0.05, clip_value: float = 1.0) -> Op:
    """``x -> sign(x)`` where ``|x| > threshold``, else 0; gradient 1 on ``|x| ≤ clip_value``."""
    t = positive_float("ste_ternary", "threshold", threshold, zero=True)
    c = positive_float("ste_ternary", "clip_value", clip_value)

    def forward(x):  # x·0 keeps a NaN
        return jnp.where(x > t, jnp.ones_like(x), jnp.where(x < -t, -jnp.ones_like(x), x * 0))

    gradient = f"straight-through estimator, gradient 1 on |x| <= {c:g}"
    return surrogate_op("ste_ternary", forward, lambda x: jnp.clip(x, -c, c), _inside(c), gradient)


@op_factory("dorefa")
def dorefa_op(num_bits: int = 2) -> Op:
    """DoReFa's ``num_bits``-bit quantiser of ``[0, 1]``: ``round(clip(x, 0, 1)·n)/n``,
    ``n = 2^num_bits − 1``, with gradient 1 on ``0 ≤ x ≤ 1``."""
    n = 2 ** check_int("dorefa", "num_bits", num_bits) - 1

    def forward(x):
        return jnp.round(jnp.clip(x, 0, 1) * n) / n

    return surrogate_op(
        "dorefa",
        forward,
        smooth=lambda x: jnp.clip(x, 0, 1),
        derivative=lambda x: ((x >= 0) & (x <= 1)).astype(x.dtype),
        gradient=f"straight-through estimator of the {num_bits}-bit rounding, gradient 1 on [0, 1]",
    )


_KINKS = {"avoid": (-1.0, 0.0, 1.0), "margin": 0.05}
add_cases("ste_heaviside", lambda: [Case("matrix", ste_heaviside_op(), (Arg((3, 4), **_KINKS),))])
add_cases("ste_ternary", lambda: [Case("matrix", ste_ternary_op(0.3), (Arg((3, 4), **_KINKS),))])
add_cases("dorefa", lambda: [Case("2_bit", dorefa_op(2), (Arg((3, 4), **_KINKS),))])
