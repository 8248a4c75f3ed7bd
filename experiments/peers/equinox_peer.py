"""Peer: the benchmark MLP and CNN in Equinox, timed against funcnet.

Run: python experiments/peers/equinox_peer.py [--rounds R --steps S --models mlp cnn]
(usually through run_peers.py). Idiomatic Equinox: ``eqx.nn.Sequential`` of layers that see
one example (CHW for images) and ``jax.vmap`` over the batch; ``eqx.filter_value_and_grad``,
optax SGD, ``eqx.filter_jit`` with the model and optimizer state donated as funcnet's step
donates its own. Weights are copied from funcnet's init.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from harness import LEARNING_RATE, Problem, channels_first_head, run_peer, skip

try:
    import equinox as eqx
except ImportError as error:
    skip("equinox", error)


def equinox_model(problem: Problem) -> eqx.nn.Sequential:
    """The network with funcnet's initial weights (converted to Equinox's layout)."""
    keys = jax.random.split(jax.random.key(0), 3)
    relu = eqx.nn.Lambda(jax.nn.relu)
    (w1, b1), (w2, b2), (w3, b3) = problem.weights
    if problem.name == "mlp":
        model = eqx.nn.Sequential([
            eqx.nn.Linear(784, 512, key=keys[0]), relu,
            eqx.nn.Linear(512, 512, key=keys[1]), relu,
            eqx.nn.Linear(512, 10, key=keys[2]),
        ])  # fmt: skip
        weights = [w1.T, b1, w2.T, b2, w3.T, b3]
    else:
        model = eqx.nn.Sequential([
            eqx.nn.Conv2d(1, 32, 3, padding=1, key=keys[0]), relu, eqx.nn.MaxPool2d(2, 2),
            eqx.nn.Conv2d(32, 64, 3, padding=1, key=keys[1]), relu, eqx.nn.MaxPool2d(2, 2),
            eqx.nn.Lambda(jnp.ravel), eqx.nn.Linear(7 * 7 * 64, 10, key=keys[2]),
        ])  # fmt: skip
        hwio_to_oihw = (3, 2, 0, 1)
        weights = [
            w1.transpose(hwio_to_oihw), b1.reshape(-1, 1, 1),
            w2.transpose(hwio_to_oihw), b2.reshape(-1, 1, 1),
            channels_first_head(w3).T, b3,
        ]  # fmt: skip

    def trainable(m):
        layers = [layer for layer in m.layers if isinstance(layer, (eqx.nn.Linear, eqx.nn.Conv))]
        return [array for layer in layers for array in (layer.weight, layer.bias)]

    shapes = [a.shape for a in trainable(model)]
    assert shapes == [w.shape for w in weights], (shapes, [w.shape for w in weights])
    return eqx.tree_at(trainable, model, [jnp.asarray(w) for w in weights])


def build_equinox(problem: Problem):
    model = equinox_model(problem)
    x = jnp.asarray(problem.x if problem.name == "mlp" else problem.x.transpose(0, 3, 1, 2))
    t = jnp.asarray(problem.t)
    optimizer = optax.sgd(LEARNING_RATE)

    def loss_fn(model, x, t):
        return optax.softmax_cross_entropy_with_integer_labels(jax.vmap(model)(x), t).mean()

    @eqx.filter_jit(donate="all-except-first")
    def train_step(batch, model, opt_state):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, *batch)
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    carry = [model, optimizer.init(eqx.filter(model, eqx.is_array))]

    def run_one():
        carry[0], carry[1], loss = train_step((x, t), *carry)
        return loss

    return run_one, float(loss_fn(model, x, t))


if __name__ == "__main__":
    run_peer({"equinox": build_equinox}, {"equinox": eqx.__version__})
