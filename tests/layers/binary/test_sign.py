"""The sign quantisers' conventions, bad input and planted bugs in the straight-through backward
(their intended gradients are checked by the registry: tests/core/test_registry.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.core.registry import Arg
from funcnet.layers.binary import dorefa_op, ste_sign_op, ste_ternary_op
from funcnet.verify import verify_op

X = (Arg((3, 4), avoid=(-1.0, 0.0, 1.0)),)


def test_sign_maps_zero_to_plus_one_and_keeps_nan():
    x = jnp.array([-2.0, -0.0, 0.0, 0.5, jnp.nan])
    np.testing.assert_array_equal(ste_sign_op()(x), [-1.0, 1.0, 1.0, 1.0, jnp.nan])
    np.testing.assert_array_equal(ste_ternary_op(0.3)(x), [-1.0, 0.0, 0.0, 1.0, jnp.nan])


def test_ste_gradient_is_one_inside_the_clip_range_only():
    x = jnp.array([-1.5, -0.4, 0.2, 0.6, 1.2])
    dx = jax.grad(lambda v: jnp.sum(ste_sign_op(0.5)(v) * jnp.arange(1.0, 6.0)))(x)
    np.testing.assert_array_equal(dx, [0.0, 2.0, 3.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("bug", "what"),
    [(lambda x, dy: jnp.where(jnp.abs(x) <= 0.5, dy, 0.0), "wrong clip range"),
     (lambda x, dy: dy, "missing mask")],
)  # fmt: skip
def test_a_planted_bug_in_the_registered_straight_through_backward_is_caught(bug, what):
    planted = ste_sign_op().with_bwd(lambda res, dy: (bug(res[0], dy),))
    report = verify_op(planted, X)
    failed = {(e.check, e.path) for c in report.cases for e in c.errors if not e.passed}
    assert ("autodiff", "x") in failed, what
    assert ("finite_differences", "x") in failed, what
    message = report.cases[0].failures()[0]
    assert "op 'ste_sign'" in message and "for 'x'" in message


def test_bad_input_names_the_quantiser():
    with pytest.raises(ValueError, match=r"^ste_sign: expected a floating-point input, got dtype"):
        ste_sign_op()(jnp.arange(3))
    with pytest.raises(ValueError, match=r"^dorefa: expected num_bits to be a positive integer"):
        dorefa_op(0)
    with pytest.raises(TypeError, match=r"^dorefa: expected num_bits to be a positive integer"):
        dorefa_op(2.0)
    with pytest.raises(ValueError, match=r"^ste_sign: expected clip_value to be positive"):
        ste_sign_op(0.0)
