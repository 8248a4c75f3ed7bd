"""Verify an op's hand-written backward: the named checks run over each sample case.

For a sample case drawn at a dtype and seed, :func:`verify_case` builds one
:class:`~funcnet.verify.case_context.CaseContext` (arguments, a random cotangent ``dy``, the
manual VJP run eagerly, the tolerances) and runs every check of :data:`CHECKS` over it: no
autodiff in the backward (:mod:`funcnet.verify.autodiff_guard`), then forward, autodiff,
finite differences, jit, vmap and second order (:mod:`funcnet.verify.checks`), and for an op
with a hand-written JVP, JVP vs autodiff, JVP vs finite differences and the adjoint test
(:mod:`funcnet.verify.jvp_checks`). Each check
returns one :class:`LeafError` per output or argument; a check that raises is reported as the
case's crash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp

from funcnet.core import registry
from funcnet.core.op import Op
from funcnet.core.registry import Arg, Case
from funcnet.verify.autodiff_guard import check_no_autodiff
from funcnet.verify.case_context import CaseContext, make_context
from funcnet.verify.checks import (
    check_autodiff,
    check_finite_differences,
    check_forward,
    check_jit,
    check_second_order,
    check_vmap,
)
from funcnet.verify.jvp_checks import (
    check_adjoint,
    check_jvp_autodiff,
    check_jvp_finite_differences,
)
from funcnet.verify.report import CaseReport, LeafError, Report

Check = Callable[[CaseContext], list[LeafError]]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("no_autodiff", check_no_autodiff),
    ("forward", check_forward),
    ("autodiff", check_autodiff),
    ("finite_differences", check_finite_differences),
    ("jit", check_jit),
    ("vmap", check_vmap),
    ("second_order", check_second_order),
    ("jvp_autodiff", check_jvp_autodiff),
    ("jvp_finite_differences", check_jvp_finite_differences),
    ("adjoint", check_adjoint),
)


ForwardModeCases = Literal["every", "first", "none"]
FORWARD_MODE_CASES: tuple[str, ...] = ("every", "first", "none")


def _check_case(case: Case, dtype: jnp.dtype, seed: int, forward_mode: bool) -> list[LeafError]:
    ctx = make_context(case, dtype, seed, forward_mode)
    return [error for _, check in CHECKS for error in check(ctx)]


def not_applicable(op: Op) -> tuple[str, ...]:
    """The checks that do not apply to ``op``, each with the reason the op declares."""
    if isinstance(op.finite_differences, str):
        return (f"finite differences do not apply: {op.finite_differences}",)
    return ()


def verify_case(
    case: Case, dtype: Any = jnp.float64, seed: int = 0, *, forward_mode: bool = True
) -> CaseReport:
    """Run every check on one sample case (the forward-mode ones only with ``forward_mode``);
    a crash is reported, not raised."""
    op = case.op
    head = (op.name, case.label, jnp.dtype(dtype).name)
    tail = {"gradient": op.gradient, "notes": not_applicable(op), "seed": seed}
    with jax.enable_x64(True):
        try:
            errors = _check_case(case, jnp.dtype(dtype), seed, forward_mode)
        except Exception as e:  # a wrong backward can fail in many ways; report them all
            return CaseReport(*head, (), f"{type(e).__name__}: {e}", **tail)
    return CaseReport(*head, tuple(errors), **tail)


def verify_op(
    op: Op | str,
    args: Sequence[Arg] | None = None,
    *,
    dtypes: Sequence[Any] = (jnp.float64,),
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    second_order: bool = False,
    forward_mode_cases: ForwardModeCases = "every",
) -> Report:
    """Verify one op: a registered name, or an :class:`Op` with the argument specs to draw.

    A registered name (or an :class:`Op` without ``args``) is checked at its sample cases;
    ``args`` for a name is a TypeError. ``second_order=True`` adds the reverse-over-reverse
    check to every case (registered cases may also declare it themselves).

    Every case runs at every dtype of ``dtypes`` and every seed of ``seeds`` (``(seed,)`` by
    default); :meth:`Report.margins` gives the smallest margin per check over them. The
    forward-mode checks of an op with a JVP run on ``forward_mode_cases``: ``"every"`` case,
    the ``"first"`` only (a sweep's cost: each compiles the JVP and its reference once more)
    or ``"none"``.

    Examples:
      >>> from funcnet.layers.dense import dense_op
      >>> report = verify_op(dense_op(), (Arg((3, 4)), Arg((4, 2)), Arg((2,))))
      >>> report.passed
      True
    """
    if isinstance(op, str):
        if args is not None:
            raise TypeError(
                f"verify: args apply to an Op object; the registered op {op!r} is checked at "
                "its sample cases (pass registry.cases(name)[i].op with args instead)."
            )
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
    if second_order:  # every case, not only the ones registered with it
        cases = [c._replace(second_order=True) for c in cases]
    seeds = (seed,) if seeds is None else seeds
    return Report(_verify_cases(cases, dtypes, seeds, forward_mode_cases))


def _verify_cases(
    cases: Sequence[Case],
    dtypes: Sequence[Any],
    seeds: Sequence[int],
    forward_mode_cases: ForwardModeCases = "every",
) -> tuple[CaseReport, ...]:
    if forward_mode_cases not in FORWARD_MODE_CASES:
        raise ValueError(
            f"verify: expected forward_mode_cases in {FORWARD_MODE_CASES}, got "
            f"{forward_mode_cases!r}."
        )
    with_jvp = [forward_mode_cases == "every" or (forward_mode_cases == "first" and i == 0)
                for i in range(len(cases))]  # fmt: skip
    return tuple(
        verify_case(c, d, s, forward_mode=jvp)
        for c, jvp in zip(cases, with_jvp, strict=True)
        for d in dtypes
        for s in seeds
    )


def verify_registry(
    names: Sequence[str] | None = None,
    *,
    dtypes: Sequence[Any] = (jnp.float64,),
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    forward_mode_cases: ForwardModeCases = "every",
) -> Report:
    """Verify every registered op (or those named) at every dtype and seed (``(seed,)`` by
    default), the forward-mode checks on ``forward_mode_cases`` (see :func:`verify_op`); an
    op without cases fails."""
    reports: list[CaseReport] = []
    for name in names if names is not None else registry.op_names():
        cases = registry.cases(name)
        if not cases:
            reports.append(CaseReport(name, "-", "-", (), "no sample cases are registered"))
        seeds_ = (seed,) if seeds is None else seeds
        reports += _verify_cases(cases, dtypes, seeds_, forward_mode_cases)
    return Report(tuple(reports))
