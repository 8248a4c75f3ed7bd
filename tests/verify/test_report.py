"""Reports read well: str is the table, details per leaf, JSON with dtypes, seeds, tolerances."""

import json

import jax.numpy as jnp
import pytest

from funcnet.core.registry import Arg
from funcnet.layers.dense import dense_op
from funcnet.verify import VerificationError, tolerances, verify_op

SQUARE = (Arg((3, 3)), Arg((3, 3)), Arg((3,)))


@pytest.fixture(scope="module")
def report():
    return verify_op(dense_op(), SQUARE, dtypes=(jnp.float32,), seeds=(0, 1))


def test_str_of_a_report_is_its_table(report):
    assert str(report) == report.table()
    assert "CaseReport(" not in str(report) and "LeafError(" not in str(report)
    assert str(report).splitlines()[0].split()[:3] == ["op", "cases", "gradient"]
    assert repr(report) == "Report(1 ops, 2 cases, passed)"


def test_raise_if_failed_returns_the_report(report):
    assert report.raise_if_failed() is report
    bad = verify_op(dense_op().with_bwd(lambda res, dy: (dy, dy, dy.sum(0))), SQUARE)
    with pytest.raises(VerificationError, match="op 'dense', case 'given' \\(float64, seed 0\\)"):
        bad.raise_if_failed()


def test_the_json_records_dtypes_seeds_tolerances_and_margins(report):
    out = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert out["dtypes"] == ["float32"] and out["seeds"] == [0, 1]
    assert out["tolerances"]["float32"] == tolerances(jnp.float32)._asdict()
    op = out["ops"][0]
    assert op["gradient"] == "exact" and op["cases"] == 1
    assert set(op["margins"]) == {"forward", "autodiff", "finite_differences", "jit", "vmap",
                                  "jvp_autodiff", "jvp_finite_differences", "adjoint"}  # fmt: skip
    worst = out["smallest_margins"]["float32"]["finite_differences"]
    assert worst["op"] == "dense" and worst["seed"] in (0, 1) and worst["path"] in "xwb"
    errors = [e for c in report.cases for e in c.errors if e.check == "finite_differences"]
    assert worst["margin"] == min(e.tolerance / e.max_rel_err for e in errors) > 1


def test_details_list_every_case_and_leaf(report):
    text = report.details()
    assert "dense / given (float32, seed 1, exact): passed" in text
    rows = [line.split() for line in text.splitlines() if line.strip().startswith("autodiff")]
    assert [r[1] for r in rows] == ["x", "w", "b", "x", "w", "b"]
    assert all(float(r[2]) <= float(r[3]) for r in rows)  # error within tolerance


def test_a_seed_sweep_prints_the_smallest_margin_per_check(report):
    table = report.table()
    assert "smallest margin (tolerance / worst error) over seeds 0-1" in table
    assert any(line.split()[:2] == ["float32", "vmap"] for line in table.splitlines())
