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
    expected |= {"rnn", "gru", "lstm", "rnn_cell", "gru_cell", "lstm_cell", "lif", "rlif"}
    expected |= {"leaky_integrator", "group_norm", "conv_transpose1d", "conv_transpose2d"}
    expected |= {"batch_norm_eval"}
    assert expected | {"add_positions"} <= set(WITH_NORMS)


@pytest.mark.parametrize("name", WITH_NORMS)
def test_per_example_norms_equal_the_backward_on_each_example(x64, name):
    """The backward is linear in ``dy`` and examples do not interact, so the backward given
    ``dy`` on example ``i`` alone (zero elsewhere) returns example ``i``'s parameter gradient:
    one compiled function gives both (an op's ``bwd_with_norms`` if it has one)."""
    case = _first_batched_case(name)
    op = case.op
    args = draw_args(case.args, np.random.default_rng(0), jnp.float64)
    y = jax.eval_shape(op.forward, *args)
    rng = np.random.default_rng(1)
    dy = jax.tree.map(lambda s: rng.standard_normal(s.shape), y)

    @jax.jit
    def backward(args, dy):
        res = op.fwd(*args)[1]
        if op.bwd_with_norms is not None:
            return op.bwd_with_norms(res, dy)
        return op.bwd(res, dy), op.per_example_norms(res, dy)

    norms = backward(args, dy)[1]
    checked = [k for k, n in enumerate(norms) if n is not None]
    assert checked
    for i in range(len(norms[checked[0]])):  # numpy outside the compiled call: no compiles
        alone = jax.tree.map(lambda d, i=i: np.where(np.arange(len(d)) == i, d.T, 0).T, dy)
        cotangents = backward(args, alone)[0]
        for k in checked:
            expected = np.sum(np.asarray(cotangents[k]) ** 2)
            np.testing.assert_allclose(norms[k][i], expected, rtol=1e-12, err_msg=f"arg {k}")
