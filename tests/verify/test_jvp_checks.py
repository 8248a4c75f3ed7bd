"""The forward-mode checks: a right JVP passes all three, a wrong one fails each of them, and the
adjoint test catches a wrong backward without autodiff."""

import dataclasses

import jax
import jax.numpy as jnp
import pytest

from funcnet.core import registry
from funcnet.core.registry import Arg
from funcnet.layers.dense import dense_op
from funcnet.verify import Report, verify_op

SQUARE = (Arg((4, 4)), Arg((4, 4)), Arg((4,)))
JVP_CHECKS = {"jvp_autodiff", "jvp_finite_differences", "adjoint"}


def _failed(report):
    return {e.check for c in report.cases for e in c.errors if not e.passed}


def _ran(report):
    return {e.check for c in report.cases for e in c.errors}


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_a_right_jvp_passes_the_three_checks(dtype):
    report = verify_op(dense_op(), SQUARE, dtypes=(dtype,))
    assert report.passed and _ran(report) >= JVP_CHECKS
    row = report.to_json()["ops"][0]
    assert row["max_rel_err_jvp_autodiff"] < 1e-5 and row["max_adjoint_err"] < 1e-5


def test_a_wrong_jvp_fails_each_check():
    op = dense_op()

    def off_by_a_tenth(primals, tangents):
        y, dy = op.jvp(primals, tangents)
        return y, 1.1 * dy

    report = verify_op(op.with_jvp(off_by_a_tenth), SQUARE)
    assert _failed(report) == JVP_CHECKS


def test_a_jvp_missing_one_term_is_caught():
    op = dense_op()

    def without_dw(primals, tangents):  # forgets X Ẇ
        (x, w, b), (dx, _, db) = primals, tangents
        return op.forward(x, w, b), op.forward(dx, w, db)

    assert _failed(verify_op(op.with_jvp(without_dw), SQUARE)) == JVP_CHECKS


def test_the_adjoint_test_catches_a_wrong_backward_without_autodiff():
    op = dense_op()

    def bwd(res, dy):
        x, w = res
        return 1.01 * dy @ w.T, x.T @ dy, dy.sum(0)

    failed = _failed(verify_op(op.with_bwd(bwd), SQUARE))
    assert "adjoint" in failed and "autodiff" in failed
    assert not failed & {"jvp_autodiff", "jvp_finite_differences"}


def test_an_op_without_jvp_runs_no_forward_mode_check():
    op = dataclasses.replace(dense_op(), name="planted_without_jvp", jvp=None, manual_jvp=None)
    report = verify_op(op, SQUARE)
    assert report.passed and not JVP_CHECKS & _ran(report)
    assert report.to_json()["ops"][0]["max_rel_err_jvp_autodiff"] is None
    x, w, b = jnp.ones((4, 4)), jnp.ones((4, 4)), jnp.ones(4)
    with pytest.raises(NotImplementedError, match="planted_without_jvp: has no hand-written JVP"):
        jax.jvp(lambda a: op(a, w, b, backward="manual_jvp"), (x,), (x,))


def test_forward_mode_checks_can_run_on_the_first_case_only():
    cases = registry.cases("identity")
    assert len(cases) > 1
    report = verify_op("identity", forward_mode_cases="first")
    with_jvp = {c.case for c in report.cases if _ran(Report((c,))) >= JVP_CHECKS}
    assert report.passed and with_jvp == {cases[0].label}
    with pytest.raises(ValueError, match=r"expected forward_mode_cases in .*got 'some'"):
        verify_op("identity", forward_mode_cases="some")
