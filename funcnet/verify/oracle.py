"""The verifier's reference path, compiled so that a known XLA CPU miscompile cannot reach it.

jaxlib 0.10.2 on x86 CPUs with AVX-512 (measured on an AMD EPYC with avx512f/vl/bw/dq):
``jax.jit(jax.grad(loss))`` of a float64 ``lax.scan`` over a GRU step, with the recurrent
matrix a traced argument, returns input-weight gradients wrong by up to 1.8 (absolute, on
gradients of order 0.1), while the same program run op by op (``jax.disable_jit``), or compiled
with ``xla_cpu_use_fusion_emitters=False``, ``xla_cpu_prefer_vector_width=128``,
``xla_backend_optimization_level=0`` or ``--xla_cpu_max_isa=AVX2``, agrees with finite
differences to 1e-15. float32 and CPUs without AVX-512 are not affected. The reproducer is
tests/verify/test_oracle.py.

An oracle that is itself wrong makes a correct backward fail (or, worse, lets a wrong one
pass), so every reference computation of the verifier — autodiff of the reference forward and
the forward that finite differences evaluate — is compiled with XLA's older loop emitters. The
manual path under test is compiled as users compile it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

# XLA's CPU fusion emitters are the pass that miscompiles; the loop emitters they replaced give
# the same numbers as op-by-op execution. Other backends ignore a CPU option.
REFERENCE_COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


def reference_jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``jax.jit(fn)`` compiled with :data:`REFERENCE_COMPILER_OPTIONS` (for the oracle)."""
    return jax.jit(fn, compiler_options=REFERENCE_COMPILER_OPTIONS)


__all__ = ["REFERENCE_COMPILER_OPTIONS", "reference_jit"]
