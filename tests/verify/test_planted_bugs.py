"""Testing the tester: wrong backward passes must fail, naming the op, the leaf and the error."""

import jax
import jax.numpy as jnp
import pytest

from funcnet.core.layer import Layer
from funcnet.core.registry import Arg
from funcnet.layers.combinators import serial
from funcnet.layers.dense import DenseParams, dense, dense_op
from funcnet.losses import mean_squared_error
from funcnet.verify import VerificationError, verify_model, verify_op

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
    failed = {e.path for c in report.cases for e in c.errors if not e.passed}
    assert failed == {leaf}
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


def _layer_with(op):
    base = dense(3)

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        return op(x, params.w, params.b, backward=backward), state

    return Layer("buggy_dense", base.init, apply)


def test_verify_model_names_the_parameter_leaf_of_a_planted_bug():
    buggy = _layer_with(dense_op().with_bwd(_dense_bwd(transpose_dw=True)))
    model = serial(dense(3), buggy)
    _, params, state = model.init(jax.random.key(0), (6, 3))
    batch = (jax.random.normal(jax.random.key(1), (6, 3)), jnp.zeros((6, 3)))
    report = verify_model(model, params, state, batch, mean_squared_error())
    failed = {e.path for e in report.cases[0].errors if not e.passed}
    assert failed == {"[1].w"}  # the buggy layer's dx is right, so layer 0 stays correct
    with pytest.raises(VerificationError, match=r"\[1\]\.w"):
        report.raise_if_failed()


def test_verify_model_passes_a_correct_model():
    model = serial(dense(5), dense(2))
    _, params, state = model.init(jax.random.key(0), (4, 3))
    batch = (jax.random.normal(jax.random.key(1), (4, 3)), jnp.ones((4, 2)))
    report = verify_model(model, params, state, batch, mean_squared_error()).raise_if_failed()
    paths = {e.path for e in report.cases[0].errors}
    assert {"[0].w", "[0].b", "[1].w", "[1].b"} <= paths
    assert report.cases[0].max_rel_err("autodiff") <= 1e-10
    assert isinstance(params[0], DenseParams)
