"""XNOR-Net's magnitude-aware sign of a weight: ``y = α ⊙ sign(w)``, ``α = mean |w|`` per output
channel (over the ``num_reduce_axes`` axes before the last: a dense kernel's inputs, a conv
kernel's window and input channels), which keeps the binary layer's output at the latent
layer's scale.

Intended gradient: the derivative of the surrogate ``s(w) = α(w) ⊙ clip(w, −1, 1)`` — the sign
passes straight through and, as in XNOR-Net, the gradient also flows through the scale
(``∂α/∂w = sign(w)/n``, ``n`` the size of the reduced axes):

    dw = dy ⊙ α ⊙ 1[|w| ≤ 1] + sign(w) ⊙ mean(dy ⊙ clip(w))    (mean over the reduced axes)

(Larq's ``MagnitudeAwareSign`` holds ``α`` constant instead, dropping the second term; no
function of ``w`` has that as its derivative, so it could not be checked by differences.)
Residuals: ``w`` (``α`` and the clip are recomputed). Gradient reference:
``s(w) + stop_gradient(α ⊙ sign(w) − s(w))``; finite differences are taken of ``s``.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from funcnet.core.jvp_rules import intended_primal
from funcnet.core.layer import check_int
from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.binary._surrogate import check_float_input, sign


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

    def smooth(w):
        return scale(w) * jnp.clip(w, -1, 1)

    def reference(w):
        s = smooth(w)
        return s + lax.stop_gradient(forward(w) - s)

    def fwd(w):
        return forward(w), (w,)

    def bwd(res, dy):
        # dw = dy ⊙ α ⊙ 1[|w| ≤ 1] + sign(w) ⊙ mean(dy ⊙ clip(w))
        (w,) = res
        through_sign = jnp.where(jnp.abs(w) <= 1, dy * scale(w), 0)
        through_scale = jnp.sign(w) * jnp.mean(dy * jnp.clip(w, -1, 1), axis=axes, keepdims=True)
        return (through_sign + through_scale,)

    def jvp(primals, tangents):
        # ẏ = ẇ ⊙ α ⊙ 1[|w| ≤ 1] + clip(w) ⊙ mean(sign(w) ⊙ ẇ)   (the bwd's two terms, transposed)
        (w,), (dw,) = primals, tangents
        through_sign = jnp.where(jnp.abs(w) <= 1, dw * scale(w), 0)
        through_scale = jnp.clip(w, -1, 1) * jnp.mean(jnp.sign(w) * dw, axis=axes, keepdims=True)
        return intended_primal(forward(w), smooth(w)), through_sign + through_scale

    return make_op(
        "magnitude_aware_sign",
        forward,
        fwd,
        bwd,
        gradient="surrogate: derivative of mean|w| * clip(w, -1, 1) (straight-through, XNOR scale)",
        gradient_reference=reference,
        finite_differences=smooth,
        jvp=jvp,
    )


add_cases("magnitude_aware_sign", lambda: [
    Case("dense_kernel_batch", magnitude_aware_sign_op(1),
         (Arg((2, 4, 3), avoid=(-1.0, 0.0, 1.0)),)),
])  # fmt: skip
