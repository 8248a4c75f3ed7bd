"""Every op that declares per-example norms: on one registered case, each entry equals the
squared norm of that argument's cotangent from the op's own backward on each example alone."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import funcnet  # noqa: F401  (registers every op)
from funcnet.core.registry import cases, op_names
from funcnet.verify.sampling import draw_args

WITH_NORMS = [name for name in op_names() if cases(name)[0].op.per_example_norms is not None]


def _first_batched_case(name):
    """A registered case whose first argument has a leading example axis of size ≥ 2."""
    for case in cases(name):
        if len(case.args[0].shape) >= 2 and case.args[0].shape[0] >= 2:
            return case
    raise AssertionError(f"{name}: no registered case with a leading example axis")


def test_the_ops_with_parameters_declare_norms():
    expected = {"dense", "conv1d", "conv2d", "conv3d", "embedding", "layer_norm", "rms_norm"}
    assert expected | {"add_positions"} <= set(WITH_NORMS)


@pytest.mark.parametrize("name", WITH_NORMS)
def test_per_example_norms_equal_the_backward_on_each_example(x64, name):
    case = _first_batched_case(name)
    op = case.op
    args = draw_args(case.args, np.random.default_rng(0), jnp.float64)

    @jax.jit
    def both(args, dy):
        norms = op.per_example_norms(op.fwd(*args)[1], dy)

        def one(xi, dyi):  # the backward on a batch of one example
            cotangents = op.bwd(op.fwd(xi[None], *args[1:])[1], dyi[None])
            return [None if c is None else jnp.sum(c * c) for c in cotangents]

        return norms, jax.vmap(one)(args[0], dy)

    y = jax.eval_shape(op.forward, *args)
    dy = jax.random.normal(jax.random.key(1), y.shape, y.dtype)
    norms, expected = both(args, dy)
    checked = [k for k, n in enumerate(norms) if n is not None]
    assert checked
    for k in checked:
        np.testing.assert_allclose(norms[k], expected[k], rtol=1e-12, err_msg=f"argument {k}")
