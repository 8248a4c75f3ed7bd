"""The decoupled network's one-grad objective: BP(λ = 1) is backprop, λ = 0 is DNI."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.dni import decoupled_mlp, decoupled_objective, init_decoupled
from funcnet.dni.agreement import true_and_synthetic_gradients

X = jax.random.normal(jax.random.key(1), (6, 4))
LABELS = jnp.array([0, 1, 2, 0, 1, 2])


def initialised(model, scale=0.3):
    """Parameters with non-zero predictors (theirs start at zero), made in one compiled call
    (eagerly, each small random op would compile on its own)."""

    @jax.jit
    def make(key):
        leaves, tree = jax.tree.flatten(init_decoupled(model, key, X.shape))
        keys = jax.random.split(jax.random.key(2), len(leaves))
        noise = [scale * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys, strict=True)]
        return jax.tree.unflatten(tree, [a + n for a, n in zip(leaves, noise, strict=True)])

    return make(jax.random.key(0))


PARAMS = initialised(decoupled_mlp((5, 5), 3))  # shared: every (5, 5) model here has this tree


def grads(model, params, labels=LABELS):
    return _grad(model, params, labels)


@functools.partial(jax.jit, static_argnums=0)
def _grad(model, params, labels):
    return jax.grad(lambda p: decoupled_objective(model, p, X, labels)[0])(params)


def test_bp_lambda_one_is_backprop_exactly():
    model, params = decoupled_mlp((5, 5), 3, bp_lambda=1.0), PARAMS
    g = grads(model, params)

    def plain(modules):
        h = X
        for k, module in enumerate(model.modules):
            h = module.apply(modules[k], ((), ()) if k < 2 else (), h)[0]
        return model.loss(h, LABELS)

    expected = jax.jit(jax.grad(plain))(params.modules)
    for a, b in zip(jax.tree.leaves(g.modules), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert all(float(jnp.abs(q).max()) == 0 for q in jax.tree.leaves(g.predictors))


def test_dni_updates_a_module_from_its_synthetic_gradient_only():
    model, params = decoupled_mlp((5, 5), 3), PARAMS
    g = grads(model, params)
    other_labels = grads(model, params, labels=LABELS[::-1])  # a different loss entirely
    for a, b in zip(jax.tree.leaves(g.modules[0]), jax.tree.leaves(other_labels.modules[0]),
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(g.modules[2].w, other_labels.modules[2].w)
    # the last predictor regresses onto the true gradient at its interface: mean ½‖ĝ − t‖²
    true, _ = jax.jit(true_and_synthetic_gradients, static_argnums=0)(model, params, X, LABELS)
    last = model.predictors[1]

    def mse(q):
        g_hat = last.apply(q, (), _h(model, params))[0]
        return 0.5 * jnp.mean(jnp.sum((g_hat - true[1]) ** 2, -1))

    expected = jax.grad(mse)(params.predictors[1])
    for a, b in zip(jax.tree.leaves(g.predictors[1]), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def _h(model, params):
    h = X
    for k in range(2):
        h = model.modules[k].apply(params.modules[k], ((), ()), h)[0]
    return h
