"""Weight decay two ways give the same SGD update: optax.add_decayed_weights and l2_penalty_tree.

∇(L + λ·½‖w‖²) = ∇L + λw, which is the term add_decayed_weights adds before the SGD step
(experiments/weight_decay.py prints the same comparison on iris).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet.layers import dense, serial, tanh
from funcnet.losses import l2_penalty_tree, softmax_cross_entropy_with_integer_labels

DECAY, LR = 0.05, 0.3
MODEL = serial(dense(5), tanh(), dense(3))


def _setup():
    _, params, state = MODEL.init(jax.random.key(0), (8, 4))
    x = jax.random.normal(jax.random.key(1), (8, 4))
    t = jax.random.randint(jax.random.key(2), (8,), 0, 3)
    return params, state, (x, t)


def _train(optimizer, penalty, steps, backward="manual"):
    params, state, (x, t) = _setup()
    ce = softmax_cross_entropy_with_integer_labels()

    def loss(p):
        value = ce(MODEL.apply(p, state, x, backward=backward)[0], t, backward=backward)
        return value if penalty is None else value + penalty(p, backward)

    opt_state = optimizer.init(params)
    for _ in range(steps):
        updates, opt_state = optimizer.update(jax.grad(loss)(params), opt_state, params)
        params = optax.apply_updates(params, updates)
    return params


def _assert_trees_close(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def _whole_tree(params, backward):
    return l2_penalty_tree(params, DECAY, backward=backward)


@pytest.mark.parametrize("backward", ["manual", "autodiff"])
@pytest.mark.parametrize("steps", [1, 5])
def test_decayed_weights_equal_l2_penalty_under_sgd(steps, backward):
    decayed = optax.chain(optax.add_decayed_weights(DECAY), optax.sgd(LR))
    with_optax = _train(decayed, None, steps)
    with_penalty = _train(optax.sgd(LR), _whole_tree, steps, backward)
    _assert_trees_close(with_optax, with_penalty)
    # and the decay did something measurable: the comparison is not vacuous
    no_decay = _train(optax.sgd(LR), None, steps)
    assert float(jnp.max(jnp.abs(with_optax[0].w - no_decay[0].w))) > 1e-3


def test_masked_decay_equals_penalty_on_the_weight_matrices_only():
    def weights_mask(params):
        return jax.tree_util.tree_map_with_path(lambda path, _: path[-1].name == "w", params)

    def weights_only(params, backward):
        return l2_penalty_tree([params[0].w, params[2].w], DECAY, backward=backward)

    masked = optax.chain(optax.add_decayed_weights(DECAY, mask=weights_mask), optax.sgd(LR))
    _assert_trees_close(_train(masked, None, 3), _train(optax.sgd(LR), weights_only, 3))


def test_under_adam_decoupled_decay_is_not_an_l2_penalty():
    adamw = _train(optax.adamw(0.1, weight_decay=DECAY), None, 5)
    adam_l2 = _train(optax.adam(0.1), _whole_tree, 5)
    assert float(jnp.max(jnp.abs(adamw[0].w - adam_l2[0].w))) > 1e-3
