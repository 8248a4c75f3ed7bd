"""Intended gradients: an op whose backward is deliberately not the derivative of its forward,
held to the autodiff of its declared gradient reference (the contract of docs/design.md)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from funcnet.core.op import make_op
from funcnet.core.registry import Arg
from funcnet.verify import verify_op

STE = "surrogate: straight-through estimator, gradient 1 on |x| <= 1"
X = (Arg((3, 4), avoid=(-1.0, 1.0)),)  # the clip's kinks are where the surrogate switches


def _clip(x):
    return jnp.clip(x, -1.0, 1.0)


def _sign_ste(clip_range=1.0, mask=True):
    """sign (0 maps to +1) with the straight-through estimator; the bugs are planted here."""

    def forward(x):
        return jnp.where(x >= 0, 1.0, -1.0).astype(x.dtype)

    def reference(x):
        return _clip(x) + lax.stop_gradient(forward(x) - _clip(x))

    def fwd(x):
        return forward(x), (x,)

    def bwd(res, dy):
        # dx = dy ⊙ 1[|x| ≤ 1]
        (x,) = res
        return (jnp.where(jnp.abs(x) <= clip_range, dy, 0.0) if mask else dy,)

    return make_op(
        "sign_ste", forward, fwd, bwd, gradient=STE, gradient_reference=reference,
        finite_differences=_clip,
    )  # fmt: skip


def test_a_straight_through_sign_passes_and_says_which_gradient_it_computes():
    report = verify_op(_sign_ste(), X, second_order=True).raise_if_failed()
    checks = {e.check for c in report.cases for e in c.errors}
    assert {"no_autodiff", "forward", "autodiff", "finite_differences", "jit", "vmap"} <= checks
    forward_paths = {e.path for c in report.cases for e in c.errors if e.check == "forward"}
    assert forward_paths == {"y", "y of gradient_reference"}
    summary = report.to_json()["ops"][0]
    assert summary["gradient"] == STE and summary["notes"] == []
    assert STE in report.table()


@pytest.mark.parametrize("bug", [dict(clip_range=0.5), dict(mask=False)])
def test_a_planted_bug_in_a_straight_through_backward_is_caught(bug):
    report = verify_op(_sign_ste(**bug), X)
    failed = {(e.check, e.path) for c in report.cases for e in c.errors if not e.passed}
    assert {("autodiff", "x"), ("finite_differences", "x")} <= failed
    message = report.cases[0].failures()[0]
    assert "op 'sign_ste'" in message and "for 'x'" in message


def test_the_autodiff_path_runs_the_gradient_reference():
    op = _sign_ste()
    x = jnp.array([-1.5, -0.5, 0.0, 0.25, 0.75, 2.0])
    dy = jnp.arange(1.0, 7.0)
    for backward in ("manual", "autodiff"):
        y, pullback = jax.vjp(lambda v, b=backward: op(v, backward=b), x)
        np.testing.assert_array_equal(y, [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0])
        np.testing.assert_array_equal(pullback(dy)[0], [0.0, 2.0, 3.0, 4.0, 5.0, 0.0])
    # the true forward alone has a zero derivative almost everywhere
    np.testing.assert_array_equal(jax.grad(lambda v: jnp.vdot(op.forward(v), dy))(x), 0.0)


def test_an_op_that_declares_why_finite_differences_do_not_apply_reports_it():
    reason = "the forward is piecewise constant and no smooth function is declared"
    op = _sign_ste()
    op = make_op(op.name, op.forward, op.fwd, op.bwd, gradient=op.gradient,
                 gradient_reference=op.gradient_reference, finite_differences=reason)  # fmt: skip
    report = verify_op(op, X).raise_if_failed()
    assert "finite_differences" not in {e.check for c in report.cases for e in c.errors}
    note = f"finite differences do not apply: {reason}"
    assert report.to_json()["ops"][0]["notes"] == [note]
    assert note in report.table()


def _truncated_decay(truncate: int, cut_in_bwd: bool = True):
    """``h_t = h_{t-1}/2 + m_t x_t`` over ``x [B, T]`` with an integer mask, outputs
    ``(hs, h_T)``; the gradient through the state is cut before every ``truncate``-th step."""

    def scan(x, mask, cut):
        def body(h, inp):
            x_t, m_t, t = inp
            h = jnp.where(cut & (t > 0) & (t % truncate == 0), lax.stop_gradient(h), h)
            h = 0.5 * h + m_t * x_t
            return h, h

        steps = jnp.arange(x.shape[-1])
        h_last, hs = lax.scan(body, jnp.zeros(x.shape[:-1], x.dtype), (x.T, mask.T, steps))
        return hs.T, h_last

    def fwd(x, mask):
        return scan(x, mask, False), (mask,)

    def bwd(res, dy):
        # dh_{t-1} = dh_t / 2 (zero at a cut), dx_t = m_t dh_t
        (mask,) = res
        dhs, dh_last = dy

        def body(dh, inp):
            dout, m_t, t = inp
            dh = dh + dout
            dx_t = m_t * dh
            cut = cut_in_bwd & (t > 0) & (t % truncate == 0)
            return jnp.where(cut, 0.0, 0.5 * dh), dx_t

        steps = jnp.arange(mask.shape[-1])
        _, dx = lax.scan(body, dh_last, (dhs.T, mask.T.astype(dhs.dtype), steps), reverse=True)
        return dx.T, None

    return make_op(
        "truncated_decay", lambda x, m: scan(x, m, False), fwd, bwd,
        gradient=f"surrogate: truncated BPTT, the state's gradient cut every {truncate} steps",
        gradient_reference=lambda x, m: scan(x, m, True),
        finite_differences="truncated BPTT is not the derivative of any function of the inputs",
    )  # fmt: skip


SEQUENCE = (Arg((2, 5)), Arg((2, 5), kind="int", high=2))


def test_a_sequence_op_with_several_outputs_and_an_integer_mask_uses_the_contract():
    report = verify_op(_truncated_decay(2), SEQUENCE).raise_if_failed()
    forward_paths = {e.path for c in report.cases for e in c.errors if e.check == "forward"}
    assert forward_paths == {"y[0]", "y[1]", "y[0] of gradient_reference",
                             "y[1] of gradient_reference"}  # fmt: skip
    assert {e.path for c in report.cases for e in c.errors if e.check == "autodiff"} == {"x"}
    assert report.cases[0].notes[0].startswith("finite differences do not apply: truncated BPTT")


def test_a_truncated_backward_that_does_not_truncate_is_caught():
    report = verify_op(_truncated_decay(2, cut_in_bwd=False), SEQUENCE)
    failed = {(e.check, e.path) for c in report.cases for e in c.errors if not e.passed}
    assert failed == {("autodiff", "x")}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(gradient="surrogate: ste"), ValueError, "expected gradient_reference"),
        (dict(gradient_reference=_clip, finite_differences=_clip), ValueError, "surrogate: <"),
        (dict(gradient=STE, gradient_reference=_clip), ValueError, "expected finite_differences"),
        (dict(gradient=STE, gradient_reference=1.0, finite_differences=_clip), TypeError, "call"),
        (dict(finite_differences=_clip), ValueError, "only with a gradient_reference"),
    ],
)
def test_an_incomplete_intended_gradient_is_an_error_naming_the_op(kwargs, error, match):
    op = _sign_ste()
    with pytest.raises(error, match=match) as raised:
        make_op("sign_ste", op.forward, op.fwd, op.bwd, **kwargs)
    assert "make_op('sign_ste')" in str(raised.value)


def test_with_bwd_keeps_the_intended_gradient():
    op = _sign_ste()
    other = op.with_bwd(_sign_ste(mask=False).bwd)
    assert (other.gradient, other.gradient_reference, other.finite_differences) == (
        op.gradient,
        op.gradient_reference,
        op.finite_differences,
    )
    assert other.reference is op.gradient_reference and _sign_ste().forward is not other.reference
