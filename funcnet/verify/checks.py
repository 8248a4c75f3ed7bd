"""The named checks of an op's hand-written backward, each over a :class:`CaseContext`.

Each check is a small function ``(ctx) -> list[LeafError]``, one error per output or argument
it looks at, in the order :data:`funcnet.verify.op_check.CHECKS` runs them:

* :func:`check_forward` — the custom-VJP forward gives the reference forward's values;
* :func:`check_autodiff` — the manual VJP matches ``jax.vjp`` of the reference, per argument;
* :func:`check_finite_differences` — for a random unit direction ``u`` in each argument,
  ``⟨dx, u⟩`` matches the central difference of ``⟨dy, forward(x + t·u)⟩`` taken in float64;
* :func:`check_jit`, :func:`check_vmap` — the manual VJP gives the same answer eagerly, under
  ``jax.jit``, and under ``jax.vmap`` over a stack of three independent draws;
* :func:`check_second_order` — where the case declares it, reverse-over-reverse through the
  manual backward matches reverse-over-reverse through the reference.

Autodiff is used here, and only here and in the reference path, as the oracle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.verify.case_context import CaseContext, manual_vjp, output_paths
from funcnet.verify.finite_differences import (
    central_difference,
    directional_error,
)
from funcnet.verify.oracle import reference_jit
from funcnet.verify.report import LeafError, leaf_error
from funcnet.verify.sampling import draw_args, random_cotangent, random_like, to_float64
from funcnet.verify.tolerances import FD_STEP

VMAP_DRAWS = 3


def check_forward(ctx: CaseContext) -> list[LeafError]:
    """The manual path's output against the reference forward's, per output; for an intended
    gradient, the gradient reference's values too (its autodiff path must compute them)."""
    paths, expected = output_paths(ctx.y_oracle), jax.tree.leaves(ctx.y_oracle)
    rows = zip(paths, jax.tree.leaves(ctx.y_manual), expected, ctx.forward_tolerance, strict=True)
    errors = [leaf_error("forward", path, a, e, tol) for path, a, e, tol in rows]
    if not ctx.exact:
        pairs = zip(paths, jax.tree.leaves(ctx.oracle[0]), expected, strict=True)
        errors += [
            leaf_error("forward", f"{path} of gradient_reference", a, e, ctx.tol.transforms)
            for path, a, e in pairs
        ]
    return errors


def check_autodiff(ctx: CaseContext) -> list[LeafError]:
    """The manual cotangent of each argument against autodiff of the reference forward."""
    return [
        leaf_error("autodiff", ctx.names[i], ctx.g_manual[i], ctx.g_oracle[i], tol)
        for i, tol in ctx.autodiff_tolerance.items()
    ]


def check_finite_differences(ctx: CaseContext) -> list[LeafError]:
    """``⟨dx, u⟩`` against central differences of ``⟨dy, forward⟩`` along ``u``, in float64.

    For an intended gradient the function differenced is the op's declared smooth function;
    an op that declares why finite differences do not apply gets none (the report says why).
    The arithmetic around the compiled function is NumPy's: an eager JAX operation compiles a
    program for every new shape, which cost more than the check itself.
    """
    if isinstance(ctx.op.finite_differences, str):
        return []
    args64, dy64 = to_float64(ctx.args), to_float64(ctx.dy)
    values = fd_values(ctx, dy64)
    dy_leaves = [np.asarray(d) for d in jax.tree.leaves(dy64)]
    errors = []
    for i in ctx.diff:
        x = np.asarray(args64[i])
        u = ctx.rng_dir.standard_normal(x.shape)
        u /= np.linalg.norm(u)
        h = FD_STEP * max(1.0, float(np.max(np.abs(x))))

        def along(t: float, i: int = i, x: np.ndarray = x, u: np.ndarray = u) -> float:
            moved = (*args64[:i], x + t * u, *args64[i + 1 :])
            ys = jax.tree.leaves(values(moved))
            return sum(float(np.vdot(d, np.asarray(y))) for d, y in zip(dy_leaves, ys, strict=True))

        g = np.asarray(ctx.g_manual[i], np.float64)
        errors.append(
            directional_error(
                "finite_differences",
                ctx.names[i],
                float(np.vdot(g, u)),
                central_difference(along, h),
                float(np.linalg.norm(g)),
                ctx.fd_tolerance[i],
                ctx.tol.fd_floor,
            )
        )
    return errors


def fd_values(ctx: CaseContext, dy64: Any) -> Callable[[tuple], Any]:
    """The function finite differences evaluate, ``args -> values``, compiled: the reference
    forward (through the oracle's program, which saves a compilation) or the op's smooth
    function for an intended gradient."""
    smooth = ctx.op.finite_differences
    if smooth is None:
        return lambda xs: ctx.reference(xs, dy64)[0]
    compiled = reference_jit(smooth)
    return lambda xs: compiled(*xs)


def check_jit(ctx: CaseContext) -> list[LeafError]:
    """The manual VJP under ``jax.jit`` against the eager one; in bfloat16/float16, against
    the float64 oracle at the autodiff check's tolerance (see tolerances.py)."""
    g_jit = ctx.manual_jit(ctx.args, ctx.dy)
    if ctx.low_precision:
        return [
            leaf_error("jit", ctx.names[i], g_jit[i], ctx.g_oracle[i], tol)
            for i, tol in ctx.autodiff_tolerance.items()
        ]
    return [
        leaf_error("jit", ctx.names[i], g_jit[i], ctx.g_manual[i], ctx.tol.transforms)
        for i in ctx.diff
    ]


def check_vmap(ctx: CaseContext) -> list[LeafError]:
    """``jax.vmap`` of the manual VJP over three draws against the per-draw answers of the
    jitted VJP; in bfloat16/float16, against the per-draw float64 oracle, each argument at a
    tolerance derived from autodiff's own error over the three draws."""
    more = [draw_args(ctx.case.args, ctx.rng_vmap, ctx.dtype) for _ in range(VMAP_DRAWS - 1)]
    draws = [ctx.args, *more]
    dys = [ctx.dy] + [random_cotangent(ctx.rng_vmap, ctx.dy) for _ in range(VMAP_DRAWS - 1)]
    stacked_args = tuple(np.stack(column) for column in zip(*draws, strict=True))
    stacked_dy = jax.tree.map(lambda *d: np.stack(d), *dys)
    g_vmap = jax.jit(jax.vmap(manual_vjp(ctx.op)))(stacked_args, stacked_dy)
    pairs = list(zip(draws[1:], dys[1:], strict=True))
    if ctx.low_precision:
        exact = [ctx.g_oracle] + [ctx.reference(*to_float64((a, d)))[1] for a, d in pairs]
        low = [ctx.reference_at_dtype[1]] + [ctx.reference(a, d)[1] for a, d in pairs]
    else:
        exact = [ctx.g_manual] + [ctx.manual_jit(a, d) for a, d in pairs]
    errors = []
    for i in ctx.diff:
        expected = np.stack([np.asarray(g[i]) for g in exact])
        tol = ctx.tol.transforms
        if ctx.low_precision:
            own = np.stack([np.asarray(g[i]) for g in low])
            tol = ctx.derived_tolerance(ctx.tol.autodiff, own, expected)
        errors.append(leaf_error("vmap", ctx.names[i], g_vmap[i], expected, tol))
    return errors


def check_second_order(ctx: CaseContext) -> list[LeafError]:
    """Reverse-over-reverse through the manual backward against through the reference.

    Second order is a property of the backward's code: it runs where the case declares it, in
    float32 and float64.
    """
    if not ctx.case.second_order or ctx.low_precision:
        return []
    vs = [random_like(ctx.rng_second, ctx.args[i]) for i in ctx.diff]

    def contracted(fn: Callable[..., Any]) -> Callable[[tuple], jax.Array]:
        # ⟨vjp(x)(dy), v⟩ as a function of the differentiable arguments only
        def h(diff_args: tuple) -> jax.Array:
            xs = list(ctx.args)
            for i, a in zip(ctx.diff, diff_args, strict=True):
                xs[i] = a
            cot = jax.vjp(fn, *xs)[1](ctx.dy)
            return sum(jnp.vdot(cot[i], v) for i, v in zip(ctx.diff, vs, strict=True))

        return h

    diff_args = tuple(ctx.args[i] for i in ctx.diff)
    h_manual = jax.jit(jax.grad(contracted(ctx.op.manual)))(diff_args)
    h_ref = reference_jit(jax.grad(contracted(ctx.op.reference)))(diff_args)
    return [
        leaf_error("second_order", ctx.names[i], h_manual[j], h_ref[j], ctx.tol.autodiff)
        for j, i in enumerate(ctx.diff)
    ]
