"""Tolerances of the verifier, derived from the dtype being checked.

With ``eps`` the machine epsilon of the dtype:

* manual vs autodiff, and eager vs ``jit`` vs ``vmap``: ``eps^(2/3)`` relative. The two
  backward passes compute the same quantity in different orders, so they agree to a modest
  multiple of the rounding error; ``eps^(2/3)`` is about 1e5 ulps at float64 (3.7e-11), 190 ulps
  at float32 (2.4e-5) and 5 ulps at bfloat16 (0.039).
* finite differences: central differences are always taken in float64 with a step
  ``h = eps64^(1/3) · max(1, |x|)``, whose truncation plus rounding error is about
  ``eps64^(2/3)`` times the curvature; ``1e-6`` leaves room for curvature. A gradient computed
  in a lower precision is held to that precision's own tolerance instead, if larger.

Low precision (bfloat16, float16) changes three things. The manual gradient is compared with
autodiff of the reference *in float64* at the same (low-precision) inputs, so the error
reported is the manual backward's own rounding error against an exact oracle; its tolerance is
``eps^(2/3)`` or, if larger, 4× the error autodiff of the reference makes in the same dtype
against the same oracle (a backward is held to autodiff's accuracy, never required to beat
it). The forward values, the ``jit`` result and the ``vmap`` result are judged the same way —
each against the float64 oracle, with the tolerance so derived — and never against each
other: two roundings of one quantity differ by up to the *sum* of their errors, and a bare
``eps^(2/3)`` between them fails correct backward passes at random (issue 22: eager 0.0298
and jit 0.0123 off the float64 gradient, 0.0419 apart, against 0.0394). At float32 and float64
the transforms keep their tight eager/jit/vmap agreement at ``eps^(2/3)``: there a difference
means different code ran, not a different rounding. And a
directional derivative ``⟨g, u⟩`` is judged relative to ``‖g‖`` rather than to itself:
``|⟨g, u⟩| ≈ ‖g‖/√n`` for a random unit ``u``, and a normwise error of ``δ`` in ``g`` moves it
by about ``δ‖g‖/√n`` — comparable to the value itself once ``δ`` is a few percent, so the
usual relative measure would fail correct bf16 backward passes at random.

The floor of a directional error's denominator follows from the same rounding: a gradient
computed in ``dtype`` is off by up to ``δ ≈ 20·eps·‖g‖``, so its directional derivative can be
told apart at ``eps^(2/3)`` only when the denominator is at least ``20·eps^(1/3)·‖g‖``. The
floor is that, between ``1e-3`` and ``1``: ``1e-3`` at float64 (where it only guards against
unlucky directions), ``0.098`` at float32, and ``1`` (``‖g‖`` itself) at bfloat16/float16.

A whole model's finite differences (``verify_model``) have a floor set by the loss's own
rounding. The loss of a large model is a long sum of rounded terms; its float64 value carries
noise ``σ`` of about ``eps·|loss|`` (1–2e-15 for word2vec CBOW's loss of 8.5), so a central
difference at step ``s`` is off by about ``σ/(√2·s)`` — some 1e-10 at ``s`` of 1e-6 — while a
directional derivative along a random unit direction is only ``‖g‖/√n``: at n = 340k
parameters ``1e-6`` of it is below the noise (CBOW read 0.5–6e-6). ``σ`` is *measured*, per
leaf and direction (:func:`funcnet.verify.finite_differences.rounding_noise`): the RMS residual
of nine evaluations ``f(js/4)``, ``j = −4…4``, about their least-squares cubic (slope and
curvature are taken up by the cubic; they are truncation, not noise), and at least
``eps·|f(0)|/√12``, the rounding of the value itself. The spread is taken over moves as large
as the step: over moves of ``s/64`` the nine CBOW losses lay exactly on a line (a large
computation rounds identically under tiny moves), which would read as no noise at all. A
bound such as ``eps·Σ|terms|`` was not used: a model-level check does not see the loss's
terms, and the bound overstates sums whose roundings cancel. The leaf's tolerance is then
``max(1e-6, FD_NOISE_SIGMAS·σ/(s·denominator))``; ``4σ/s`` is 5.7 standard deviations of the
estimate's own noise. Measured (largest error / tolerance): word2vec CBOW at full size, 20
seeds × 3 leaves, 0.22; the transformer LM (116k parameters), 10 seeds × 36 leaves, 0.29.
The noise floors of these models are 1e-6–1e-4 relative, so a wrong backward (an error of
order one, or of 1%) still fails.

All errors are normwise: ``max|a − b| / max|b|`` over the leaf (elementwise relative errors
are meaningless where the reference is near zero).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

FD_RTOL_FLOAT64 = 1e-6
FD_STEP = float(jnp.finfo(jnp.float64).eps) ** (1 / 3)
# verify_model: a leaf's finite-difference error may reach this many σ/s of the loss's noise.
FD_NOISE_SIGMAS = 4.0
# A gradient carries rounding error of up to this many ulps of its norm (ops composed in it).
ROUNDING_ULPS = 20


class Tolerances(NamedTuple):
    autodiff: float  # manual vs jax.vjp of the reference forward
    finite_differences: float  # directional derivative vs central differences in float64
    transforms: float  # eager vs jit vs vmap of the manual backward
    fd_floor: float  # the finite-difference error's denominator is at least fd_floor·‖g‖


def is_low_precision(dtype: jnp.dtype) -> bool:
    """Floating types narrower than float32 (bfloat16, float16)."""
    return jnp.finfo(dtype).bits < 32


def tolerances(dtype: jnp.dtype) -> Tolerances:
    """The relative tolerances used to verify gradients computed in ``dtype``."""
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"verify: expected a floating-point dtype, got {dtype}.")
    eps = float(jnp.finfo(dtype).eps)
    rtol = eps ** (2 / 3)
    return Tolerances(
        autodiff=rtol,
        finite_differences=max(rtol, FD_RTOL_FLOAT64),
        transforms=rtol,
        fd_floor=min(1.0, max(1e-3, ROUNDING_ULPS * eps ** (1 / 3))),
    )
