"""The runtime guard: a backward that reaches JAX autodiff by any path fails, naming the op."""

import types

import jax
import jax.numpy as jnp
import pytest

from funcnet.core.op import make_op
from funcnet.core.registry import Arg
from funcnet.verify import verify_op
from funcnet.verify.autodiff_guard import autodiff_forbidden

# A helper module that binds autodiff at import time, out of reach of a patch of `jax.vjp`.
HELPERS = types.ModuleType("planted_helpers")
exec(  # a module body written out, so that its import-time bindings are real
    """
import jax
from jax import linear_transpose, vjp

def cube_pullback(x, dy):
    return vjp(lambda x: x ** 3, x)[1](dy)[0]

def transposed_scale(x, dy):
    return linear_transpose(lambda t: 3.0 * x ** 2 * t, x)(dy)[0]

@jax.jit
def jitted_cube_pullback(x, dy):
    return vjp(lambda x: x ** 3, x)[1](dy)[0]
""",
    HELPERS.__dict__,
)


def _cube_op(name, pullback):
    def forward(x):
        return x**3

    def fwd(x):
        return forward(x), (x,)

    def bwd(res, dy):
        # dx = 3 x² ⊙ dy
        (x,) = res
        return (pullback(x, dy),)

    return make_op(name, forward, fwd, bwd)


def _guard_failures(op):
    report = verify_op(op, (Arg((3, 2)),))
    return report, [e for c in report.cases for e in c.errors if e.check == "no_autodiff"]


@pytest.mark.parametrize(
    ("pullback", "called"),
    [
        (HELPERS.cube_pullback, "linearization"),  # `from jax import vjp` in a helper module
        (HELPERS.transposed_scale, "transposition"),  # jax.linear_transpose
        (lambda x, dy: jax.grad(lambda x: jnp.vdot(x**3, dy))(x), "linearization"),
        (lambda x, dy: jax.jvp(lambda x: x**3, (x,), (dy,))[1], "JVP trace"),
    ],
)
def test_a_backward_calling_autodiff_fails_naming_the_op(pullback, called):
    report, guard = _guard_failures(_cube_op("planted_cube", pullback))
    assert not report.passed
    assert [e.passed for e in guard] == [False]
    message = report.cases[0].failures()[0]
    assert "op 'planted_cube'" in message and "no_autodiff check failed for 'bwd'" in message
    assert "calls JAX autodiff" in message and called in message
    # the values are right: only the guard fails
    assert {e.check for c in report.cases for e in c.errors if not e.passed} == {"no_autodiff"}


def test_the_helper_line_is_named():
    _, guard = _guard_failures(_cube_op("planted_cube", HELPERS.cube_pullback))
    assert "(in cube_pullback)" in guard[0].note


def test_a_helper_compiled_earlier_is_traced_again_under_the_guard():
    # jit caches the helper's trace; the guard's fresh trace context forces a new trace.
    x = jnp.ones((3, 2))
    HELPERS.jitted_cube_pullback(x, x)
    with jax.enable_x64(True):
        HELPERS.jitted_cube_pullback(x.astype(jnp.float64), x.astype(jnp.float64))
    _, guard = _guard_failures(_cube_op("planted_cube", HELPERS.jitted_cube_pullback))
    assert [e.passed for e in guard] == [False]


def test_a_hand_written_backward_passes_the_guard():
    report, guard = _guard_failures(_cube_op("cube", lambda x, dy: 3.0 * x**2 * dy))
    report.raise_if_failed()
    assert [(e.path, e.passed) for e in guard] == [("bwd", True)]


def test_the_guard_is_lifted_afterwards():
    with pytest.raises(RuntimeError, match="linearization"), autodiff_forbidden():
        jax.grad(jnp.sin)(1.0)
    assert jax.grad(jnp.sin)(0.0) == 1.0
