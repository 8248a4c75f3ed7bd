"""Ops with several outputs (a tuple): every output gets a cotangent and every check sees it."""

import jax.numpy as jnp

from funcnet.core.op import make_op
from funcnet.core.registry import Arg
from funcnet.verify import verify_op


def _scaled_and_summed(bwd_sum_scale: float = 1.0):
    """``x -> (2x, Σ_rows x)``: the backward adds the two outputs' contributions."""

    def forward(x):
        return 2.0 * x, jnp.sum(x, axis=0)

    def fwd(x):
        return forward(x), x.shape[0]

    def bwd(rows, dy):
        # dX = 2·dY₀ + 1 dY₁ (the row sum's cotangent broadcast back over the rows)
        d_scaled, d_summed = dy
        return (2.0 * d_scaled + bwd_sum_scale * jnp.broadcast_to(d_summed, d_scaled.shape),)

    return make_op("scaled_and_summed", forward, fwd, bwd)


def test_a_correct_tuple_output_op_passes_every_check():
    report = verify_op(_scaled_and_summed(), (Arg((3, 4)),), second_order=True)
    report.raise_if_failed()
    forward_paths = {e.path for c in report.cases for e in c.errors if e.check == "forward"}
    assert forward_paths == {"y[0]", "y[1]"}
    checks = {e.check for c in report.cases for e in c.errors}
    assert checks == {"no_autodiff", "forward", "autodiff", "finite_differences", "jit", "vmap",
                      "second_order"}  # fmt: skip


def test_a_wrong_contribution_from_the_second_output_is_caught():
    report = verify_op(_scaled_and_summed(bwd_sum_scale=0.0), (Arg((3, 4)),))
    assert not report.passed
    failed = {e.check for c in report.cases for e in c.errors if not e.passed}
    assert {"autodiff", "finite_differences"} <= failed
