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

All errors are normwise: ``max|a − b| / max|b|`` over the leaf (elementwise relative errors
are meaningless where the reference is near zero).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

FD_RTOL_FLOAT64 = 1e-6
FD_STEP = float(jnp.finfo(jnp.float64).eps) ** (1 / 3)


class Tolerances(NamedTuple):
    autodiff: float  # manual vs jax.vjp of the reference forward
    finite_differences: float  # directional derivative vs central differences in float64
    transforms: float  # eager vs jit vs vmap of the manual backward


def tolerances(dtype: jnp.dtype) -> Tolerances:
    """The relative tolerances used to verify gradients computed in ``dtype``."""
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"verify: expected a floating-point dtype, got {dtype}.")
    rtol = float(jnp.finfo(dtype).eps) ** (2 / 3)
    return Tolerances(autodiff=rtol, finite_differences=max(rtol, FD_RTOL_FLOAT64), transforms=rtol)
