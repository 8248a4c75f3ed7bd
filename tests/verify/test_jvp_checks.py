"""The forward-mode checks: a right JVP passes all three, a wrong one fails each of them, and the
adjoint test catches a wrong backward without autodiff."""

import jax
import jax.numpy as jnp
import pytest

from funcnet.core.registry import Arg
from funcnet.layers.dense import dense_op
from funcnet.losses.regression import mean_squared_error
from funcnet.verify import verify_op

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
    op = mean_squared_error()
    report = verify_op(op, (Arg((3, 2)), Arg((3, 2))))
    assert report.passed and not JVP_CHECKS & _ran(report)
    assert report.to_json()["ops"][0]["max_rel_err_jvp_autodiff"] is None
    x = jnp.ones((3, 2))
    with pytest.raises(NotImplementedError, match="mean_squared_error: has no hand-written JVP"):
        jax.jvp(lambda a: op(a, x, backward="manual_jvp"), (x,), (x,))
