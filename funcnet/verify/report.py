"""What the verifier finds: errors per check and per leaf, as a table, as text and as JSON.

A :class:`Report` prints as its table (``print(report)``); :meth:`Report.table`,
:meth:`Report.details` and :meth:`Report.to_json` give the summary per op, every case and leaf,
and the machine-readable form; :meth:`Report.raise_if_failed` raises on any failure and
returns the report otherwise.

The *margin* of a check is ``tolerance / error`` (``inf`` for an error of zero): how many times
the error fits under its tolerance. A check passes when its margin is at least 1; a seed sweep
(``funcnet check --seeds N``) reports the smallest margin per check, so a near miss shows
before it becomes a failure.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from funcnet.jsonable import jsonable
from funcnet.verify.report_text import details_text, summary_table
from funcnet.verify.tolerances import tolerances

CHECKS = ("no_autodiff", "forward", "autodiff", "finite_differences", "jit", "vmap")
CHECKS += ("second_order", "jvp_autodiff", "jvp_finite_differences", "adjoint")


class VerificationError(AssertionError):
    """A gradient check failed; the message names the op, the case, the leaf and the error."""


class LeafError(NamedTuple):
    """The result of one check on one leaf (an op argument or a parameter)."""

    check: str  # one of CHECKS
    path: str  # argument name ("x", "w") or parameter path ("[0].w")
    max_abs_err: float
    max_rel_err: float
    where: tuple[int, ...]  # index of the largest absolute error ((), for a scalar)
    tolerance: float
    note: str = ""  # what failed, for a check that measures no error (the no-autodiff guard)

    @property
    def passed(self) -> bool:
        return bool(self.max_rel_err <= self.tolerance)  # False for NaN

    @property
    def margin(self) -> float:
        """``tolerance / max_rel_err``: at least 1 when the check passes (``inf`` for 0)."""
        if math.isnan(self.max_rel_err):
            return 0.0
        return self.tolerance / self.max_rel_err if self.max_rel_err > 0 else math.inf

    def explain(self) -> str:
        """The error against the tolerance, in words (or the note of a check without one)."""
        if self.note:
            return self.note
        return (
            f"max rel err {self.max_rel_err:.3g} > tolerance {self.tolerance:.3g} "
            f"(max abs err {self.max_abs_err:.3g} at index {self.where})"
        )


def leaf_error(check: str, path: str, actual: Any, expected: Any, tolerance: float) -> LeafError:
    """Normwise error of ``actual`` against ``expected``: ``max|a − e| / max|e|``."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return LeafError(check, f"{path} (shape {a.shape} != {e.shape})", np.inf, np.inf, (), 0.0)
    diff = np.abs(a - e)
    if diff.size == 0:
        return LeafError(check, path, 0.0, 0.0, (), tolerance)
    nan_diff = np.where(np.isnan(diff), np.inf, diff)
    where = tuple(int(i) for i in np.unravel_index(np.argmax(nan_diff), diff.shape))
    max_abs = float(nan_diff[where]) if diff.ndim else float(nan_diff)
    scale = float(np.max(np.abs(e))) if np.all(np.isfinite(e)) else np.inf
    rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else np.inf)
    return LeafError(check, path, max_abs, rel, where, tolerance)


class CaseReport(NamedTuple):
    """Every check of one sample case (or one model) at one dtype and seed."""

    op: str
    case: str
    dtype: str
    errors: tuple[LeafError, ...]
    crash: str | None = None  # the exception raised while checking, if any
    gradient: str = "exact"  # or "surrogate: <what>" (an op's intended gradient)
    notes: tuple[str, ...] = ()  # checks that do not apply, and why
    seed: int = 0

    @property
    def passed(self) -> bool:
        return self.crash is None and all(e.passed for e in self.errors)

    def max_rel_err(self, check: str) -> float:
        errs = [e.max_rel_err for e in self.errors if e.check == check]
        return max(errs, default=0.0) if self.crash is None else float("inf")

    def failures(self) -> list[str]:
        """One sentence per failed check, naming the op, case, leaf and error size."""
        head = f"op {self.op!r}, case {self.case!r} ({self.dtype}, seed {self.seed})"
        if self.crash is not None:
            return [f"{head}: the check raised {self.crash}"]
        return [
            f"{head}: {e.check} check failed for {e.path!r}: {e.explain()}"
            for e in self.errors
            if not e.passed
        ]


class Margin(NamedTuple):
    """The smallest margin of one check, and where it occurred."""

    margin: float
    op: str
    case: str
    seed: int
    path: str


class Report(NamedTuple):
    """The verifier's findings over many cases, grouped by op name in order of appearance."""

    cases: tuple[CaseReport, ...]

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        state = "passed" if self.passed else "FAILED"
        return f"Report({len(self.op_names())} ops, {len(self.cases)} cases, {state})"

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)

    def op_names(self) -> list[str]:
        return list(dict.fromkeys(c.op for c in self.cases))

    def dtypes(self) -> list[str]:
        return [d for d in dict.fromkeys(c.dtype for c in self.cases) if d != "-"]

    def seeds(self) -> list[int]:
        return sorted({c.seed for c in self.cases})

    def margins(self, cases: tuple[CaseReport, ...] | None = None) -> dict[str, Margin]:
        """Per check, the smallest margin over ``cases`` (all of them by default)."""
        smallest: dict[str, Margin] = {}
        for c in self.cases if cases is None else cases:
            for e in c.errors:
                if e.check == "no_autodiff":  # passes or fails; it measures no error
                    continue
                m = Margin(0.0 if c.crash else e.margin, c.op, c.case, c.seed, e.path)
                if e.check not in smallest or m.margin < smallest[e.check].margin:
                    smallest[e.check] = m
        return {check: smallest[check] for check in CHECKS if check in smallest}

    def op_summary(self, name: str) -> dict[str, Any]:
        """One op's row: its gradient kind, errors, margins and notes over its cases."""
        mine = tuple(c for c in self.cases if c.op == name)
        return {
            "name": name,
            "passed": all(c.passed for c in mine) and bool(mine),
            "cases": len({c.case for c in mine}),
            "gradient": _gradient_kinds(mine),
            "max_rel_err_autodiff": max(c.max_rel_err("autodiff") for c in mine),
            "max_rel_err_fd": max(c.max_rel_err("finite_differences") for c in mine),
            "max_rel_err_transforms": max(
                max(c.max_rel_err("jit"), c.max_rel_err("vmap")) for c in mine
            ),
            # forward mode: None for an op without a hand-written JVP (or not checked)
            "max_rel_err_jvp_autodiff": _checked_max(mine, "jvp_autodiff"),
            "max_rel_err_jvp_fd": _checked_max(mine, "jvp_finite_differences"),
            "max_adjoint_err": _checked_max(mine, "adjoint"),
            "margins": {k: m.margin for k, m in self.margins(mine).items()},
            "notes": list(dict.fromkeys(n for c in mine for n in c.notes)),
        }

    def to_json(self, details: bool = False) -> dict[str, Any]:
        """Per op: gradient kind, errors, margins, notes; the dtypes, seeds and tolerances
        checked; with ``details``, every case's per-leaf errors."""
        out: dict[str, Any] = {
            "ops": [self.op_summary(name) for name in self.op_names()],
            "passed": self.passed,
            "dtypes": self.dtypes(),
            "seeds": self.seeds(),
            "tolerances": {d: tolerances(jnp.dtype(d))._asdict() for d in self.dtypes()},
            "smallest_margins": {
                d: {k: m._asdict() for k, m in self.margins(self._of_dtype(d)).items()}
                for d in self.dtypes()
            },
        }
        if details:
            out["cases"] = [
                {
                    "op": c.op,
                    "case": c.case,
                    "dtype": c.dtype,
                    "seed": c.seed,
                    "passed": c.passed,
                    "crash": c.crash,
                    "notes": list(c.notes),
                    "errors": [{**e._asdict(), "passed": e.passed} for e in c.errors],
                }
                for c in self.cases
            ]
        return jsonable(out)

    def _of_dtype(self, dtype: str) -> tuple[CaseReport, ...]:
        return tuple(c for c in self.cases if c.dtype == dtype)

    def table(self) -> str:
        """One row per op (cases, gradient, largest errors, smallest margin), then the notes
        and one sentence per failure."""
        return summary_table(self)

    def details(self) -> str:
        """Every case and every leaf: error, tolerance and margin per check, as text."""
        return details_text(self)

    def raise_if_failed(self) -> Report:
        """Raise :class:`VerificationError` listing every failure; return the report otherwise
        (so a script can ``print(verify_op(...).raise_if_failed())``)."""
        failures = [f for c in self.cases for f in c.failures()]
        if failures:
            raise VerificationError("gradient verification failed:\n  " + "\n  ".join(failures))
        return self


def _checked_max(cases: tuple[CaseReport, ...], check: str) -> float | None:
    """The largest error of ``check`` over ``cases``, or None where it never ran."""
    if not any(e.check == check for c in cases for e in c.errors):
        return None
    return max(c.max_rel_err(check) for c in cases)


def _gradient_kinds(cases: tuple[CaseReport, ...]) -> str:
    """The op's gradient kind; where its cases differ (``lstm`` exact, ``lstm(truncate=2)``
    truncated BPTT) each kind with the cases that compute it."""
    kinds: dict[str, dict[str, None]] = {}
    for c in cases:
        kinds.setdefault(c.gradient, {})[c.case] = None
    if len(kinds) <= 1:
        return next(iter(kinds), "exact")
    return "; ".join(f"{kind} (cases {', '.join(names)})" for kind, names in kinds.items())
