"""The three-way check of an op's hand-written backward.

For a sample case drawn at a dtype, with a random cotangent ``dy``:

1. forward: the custom-VJP forward gives the reference forward's values;
2. autodiff: the manual VJP matches ``jax.vjp`` of the reference forward, per argument;
3. finite differences: for a random unit direction ``u`` in each argument, ``⟨dx, u⟩`` matches
   the central difference of ``⟨dy, forward(x + t·u)⟩`` taken in float64;
4. jit / vmap: the manual VJP, run eagerly, gives the answer it gives under ``jax.jit``, and
   ``jax.vmap`` over a stack of three independent draws gives the per-draw answers;
5. second order (where the case declares it): reverse-over-reverse through the manual
   backward matches reverse-over-reverse through the reference.

Autodiff is used here, and only here and in the reference path, as the oracle.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.core import registry
from funcnet.core.op import Op
from funcnet.core.registry import Arg, Case
from funcnet.verify.oracle import reference_jit
from funcnet.verify.report import CaseReport, LeafError, Report, leaf_error
from funcnet.verify.sampling import (
    draw_args,
    generators,
    is_differentiable,
    random_cotangent,
    random_like,
)
from funcnet.verify.tolerances import FD_STEP, is_low_precision, tolerances

VMAP_DRAWS = 3
LOW_PRECISION_SLACK = 4.0  # see the autodiff check at bfloat16/float16


def arg_names(fn: Callable[..., Any], n: int) -> list[str]:
    """Names of the first ``n`` positional arguments of ``fn`` (``b`` for ``*b``)."""
    names: list[str] = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            extra = n - len(names)
            names += [p.name] if extra == 1 else [f"{p.name}[{j}]" for j in range(extra)]
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    return (names + [f"arg{i}" for i in range(len(names), n)])[:n]


def manual_vjp(op: Op) -> Callable[[tuple, Any], tuple]:
    """``(args, dy) -> cotangents`` through the op's hand-written backward."""
    return lambda args, dy: jax.vjp(op.manual, *args)[1](dy)


def directional_error(
    check: str,
    path: str,
    analytic: float,
    numeric: float,
    grad_norm: float,
    tolerance: float,
    floor: float = 1e-3,
) -> LeafError:
    """Relative error of a directional derivative against its finite-difference estimate.

    The denominator is floored at ``floor·‖grad‖`` (``1e-3`` by default): a random unit
    direction in n dimensions gives ``|⟨grad, u⟩| ≈ ‖grad‖/√n``, so only an unlucky direction
    falls below that floor, and then the estimate's own noise would otherwise dominate. Low
    precision floors it at ``‖grad‖`` itself (see tolerances.py).
    """
    abs_err = abs(analytic - numeric)
    scale = max(abs(analytic), abs(numeric), floor * grad_norm)
    rel = abs_err / scale if scale > 0 else (0.0 if abs_err == 0 else float("inf"))
    if not np.isfinite(analytic):
        rel = abs_err = float("inf")
    return LeafError(check, path, abs_err, rel, (), tolerance)


def central_difference(f: Callable[[float], Any], h: float, refinements: int = 2) -> float:
    """``(f(s) − f(−s)) / 2s`` in float64, at the step ``s`` in ``h, h/4, h/16, …`` where it has
    converged.

    On a smooth segment consecutive estimates agree to ``O(s²)``. A kink within ``±s`` (a relu
    or max-pool switch the direction happens to cross) makes an estimate wrong by up to the jump
    in slope, and shrinking the step moves the kink out of reach. The estimate returned is the
    finer one of the consecutive pair that agrees best; the analytic gradient plays no part in
    the choice.
    """
    steps = [h / 4**k for k in range(refinements + 1)]
    estimates = [float((f(s) - f(-s)) / (2 * s)) for s in steps]
    gaps = [abs(a - b) for a, b in itertools.pairwise(estimates)]
    if not gaps:
        return estimates[0]
    return estimates[1 + gaps.index(min(gaps))]


def to_float64(tree: Any) -> Any:
    """Floating leaves of ``tree`` in float64 (integer leaves, labels and masks, unchanged)."""
    return jax.tree.map(lambda a: a.astype(jnp.float64) if is_differentiable(a) else a, tree)


def tree_vdot(a: Any, b: Any) -> jax.Array:
    """``Σ_leaves ⟨a, b⟩``: the pairing of an output pytree with its cotangent."""
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def output_paths(y: Any) -> list[str]:
    """``"y"`` for a single output, ``"y[0]"``, ``"y[1]"``, ... for a tuple of outputs."""
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(y)[0]]
    return [f"y{p}" for p in paths]


def _check_case(case: Case, dtype: jnp.dtype, seed: int) -> list[LeafError]:
    op, tol = case.op, tolerances(dtype)
    rng_args, rng_dy, rng_dir, rng_vmap, rng_second = generators(seed, 5)
    args = draw_args(case.args, rng_args, dtype)
    names = arg_names(op.forward, len(args))
    diff = [i for i, a in enumerate(args) if is_differentiable(a)]
    errors: list[LeafError] = []

    # The manual VJP runs eagerly (op by op); everything else is compiled, which keeps the
    # verifier's cost to a few compilations per case.
    y_manual, vjp_manual = jax.vjp(op.manual, *args)
    forward = reference_jit(op.forward)
    y_ref = forward(*args)
    for path, a, e in zip(
        output_paths(y_ref), jax.tree.leaves(y_manual), jax.tree.leaves(y_ref), strict=True
    ):
        errors.append(leaf_error("forward", path, a, e, tol.transforms))
    dy = random_cotangent(rng_dy, y_ref)
    g_manual = vjp_manual(dy)
    reference_vjp = reference_jit(lambda xs, d: jax.vjp(op.forward, *xs)[1](d))
    g_ref = reference_vjp(args, dy)
    tolerance = {i: tol.autodiff for i in diff}
    fd_tolerance = {i: tol.finite_differences for i in diff}
    if is_low_precision(dtype):
        # The oracle is autodiff in float64; the manual backward may be as inexact as autodiff
        # itself is in this dtype (a few times over), never required to be better.
        g_exact = reference_vjp(to_float64(args), to_float64(dy))
        for i in diff:
            own = leaf_error("autodiff", names[i], g_ref[i], g_exact[i], 0.0).max_rel_err
            tolerance[i] = max(tol.autodiff, LOW_PRECISION_SLACK * own)
            fd_tolerance[i] = max(tol.finite_differences, tolerance[i])
        g_ref = g_exact
    for i in diff:
        errors.append(leaf_error("autodiff", names[i], g_manual[i], g_ref[i], tolerance[i]))

    # Finite differences, always in float64 whatever dtype the gradient was computed in.
    args64, dy64 = to_float64(args), to_float64(dy)
    for i in diff:
        u = random_like(rng_dir, args64[i])
        u = u / jnp.linalg.norm(u)
        h = FD_STEP * max(1.0, float(jnp.max(jnp.abs(args64[i]))))

        def along(t: float, i: int = i, u: jax.Array = u) -> jax.Array:
            moved = (*args64[:i], args64[i] + t * u, *args64[i + 1 :])
            return tree_vdot(dy64, forward(*moved))

        g = jnp.asarray(g_manual[i], jnp.float64)
        analytic = float(jnp.vdot(g, u))
        errors.append(
            directional_error(
                "finite_differences",
                names[i],
                analytic,
                central_difference(along, h),
                float(jnp.linalg.norm(g)),
                fd_tolerance[i],
                tol.fd_floor,
            )
        )

    vjp_jit = jax.jit(manual_vjp(op))
    g_jit = vjp_jit(args, dy)
    for i in diff:
        errors.append(leaf_error("jit", names[i], g_jit[i], g_manual[i], tol.transforms))

    draws = [args] + [draw_args(case.args, rng_vmap, dtype) for _ in range(VMAP_DRAWS - 1)]
    dys = [dy] + [random_cotangent(rng_vmap, dy) for _ in range(VMAP_DRAWS - 1)]
    stacked_args = tuple(jnp.stack(column) for column in zip(*draws, strict=True))
    stacked_dy = jax.tree.map(lambda *d: jnp.stack(d), *dys)
    g_vmap = jax.jit(jax.vmap(manual_vjp(op)))(stacked_args, stacked_dy)
    g_each = [g_manual] + [vjp_jit(a, d) for a, d in zip(draws[1:], dys[1:], strict=True)]
    for i in diff:
        expected = jnp.stack([g[i] for g in g_each])
        errors.append(leaf_error("vmap", names[i], g_vmap[i], expected, tol.transforms))

    # Second order is a property of the backward's code, checked in float32 and float64.
    if case.second_order and not is_low_precision(dtype):
        vs = [random_like(rng_second, args[i]) for i in diff]

        def contracted(fn: Callable[..., Any]) -> Callable[[tuple], jax.Array]:
            # ⟨vjp(x)(dy), v⟩ as a function of the differentiable arguments only
            def h(diff_args: tuple) -> jax.Array:
                xs = list(args)
                for i, a in zip(diff, diff_args, strict=True):
                    xs[i] = a
                cot = jax.vjp(fn, *xs)[1](dy)
                return sum(jnp.vdot(cot[i], v) for i, v in zip(diff, vs, strict=True))

            return h

        diff_args = tuple(args[i] for i in diff)
        h_manual = jax.jit(jax.grad(contracted(op.manual)))(diff_args)
        h_ref = reference_jit(jax.grad(contracted(op.forward)))(diff_args)
        for j, i in enumerate(diff):
            errors.append(leaf_error("second_order", names[i], h_manual[j], h_ref[j], tol.autodiff))
    return errors


def verify_case(case: Case, dtype: Any = jnp.float64, seed: int = 0) -> CaseReport:
    """Run every check on one sample case; a crash is reported, not raised."""
    dtype_name = jnp.dtype(dtype).name
    with jax.enable_x64(True):
        try:
            errors = _check_case(case, jnp.dtype(dtype), seed)
        except Exception as e:  # a wrong backward can fail in many ways; report them all
            return CaseReport(case.op.name, case.label, dtype_name, (), f"{type(e).__name__}: {e}")
    return CaseReport(case.op.name, case.label, dtype_name, tuple(errors))


def verify_op(
    op: Op | str,
    args: Sequence[Arg] | None = None,
    *,
    dtypes: Sequence[Any] = (jnp.float64,),
    seed: int = 0,
    second_order: bool = False,
) -> Report:
    """Verify one op: a registered name, or an :class:`Op` with the argument specs to draw.

    Examples:
      >>> from funcnet.layers.dense import dense_op
      >>> report = verify_op(dense_op(), (Arg((3, 4)), Arg((4, 2)), Arg((2,))))
      >>> report.passed
      True
    """
    if isinstance(op, str):
        cases = registry.cases(op)
        if not cases:
            raise ValueError(f"verify: op {op!r} has no sample cases; add some with add_cases.")
    else:
        if args is None:
            cases = registry.cases(op.name)
            if not cases:
                raise ValueError(f"verify: op {op.name!r} has no sample cases; pass args.")
            cases = [c._replace(op=op) for c in cases]
        else:
            cases = [Case("given", op, tuple(args), second_order)]
    return Report(tuple(verify_case(c, d, seed) for c in cases for d in dtypes))


def verify_registry(
    names: Sequence[str] | None = None, *, dtypes: Sequence[Any] = (jnp.float64,), seed: int = 0
) -> Report:
    """Verify every registered op (or those named); an op without cases fails."""
    reports: list[CaseReport] = []
    for name in names if names is not None else registry.op_names():
        cases = registry.cases(name)
        if not cases:
            reports.append(CaseReport(name, "-", "-", (), "no sample cases are registered"))
        reports += [verify_case(c, d, seed) for c in cases for d in dtypes]
    return Report(tuple(reports))
