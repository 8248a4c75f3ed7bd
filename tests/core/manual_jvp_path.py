"""A function of ops on the ``backward="manual_jvp"`` path against autodiff, at given arguments:
forward mode (``jax.jvp``, ``jax.jacfwd``) runs the hand-written JVPs, reverse mode
(``jax.grad``) JAX's transpose of them; both must equal autodiff of the references (float64,
1e-10). For what tests/layers/forward_mode.py does not cover: losses, ops taking integer or key
arguments (labels, ids, a dropout key), which are held fixed."""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


def assert_manual_jvp_matches_autodiff(fn: Callable, *args) -> None:
    """``jax.jvp``, ``jax.jacfwd`` and ``jax.grad`` of ``fn(*args, backward=...)`` with respect
    to its floating-point arguments (float64 arrays) agree between ``"manual_jvp"`` and
    ``"autodiff"``."""
    diff = [i for i, a in enumerate(args) if jnp.issubdtype(jnp.result_type(a), jnp.floating)]
    primals = tuple(args[i] for i in diff)
    rng = np.random.default_rng(0)
    tangents = tuple(jnp.asarray(rng.standard_normal(np.shape(p))) for p in primals)

    @functools.partial(jax.jit, static_argnums=0)  # one compile per path
    def derivatives(backward):
        def f(*floats):
            full = list(args)
            for i, a in zip(diff, floats, strict=True):
                full[i] = a
            return fn(*full, backward=backward)

        def loss(*floats):
            return sum(jnp.sum(jnp.sin(y)) for y in jax.tree.leaves(f(*floats)))

        argnums = tuple(range(len(primals)))
        return (
            jax.jvp(f, primals, tangents),
            jax.jacfwd(f, argnums=argnums)(*primals),
            jax.grad(loss, argnums=argnums)(*primals),
        )

    manual, reference = derivatives("manual_jvp"), derivatives("autodiff")
    for a, b in zip(jax.tree.leaves(manual), jax.tree.leaves(reference), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
