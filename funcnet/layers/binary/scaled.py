"""XNOR-Net's magnitude-aware sign of a weight: ``y = α ⊙ sign(w)``, ``α = mean |w|`` per output
channel (over the ``num_reduce_axes`` axes before the last: a dense kernel's inputs, a conv
kernel's window and input channels), which keeps the binary layer's output at the latent
layer's scale.

Intended gradient (Larq's ``MagnitudeAwareSign``): ``α`` is held constant and the sign passes
straight through,

    dw = dy ⊙ α ⊙ 1[|w| ≤ 1]

Residuals: ``w`` (``α`` is recomputed: one mean). Gradient reference:
``α_sg ⊙ (clip(w) + stop_gradient(sign(w) − clip(w)))`` with ``α_sg = stop_gradient(α)``.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from funcnet.core.layer import check_int
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.binary._surrogate import check_float_input, sign

NO_FINITE_DIFFERENCES = (
    "the scale α = mean|w| is held constant in the intended gradient, so no function of w has "
    "it as its derivative"
)


@op_factory("magnitude_aware_sign")
def magnitude_aware_sign_op(num_reduce_axes: int = 1) -> Op:
    """``w -> mean|w| ⊙ sign(w)``, the mean over the ``num_reduce_axes`` axes before the last
    (any axes before those are batch axes), with a straight-through gradient scaled by it."""
    n = check_int("magnitude_aware_sign", "num_reduce_axes", num_reduce_axes)
    axes = tuple(range(-1 - n, -1))

    def scale(w):
        if w.ndim < n + 1:
            raise ValueError(
                f"magnitude_aware_sign: expected a weight of rank >= {n + 1}, got shape {w.shape}."
            )
        return jnp.mean(jnp.abs(w), axis=axes, keepdims=True)

    def forward(w):
        check_float_input("magnitude_aware_sign", w)
        return scale(w) * sign(w)

    def reference(w):
        c = jnp.clip(w, -1, 1)
        return lax.stop_gradient(scale(w)) * (c + lax.stop_gradient(sign(w) - c))

    def fwd(w):
        return forward(w), (w,)

    def bwd(res, dy):
        # dw = dy ⊙ α ⊙ 1[|w| ≤ 1]
        (w,) = res
        return (jnp.where(jnp.abs(w) <= 1, dy * scale(w), 0),)

    return make_op(
        "magnitude_aware_sign",
        forward,
        fwd,
        bwd,
        gradient="surrogate: straight-through estimator scaled by mean|w|, gradient α on |w| <= 1",
        gradient_reference=reference,
        finite_differences=NO_FINITE_DIFFERENCES,
    )


add_cases("magnitude_aware_sign", lambda: [
    Case("dense_kernel_batch", magnitude_aware_sign_op(1),
         (Arg((2, 4, 3), avoid=(-1.0, 0.0, 1.0)),)),
])  # fmt: skip
