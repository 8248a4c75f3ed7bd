"""NaN in gives NaN out, as in ``jax.nn``/``jnp``: every registered op, both backward paths.

For each sample case (float32) and each floating argument, one element is set to NaN:

* forward: the manual path's outputs are NaN exactly where the reference forward's are, and
  the reference's are NaN wherever an output *depends* on that element — where setting it to
  ``+1e3`` or ``−1e3`` instead changes the output (so ``relu`` of a NaN is NaN, as with
  ``jax.nn.relu``, not 0);
* backward: wherever JAX autodiff of the reference gives a NaN cotangent, the hand-written
  backward gives NaN too (it may give NaN in more places: a NaN times a zero weight is NaN).

The hand-written JVP (the ``manual_jvp`` path) is held to the same rule: wherever ``jax.jvp`` of
the reference gives a NaN tangent (along a tangent of ones), the hand-written JVP does too.

The backward is also checked with a NaN in the output cotangent ``dy``. An input NaN that an op
masks out by design (a padded time step, a key no query sees) leaves the outputs finite; a zero
gradient for it is then exact (autodiff's NaN there is its chain rule's ``0·NaN``), so the
backward comparison applies when the outputs or ``dy`` hold a NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.dtypes import float0

import funcnet  # noqa: F401  (registers every op)
from funcnet.core import registry
from funcnet.verify.sampling import draw_args, generators, is_differentiable, random_cotangent


def _nan(x: np.ndarray) -> np.ndarray:
    return np.isnan(np.asarray(x, np.float64))


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a), np.asarray(b)
    return ~((a == b) | (_nan(a) & _nan(b)))


def _probe(op):
    """One compiled function per case: outputs with a NaN input, the outputs with that element
    set to ±1e3, and both paths' cotangents."""

    def run(clean, poisoned, plus, minus, dy):
        ones = tuple(jnp.ones_like(a) if is_differentiable(a) else np.zeros(np.shape(a), float0)
                     for a in poisoned)  # fmt: skip
        _, jvp_manual = jax.jvp(op.manual_jvp, poisoned, ones)
        _, jvp_reference = jax.jvp(op.reference, poisoned, ones)
        y_manual, vjp_manual = jax.vjp(op.manual, *poisoned)
        y_reference = op.forward(*poisoned)
        # the backward is held to autodiff of the intended gradient (the gradient reference)
        _, vjp_reference = jax.vjp(op.reference, *poisoned)
        stacked = jax.tree.map(lambda *a: jnp.stack(a), clean, plus, minus)
        outputs = jax.vmap(op.forward)(*stacked)
        derivatives = vjp_manual(dy), vjp_reference(dy), jvp_manual, jvp_reference
        return y_manual, y_reference, outputs, *derivatives

    return jax.jit(run, compiler_options={"xla_backend_optimization_level": 0})


def _with(args: tuple, i: int, index: int, value: float) -> tuple:
    x = np.array(args[i])
    x.flat[index] = value
    return (*args[:i], jnp.asarray(x), *args[i + 1 :])


def _problems(run, args, i, index, dy) -> list[str]:
    poisoned = args if i is None else _with(args, i, index, np.nan)
    plus = args if i is None else _with(args, i, index, 1e3)
    minus = args if i is None else _with(args, i, index, -1e3)
    results = jax.device_get(run(args, poisoned, plus, minus, dy))  # numpy from here on
    y_manual, y_reference, outputs, g_manual, g_reference, t_manual, t_reference = results
    clean, up, down = (jax.tree.map(lambda y, j=j: y[j], outputs) for j in range(3))
    problems = []
    outputs = zip(*map(jax.tree.leaves, (y_manual, y_reference, clean, up, down)), strict=True)
    for k, (m, r, c, u, d) in enumerate(outputs):
        depends = _differs(u, c) | _differs(d, c)
        if (depends & ~_nan(r)).any():
            problems.append(f"reference output {k} finite where it depends on the NaN")
        if (_nan(m) != _nan(r)).any():
            problems.append(f"manual output {k} NaN elsewhere than the reference's")
    tangents = zip(jax.tree.leaves(t_manual), jax.tree.leaves(t_reference), strict=True)
    for k, (m, r) in enumerate(tangents):
        if i is not None and (_nan(r) & ~_nan(m)).any():
            problems.append(f"manual JVP of output {k} finite where autodiff's is NaN")
    nan_reached = any(_nan(y).any() for y in jax.tree.leaves(y_reference))
    if nan_reached or any(_nan(t).any() for t in jax.tree.leaves(dy)):
        for j, (m, r) in enumerate(zip(g_manual, g_reference, strict=True)):
            if m is not None and is_differentiable(r) and (_nan(r) & ~_nan(m)).any():
                problems.append(f"manual cotangent of argument {j} finite where autodiff's is NaN")
    return problems


@pytest.mark.parametrize("name", registry.op_names())
def test_nan_propagates_through_op(name):
    failures = []
    for case in registry.cases(name):
        rng_args, rng_dy = generators(0, 2)
        args = draw_args(case.args, rng_args, jnp.float32)
        run = _probe(case.op)
        dy = random_cotangent(rng_dy, jax.eval_shape(case.op.forward, *args))
        for i, a in enumerate(args):
            if is_differentiable(a):
                where = f"{case.label}, NaN in argument {i}"
                failures += [f"{where}: {p}" for p in _problems(run, args, i, a.size // 2, dy)]
        leaves, treedef = jax.tree.flatten(dy)
        for k, leaf in enumerate(leaves):
            poisoned = list(leaves)
            (poisoned[k],) = _with((leaf,), 0, leaf.size // 2, np.nan)
            nan_dy = jax.tree.unflatten(treedef, poisoned)
            where = f"{case.label}, NaN in dy[{k}]"
            failures += [f"{where}: {p}" for p in _problems(run, args, None, 0, nan_dy)]
    assert not failures, f"{name}: " + "; ".join(failures)


def test_activations_treat_nan_as_jax_nn_does():
    from funcnet.layers import activations as act

    x = jnp.array([[jnp.nan, -1.0, 0.0, 2.0]])
    pairs = [(act.relu_op(), jax.nn.relu), (act.leaky_relu_op(), jax.nn.leaky_relu),
             (act.elu_op(), jax.nn.elu), (act.gelu_op(True), jax.nn.gelu),
             (act.softplus_op(), jax.nn.softplus), (act.sigmoid_op(), jax.nn.sigmoid),
             (act.tanh_op(), jnp.tanh), (act.softmax_op(), jax.nn.softmax),
             (act.log_softmax_op(), jax.nn.log_softmax)]  # fmt: skip
    for op, reference in pairs:
        for backward in ("manual", "autodiff"):
            y = op(x, backward=backward)
            np.testing.assert_array_equal(np.isnan(y), np.isnan(reference(x)), err_msg=op.name)
