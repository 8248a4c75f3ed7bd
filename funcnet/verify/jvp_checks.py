"""The checks of an op's hand-written JVP, each over a :class:`CaseContext`.

For a random tangent ``v`` (one per differentiable argument, drawn like the arguments):

* :func:`check_jvp_autodiff` — the hand-written ``ẏ = J v`` against ``jax.jvp`` of the op's
  reference (its forward, or its gradient reference for an intended gradient), per output;
* :func:`check_jvp_finite_differences` — ``⟨dy, J v⟩`` against the central difference of
  ``⟨dy, forward(x + t·v)⟩`` in float64 (a JVP *is* a directional derivative);
* :func:`check_adjoint` — the two hand-written derivatives against each other, with no
  autodiff at all: ``⟨J v, dy⟩ = ⟨v, Jᵀ dy⟩``, the right side from the op's ``bwd``.

An op without a JVP gets none of them (its report says so). They run in float32 and float64;
bfloat16/float16 (whose tolerances are derived from autodiff's own error for the VJP checks)
are not checked yet.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from funcnet.verify.case_context import CaseContext, output_paths
from funcnet.verify.checks import fd_values
from funcnet.verify.finite_differences import central_difference, directional_error
from funcnet.verify.oracle import reference_jit
from funcnet.verify.report import LeafError, leaf_error
from funcnet.verify.sampling import to_float64
from funcnet.verify.tolerances import FD_STEP


def _applies(ctx: CaseContext) -> bool:
    return ctx.op.jvp is not None and ctx.forward_mode and not ctx.low_precision


def check_jvp_autodiff(ctx: CaseContext) -> list[LeafError]:
    """The hand-written ``J v`` against ``jax.jvp`` of the reference, per output."""
    if not _applies(ctx):
        return []
    reference = reference_jit(lambda args, ts: jax.jvp(ctx.op.reference, args, ts))
    _, dy_ref = reference(tuple(ctx.args), ctx.tangents)
    _, dy_manual = ctx.jvp_manual
    rows = zip(output_paths(dy_ref), jax.tree.leaves(dy_manual), jax.tree.leaves(dy_ref),
               strict=True)  # fmt: skip
    return [leaf_error("jvp_autodiff", path, a, e, ctx.tol.autodiff) for path, a, e in rows]


def _contract(a: Any, b: Any) -> float:
    return sum(
        float(np.vdot(np.asarray(x, np.float64), np.asarray(y, np.float64)))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def _norm(a: Any) -> float:
    return float(np.sqrt(sum(np.sum(np.asarray(x, np.float64) ** 2) for x in jax.tree.leaves(a))))


def check_jvp_finite_differences(ctx: CaseContext) -> list[LeafError]:
    """``⟨dy, J v⟩`` against central differences of ``⟨dy, f(x + t v)⟩`` in float64, ``f`` the
    forward or, for an intended gradient, the op's declared smooth function."""
    if not _applies(ctx) or isinstance(ctx.op.finite_differences, str):
        return []
    args64, dy64 = to_float64(ctx.args), to_float64(ctx.dy)
    values = fd_values(ctx, dy64)  # the program the VJP's finite-difference check compiled
    ts = ctx.tangents
    scale = max(float(np.max(np.abs(np.asarray(args64[i])))) for i in ctx.diff)
    h = FD_STEP * max(1.0, scale) / max(_norm([ts[i] for i in ctx.diff]), 1e-300)

    def along(t: float) -> float:
        moved = tuple(
            np.asarray(a) + t * np.asarray(ts[i], np.float64) if i in ctx.diff else a
            for i, a in enumerate(args64)
        )
        return _contract(dy64, values(moved))

    _, dy_manual = ctx.jvp_manual
    return [
        directional_error(
            "jvp_finite_differences",
            "⟨dy,Jv⟩",
            _contract(dy64, dy_manual),
            central_difference(along, h),
            _norm(dy64) * _norm(dy_manual),
            max(ctx.fd_tolerance[i] for i in ctx.diff),
            ctx.tol.fd_floor,
        )
    ]


def check_adjoint(ctx: CaseContext) -> list[LeafError]:
    """``⟨J v, dy⟩`` (hand-written JVP) against ``⟨v, Jᵀ dy⟩`` (hand-written VJP)."""
    if not _applies(ctx):
        return []
    _, dy_manual = ctx.jvp_manual
    ts = ctx.tangents
    forward = _contract(dy_manual, ctx.dy)
    backward = sum(_contract(ts[i], ctx.g_manual[i]) for i in ctx.diff)
    norm = _norm(dy_manual) * _norm(ctx.dy) + sum(
        _norm(ts[i]) * _norm(ctx.g_manual[i]) for i in ctx.diff
    )
    return [
        directional_error(
            "adjoint", "⟨Jv,dy⟩−⟨v,Jᵀdy⟩", forward, backward, norm, ctx.tol.autodiff,
            ctx.tol.fd_floor,
        )
    ]  # fmt: skip
