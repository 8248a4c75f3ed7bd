"""A layer on the ``backward="manual_jvp"`` path against autodiff: forward mode (``jax.jvp``,
``jax.jacfwd``) runs the ops' hand-written JVPs, reverse mode (``jax.grad``) JAX's transpose of
them; both must equal plain autodiff through the reference forwards (float64, 1e-10)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.core.layer import Layer, Shape


def _random_like(key: jax.Array, tree):
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    return treedef.unflatten(
        [jax.random.normal(k, a.shape, a.dtype) for k, a in zip(keys, leaves, strict=True)]
    )


def assert_manual_jvp_path_matches_autodiff(layer: Layer, input_shape: Shape, train=False):
    """``jax.jvp``, ``jax.jacfwd`` and ``jax.grad`` of ``layer``'s output with respect to its
    parameters and input agree between ``backward="manual_jvp"`` and ``"autodiff"``."""
    with jax.enable_x64(True):
        _, params, state = layer.init(jax.random.key(0), input_shape)
        keys = jax.random.split(jax.random.key(1), 4)
        params = jax.tree.map(lambda p, r: p + 0.3 * r, params, _random_like(keys[0], params))
        x = jax.random.normal(keys[1], input_shape, jnp.float64)
        tangents = (_random_like(keys[2], params), jax.random.normal(keys[3], x.shape, x.dtype))

        @functools.partial(jax.jit, static_argnums=0)  # one compile, not one per primitive
        def derivatives(backward):
            def f(p, x):
                return layer.apply(p, state, x, train=train, backward=backward)[0]

            def loss(p, x):
                return jnp.sum(jnp.sin(f(p, x)))

            return (
                jax.jvp(f, (params, x), tangents),
                jax.jacfwd(f, argnums=(0, 1))(params, x),
                jax.grad(loss, argnums=(0, 1))(params, x),
            )

        manual, reference = derivatives("manual_jvp"), derivatives("autodiff")
        for a, b in zip(jax.tree.leaves(manual), jax.tree.leaves(reference), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
