"""Testing the tester: wrong backward passes must fail, naming the op, the leaf and the error."""

import jax.numpy as jnp
import pytest

from funcnet.core.registry import Arg
from funcnet.layers.dense import dense_op
from funcnet.verify import VerificationError, verify_op

SQUARE = (Arg((4, 4)), Arg((4, 4)), Arg((4,)))


def _dense_bwd(transpose_dw=False, drop_bias=False, scale_dx=1.0):
    def bwd(res, dy):
        x, w = res
        dw = x.T @ dy
        return (
            scale_dx * dy @ w.T,
            dw.T if transpose_dw else dw,
            jnp.zeros(dy.shape[-1:], dy.dtype) if drop_bias else dy.sum(0),
        )

    return bwd


@pytest.mark.parametrize(
    ("bug", "leaf"),
    [
        (dict(transpose_dw=True), "w"),
        (dict(drop_bias=True), "b"),
        (dict(scale_dx=1.001), "x"),  # a 0.1% error is still caught
    ],
)
def test_wrong_dense_backward_is_caught(bug, leaf):
    report = verify_op(dense_op().with_bwd(_dense_bwd(**bug)), SQUARE)
    assert not report.passed
    failed = {(e.check, e.path) for c in report.cases for e in c.errors if not e.passed}
    # the adjoint test (against the hand-written JVP) catches it too, without autodiff
    assert {p for check, p in failed if check != "adjoint"} == {leaf}
    assert "adjoint" in {check for check, _ in failed}
    with pytest.raises(VerificationError) as err:
        report.raise_if_failed()
    message = str(err.value)
    assert "op 'dense'" in message
    assert f"for '{leaf}'" in message
    assert "max rel err" in message


def test_the_correct_backward_passes_the_same_cases():
    verify_op(dense_op().with_bwd(_dense_bwd()), SQUARE).raise_if_failed()


def test_a_backward_returning_a_wrong_shape_is_reported_as_a_crash():
    bad = dense_op().with_bwd(lambda res, dy: (dy @ res[1].T, res[0].T @ dy, dy))  # db unsummed
    report = verify_op(bad, (Arg((5, 4)), Arg((4, 3)), Arg((3,))))
    assert not report.passed
    assert "op 'dense'" in report.cases[0].failures()[0]
    assert "raised" in report.cases[0].failures()[0]


def test_a_nan_gradient_fails():
    bad = dense_op().with_bwd(
        lambda res, dy: tuple(jnp.full_like(r, jnp.nan) for r in (*res, dy[0]))
    )
    assert not verify_op(bad, SQUARE).passed
