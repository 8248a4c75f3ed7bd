"""The decoupling interface (Jaderberg et al. 2017): identity forward, synthetic gradient back.

Placed on a module's output ``h`` with the prediction ``ĝ = M(h[, y])`` of a gradient predictor
``M`` passed in as an argument, the op returns ``(y, z)``: ``y = h`` feeds the next module and
``z = 0`` (one per example) is the *synthetic loss*, which the objective adds to the task loss
with the same weight (mean over examples). With ``dy`` and ``dz`` the incoming cotangents::

    dh = λ dy + (1 − λ) dz ĝ                  (BP(λ): λ = 1 is plain backprop)
    dĝ = dz ĝ − dy       (λ < 1; 0 for λ = 1)

``dh``: the module below receives the synthetic gradient ``ĝ`` (scaled by ``dz``, so that it is
weighted as the task loss is) mixed with the true one. ``dĝ``: with ``dz = 1/B`` and
``dy = t/B`` it is the gradient of ``½‖ĝ − t‖²/B`` in ``ĝ``, so one backward pass also trains the
predictor by regression onto ``t``, the gradient arriving from above: the true gradient below
the last module, the *bootstrapped* one (the next interface's ``ĝ`` carried back through the
next module) elsewhere. Both are linear in ``(dy, dz)``, so this is a VJP, of the gradient
reference below; with ``λ = 1`` it is the exact derivative of the forward (the predictor is
neither used nor trained). Derivation: docs/dni.md.
"""

from __future__ import annotations

import numbers

import jax.numpy as jnp
from jax import lax

from funcnet.core.op import Op, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory

NO_FINITE_DIFFERENCES = (
    "a synthetic gradient is the derivative of no function of (h, ĝ): the synthetic loss z has "
    "gradient (1 − λ)ĝ in h but ĝ in ĝ, and a smooth function's mixed derivatives would agree"
)


def check_bp_lambda(where: str, bp_lambda: object) -> float:
    """Return ``bp_lambda`` as a float: a TypeError unless a real number, a ValueError unless
    it lies in ``[0, 1]``."""
    if isinstance(bp_lambda, bool) or not isinstance(bp_lambda, numbers.Real):
        raise TypeError(f"{where}: expected bp_lambda to be a number in [0, 1], got {bp_lambda!r}.")
    if not 0.0 <= float(bp_lambda) <= 1.0:
        raise ValueError(f"{where}: expected bp_lambda in [0, 1], got {bp_lambda!r}.")
    return float(bp_lambda)


def _check_args(h, g_hat) -> None:
    if jnp.shape(h) != jnp.shape(g_hat) or jnp.ndim(h) < 1:
        raise ValueError(
            "decoupling_interface: expected a synthetic gradient of the activation's shape "
            f"{jnp.shape(h)} (rank >= 1), got shape {jnp.shape(g_hat)}."
        )
    if jnp.result_type(h) != jnp.result_type(g_hat):
        raise ValueError(
            f"decoupling_interface: expected a synthetic gradient of dtype {jnp.result_type(h)}, "
            f"got {jnp.result_type(g_hat)}."
        )


@op_factory("decoupling_interface")
def decoupling_interface_op(bp_lambda: float = 0.0) -> Op:
    """The op ``(h, ĝ) -> (h, z = 0)`` whose backward sends ``λ dy + (1 − λ) dz ĝ`` to ``h``.

    Args:
      bp_lambda: the weight ``λ`` of the true gradient in BP(λ); 0 is pure DNI, 1 backprop.

    Shapes:
      h, g_hat: ``[..., n]`` -> y: ``[..., n]``, z: ``[...]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> op = decoupling_interface_op(0.0)
      >>> h, g_hat = jnp.ones((2, 3)), jnp.full((2, 3), 0.5)
      >>> def objective(h):
      ...     y, z = op(h, g_hat)
      ...     return jnp.sum(y * 7.0) + jnp.sum(z)  # the true gradient (7) is not passed down
      >>> jax.grad(objective)(h).tolist()
      [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
    """
    lam = check_bp_lambda("decoupling_interface", bp_lambda)

    def forward(h, g_hat):
        _check_args(h, g_hat)
        return h, jnp.zeros(jnp.shape(h)[:-1], jnp.result_type(h))

    def fwd(h, g_hat):
        return forward(h, g_hat), (g_hat if lam < 1.0 else None)

    def bwd(res, cotangents):
        # dh = λ dy + (1 − λ) dz ĝ,  dĝ = dz ĝ − dy  (dĝ = 0 for λ = 1)
        dy, dz = cotangents
        if lam == 1.0:
            return dy, jnp.zeros_like(dy)
        synthetic = dz[..., None] * res
        return lam * dy + (1.0 - lam) * synthetic, synthetic - dy

    def reference(h, g_hat):
        # values (h, 0); autodiff gives the VJP above (stop_gradient marks what is held fixed)
        _check_args(h, g_hat)
        sg_h, sg_g = lax.stop_gradient(h), lax.stop_gradient(g_hat)
        y = sg_h + lam * (h - sg_h) + (sg_g - g_hat)
        s = jnp.sum((1.0 - lam) * h * sg_g + 0.5 * g_hat * g_hat, axis=-1)
        return y, s - lax.stop_gradient(s)

    def jvp(primals, tangents):
        # ẏ = λ ḣ − ĝ̇,  ż = Σ_n ĝ ⊙ ((1 − λ) ḣ + ĝ̇)   (ẏ = ḣ, ż = 0 for λ = 1): Jᵀ is the bwd
        (h, g_hat), (dh, dg) = primals, tangents
        if lam == 1.0:
            return forward(h, g_hat), (dh, jnp.zeros_like(dh[..., 0]))
        # as in the reference, ĝ's weight on ḣ is held fixed, so that second order matches it
        dz = jnp.sum((1.0 - lam) * lax.stop_gradient(g_hat) * dh + g_hat * dg, axis=-1)
        return reference(h, g_hat), (lam * dh - dg, dz)

    if lam == 1.0:
        return make_op("decoupling_interface", forward, fwd, bwd, jvp=jvp)
    return make_op(
        "decoupling_interface",
        forward,
        fwd,
        bwd,
        jvp=jvp,
        gradient=f"surrogate: synthetic gradient, BP(λ={lam:g}) mix of true and predicted",
        gradient_reference=reference,
        finite_differences=NO_FINITE_DIFFERENCES,
    )


add_cases(
    "decoupling_interface",
    lambda: [
        Case("backprop", decoupling_interface_op(1.0), (Arg((3, 4)), Arg((3, 4)))),
        Case("bp_lambda_0.25", decoupling_interface_op(0.25), (Arg((2, 3, 4)), Arg((2, 3, 4)))),
    ],
)
