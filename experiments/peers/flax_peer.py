"""Peers: the benchmark MLP and CNN in Flax, both APIs (linen and NNX), timed against funcnet.

Run: python experiments/peers/flax_peer.py [--rounds R --steps S --models mlp cnn]
(usually through run_peers.py). Both compute gradients with JAX autodiff, use optax SGD and
NHWC images, and donate parameters and optimizer state as funcnet's step does:

- linen: ``nn.Dense`` / ``nn.Conv`` / ``nn.max_pool``; ``jax.jit`` of a pure step
  (``value_and_grad`` → ``tx.update`` → ``apply_updates``).
- NNX: ``nnx.Linear`` / ``nnx.Conv``; ``nnx.jit`` of a step that updates the module and an
  ``nnx.Optimizer`` in place (NNX's per-call Python overhead is part of what is timed).

Weights are copied from funcnet's init.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from harness import LEARNING_RATE, Problem, run_peer, skip

from funcnet.bench.timing import step_runner

try:
    import flax
    from flax import linen as nn
    from flax import nnx
except ImportError as error:
    skip("flax", error)


def mean_cross_entropy(logits: jax.Array, t: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, t).mean()


class LinenMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(512)(x))
        x = nn.relu(nn.Dense(512)(x))
        return nn.Dense(10)(x)


class LinenCNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        for features in (32, 64):
            x = nn.relu(nn.Conv(features, (3, 3), padding="SAME")(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        return nn.Dense(10)(x.reshape(x.shape[0], -1))


def build_linen(problem: Problem):
    model = LinenMLP() if problem.name == "mlp" else LinenCNN()
    names = ["Dense_0", "Dense_1", "Dense_2"]
    if problem.name == "cnn":
        names = ["Conv_0", "Conv_1", "Dense_0"]
    params = {
        "params": {
            name: {"kernel": jnp.asarray(w), "bias": jnp.asarray(b)}
            for name, (w, b) in zip(names, problem.weights, strict=True)
        }
    }
    x, t = jnp.asarray(problem.x), jnp.asarray(problem.t)
    expected = jax.eval_shape(model.init, jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, expected) == jax.tree.map(jnp.shape, params)
    tx = optax.sgd(LEARNING_RATE)

    def loss_fn(params, x, t):
        return mean_cross_entropy(model.apply(params, x), t)

    def train_step(params, opt_state, x, t):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, t)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    initial_loss = float(loss_fn(params, x, t))
    step = jax.jit(train_step, donate_argnums=(0, 1))
    _, run_one = step_runner(step, (params, tx.init(params)), (x, t), warmup=0)
    return run_one, initial_loss


class NnxMLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.hidden1 = nnx.Linear(784, 512, rngs=rngs)
        self.hidden2 = nnx.Linear(512, 512, rngs=rngs)
        self.out = nnx.Linear(512, 10, rngs=rngs)

    def layers(self):
        return [self.hidden1, self.hidden2, self.out]

    def __call__(self, x):
        x = nnx.relu(self.hidden1(x))
        return self.out(nnx.relu(self.hidden2(x)))


class NnxCNN(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 32, (3, 3), padding="SAME", rngs=rngs)
        self.conv2 = nnx.Conv(32, 64, (3, 3), padding="SAME", rngs=rngs)
        self.out = nnx.Linear(7 * 7 * 64, 10, rngs=rngs)

    def layers(self):
        return [self.conv1, self.conv2, self.out]

    def __call__(self, x):
        for conv in (self.conv1, self.conv2):
            x = nnx.max_pool(nnx.relu(conv(x)), (2, 2), strides=(2, 2))
        return self.out(x.reshape(x.shape[0], -1))


def build_nnx(problem: Problem):
    model = (NnxMLP if problem.name == "mlp" else NnxCNN)(nnx.Rngs(0))
    for layer, (w, b) in zip(model.layers(), problem.weights, strict=True):
        assert layer.kernel.shape == w.shape and layer.bias.shape == b.shape
        layer.kernel.value, layer.bias.value = jnp.asarray(w), jnp.asarray(b)
    optimizer = nnx.Optimizer(model, optax.sgd(LEARNING_RATE), wrt=nnx.Param)
    x, t = jnp.asarray(problem.x), jnp.asarray(problem.t)

    def loss_fn(model, x, t):
        return mean_cross_entropy(model(x), t)

    @nnx.jit(donate_argnums=(0, 1))
    def train_step(model, optimizer, x, t):
        loss, grads = nnx.value_and_grad(loss_fn)(model, x, t)
        optimizer.update(model, grads)
        return loss

    initial_loss = float(loss_fn(model, x, t))
    return lambda: train_step(model, optimizer, x, t), initial_loss


if __name__ == "__main__":
    run_peer({"flax linen": build_linen, "flax nnx": build_nnx}, {"flax": flax.__version__})
