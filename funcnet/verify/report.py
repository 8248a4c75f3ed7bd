"""What the verifier finds: errors per check and per leaf, as a table and as JSON."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from funcnet.jsonable import jsonable

CHECKS = ("no_autodiff", "forward", "autodiff", "finite_differences", "jit", "vmap", "second_order")


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
    """Every check of one sample case (or one model) at one dtype."""

    op: str
    case: str
    dtype: str
    errors: tuple[LeafError, ...]
    crash: str | None = None  # the exception raised while checking, if any

    @property
    def passed(self) -> bool:
        return self.crash is None and all(e.passed for e in self.errors)

    def max_rel_err(self, check: str) -> float:
        errs = [e.max_rel_err for e in self.errors if e.check == check]
        return max(errs, default=0.0) if self.crash is None else float("inf")

    def failures(self) -> list[str]:
        """One sentence per failed check, naming the op, case, leaf and error size."""
        head = f"op {self.op!r}, case {self.case!r} ({self.dtype})"
        if self.crash is not None:
            return [f"{head}: the check raised {self.crash}"]
        return [
            f"{head}: {e.check} check failed for {e.path!r}: {e.explain()}"
            for e in self.errors
            if not e.passed
        ]


class Report(NamedTuple):
    """The verifier's findings over many cases, grouped by op name in order of appearance."""

    cases: tuple[CaseReport, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)

    def op_names(self) -> list[str]:
        return list(dict.fromkeys(c.op for c in self.cases))

    def op_summary(self, name: str) -> dict[str, Any]:
        mine = [c for c in self.cases if c.op == name]
        return {
            "name": name,
            "passed": all(c.passed for c in mine) and bool(mine),
            "cases": len(mine),
            "max_rel_err_autodiff": max(c.max_rel_err("autodiff") for c in mine),
            "max_rel_err_fd": max(c.max_rel_err("finite_differences") for c in mine),
            "max_rel_err_transforms": max(
                max(c.max_rel_err("jit"), c.max_rel_err("vmap")) for c in mine
            ),
        }

    def to_json(self, details: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ops": [self.op_summary(name) for name in self.op_names()],
            "passed": self.passed,
        }
        if details:
            out["cases"] = [
                {
                    "op": c.op,
                    "case": c.case,
                    "dtype": c.dtype,
                    "passed": c.passed,
                    "crash": c.crash,
                    "errors": [{**e._asdict(), "passed": e.passed} for e in c.errors],
                }
                for c in self.cases
            ]
        return jsonable(out)

    def table(self) -> str:
        rows = [("op", "cases", "rel err vs autodiff", "rel err vs finite diff", "passed")]
        for name in self.op_names():
            s = self.op_summary(name)
            rows.append(
                (
                    name,
                    str(s["cases"]),
                    f"{s['max_rel_err_autodiff']:.2e}",
                    f"{s['max_rel_err_fd']:.2e}",
                    "yes" if s["passed"] else "NO",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        failures = [f for c in self.cases for f in c.failures()]
        return "\n".join([*lines, "", *failures] if failures else lines)

    def raise_if_failed(self) -> Report:
        """Raise :class:`VerificationError` listing every failure; return self otherwise."""
        failures = [f for c in self.cases for f in c.failures()]
        if failures:
            raise VerificationError("gradient verification failed:\n  " + "\n  ".join(failures))
        return self
