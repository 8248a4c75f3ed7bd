"""A :class:`~funcnet.verify.report.Report` as text: the summary table and the per-leaf details.

Margins are ``tolerance / error`` (see report.py): ``12`` means the error is a twelfth of its
tolerance, below ``1`` is a failure, ``inf`` an error of exactly zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from funcnet.verify.report import Report

SHORT = {"finite_differences": "fd", "second_order": "2nd", "no_autodiff": "guard",
         "jvp_autodiff": "jvp", "jvp_finite_differences": "jvp fd"}  # fmt: skip
FORWARD_MODE = ("max_rel_err_jvp_autodiff", "max_rel_err_jvp_fd", "max_adjoint_err")


def _grid(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return [line.rstrip() for line in lines]


def _margin(value: float) -> str:
    return "inf" if value == float("inf") else f"{value:.3g}"


def summary_table(report: Report) -> str:
    """One row per op; the smallest margin per check when several seeds were run; the notes
    (checks that do not apply, and why); one sentence per failure."""
    summaries = [report.op_summary(name) for name in report.op_names()]
    # forward-mode columns once any op has a hand-written JVP ("-": none yet)
    jvp = any(s[k] is not None for s in summaries for k in FORWARD_MODE)
    rows = [("op", "cases", "gradient", "rel err vs autodiff", "rel err vs finite diff",
             *(("jvp vs autodiff", "jvp vs finite diff", "adjoint err") if jvp else ()),
             "smallest margin", "passed")]  # fmt: skip
    for s in summaries:
        smallest = min(s["margins"].items(), key=lambda kv: kv[1], default=("-", float("inf")))
        rows.append(
            (
                s["name"],
                str(s["cases"]),
                s["gradient"],
                f"{s['max_rel_err_autodiff']:.2e}",
                f"{s['max_rel_err_fd']:.2e}",
                *(("-" if s[k] is None else f"{s[k]:.2e}" for k in FORWARD_MODE) if jvp else ()),
                f"{_margin(smallest[1])} ({SHORT.get(smallest[0], smallest[0])})",
                "yes" if s["passed"] else "NO",
            )
        )
    lines = _grid(rows)
    if len(report.seeds()) > 1:
        lines += ["", *margin_table(report)]
    notes = [f"{c.op}: {n}" for c in report.cases for n in c.notes]
    failures = [f for c in report.cases for f in c.failures()]
    for block in (list(dict.fromkeys(notes)), failures):
        if block:
            lines += ["", *block]
    return "\n".join(lines)


def margin_table(report: Report) -> list[str]:
    """Per dtype and check, the smallest margin over every op, case and seed, and where."""
    seeds = report.seeds()
    head = f"smallest margin (tolerance / worst error) over seeds {seeds[0]}-{seeds[-1]}"
    rows = [("dtype", "check", "margin", "op", "case", "seed", "leaf")]
    for dtype in report.dtypes():
        cases = tuple(c for c in report.cases if c.dtype == dtype)
        for check, m in report.margins(cases).items():
            rows.append((dtype, check, _margin(m.margin), m.op, m.case, str(m.seed), m.path))
    return [head, *_grid(rows)]


def details_text(report: Report) -> str:
    """Every case and leaf: its error, tolerance and margin per check."""
    lines: list[str] = []
    for c in report.cases:
        state = "passed" if c.passed else "FAILED"
        lines.append(f"{c.op} / {c.case} ({c.dtype}, seed {c.seed}, {c.gradient}): {state}")
        if c.crash is not None:
            lines.append(f"  the check raised {c.crash}")
        rows = [("check", "leaf", "max rel err", "tolerance", "margin", "max abs err", "at")]
        rows += [
            (e.check, e.path, f"{e.max_rel_err:.3g}", f"{e.tolerance:.3g}", _margin(e.margin),
             f"{e.max_abs_err:.3g}", str(e.where))
            for e in c.errors
        ]  # fmt: skip
        if c.errors:
            lines += ["  " + line for line in _grid(rows)]
        lines += [f"  {n}" for n in c.notes]
    return "\n".join(lines)
