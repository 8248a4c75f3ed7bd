"""The digits MLP trained twice from one initialisation: hand-written vs autodiff gradients.

Run: python experiments/manual_vs_autodiff_digits.py [--epochs 20]
Reports (1) the largest relative difference between the two gradients, leaf by leaf, along
the manual run's trajectory, (2) the largest difference between the two runs' losses, and
(3) the training-step time of each, measured in alternating rounds in this one process.
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import funcnet as fn

BATCH = 32


def grad_fn(model, loss, backward):
    def value(params, state, x, t):
        return loss(model.apply(params, state, x, backward=backward)[0], t, backward=backward)

    return jax.jit(jax.grad(value))


def main(epochs: int) -> None:
    train, test = fn.data.digits()
    model = fn.mlp((256, 256), 10)
    loss = fn.softmax_cross_entropy_with_integer_labels()
    opt = optax.adam(1e-3)
    _, params, state = model.init(jax.random.key(0), (BATCH, 64))
    grads = {b: grad_fn(model, loss, b) for b in ("manual", "autodiff")}
    steps = {b: fn.make_train_step(model, loss, opt, backward=b, donate=False) for b in grads}

    runs = {b: [params, state, opt.init(params)] for b in grads}
    losses = {b: [] for b in grads}
    grad_rel_diff, times = [], {b: [] for b in grads}
    key = jax.random.key(1)
    for epoch in range(epochs):
        key, order = jax.random.split(key)
        for i, (x, t) in enumerate(fn.data.batches(train, BATCH, key=order, drop_remainder=True)):
            if i % 10 == 0:  # compare the two gradients at the manual run's current point
                p = runs["manual"][0]
                gm, ga = grads["manual"](p, state, x, t), grads["autodiff"](p, state, x, t)
                grad_rel_diff.append(max(
                    float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
                    for a, b in zip(jax.tree.leaves(gm), jax.tree.leaves(ga), strict=True)
                ))  # fmt: skip
            order_of_runs = list(grads) if (epoch + i) % 2 == 0 else list(grads)[::-1]
            for b in order_of_runs:
                start = time.perf_counter()
                *runs[b], metrics = steps[b](*runs[b], (x, t), None)
                losses[b].append(float(metrics["loss"]))  # float() waits for the step
                times[b].append(time.perf_counter() - start)

    eval_step = fn.make_eval_step(model, loss)
    acc = {b: fn.train.evaluate(eval_step, runs[b][0], state, test, 256)["accuracy"] for b in runs}
    loss_diff = np.max(np.abs(np.array(losses["manual"]) - np.array(losses["autodiff"])))
    ms = {b: 1e3 * statistics.median(v[10:]) for b, v in times.items()}
    print(f"steps: {len(losses['manual'])} per run, {epochs} epochs")
    print(f"max relative gradient difference (float32): {max(grad_rel_diff):.2e}")
    print(f"max |loss_manual - loss_autodiff| over the trajectory: {loss_diff:.2e}")
    print(f"final losses: manual {losses['manual'][-1]:.5f}, autodiff {losses['autodiff'][-1]:.5f}")
    print(f"test accuracy: manual {acc['manual']:.4f}, autodiff {acc['autodiff']:.4f}")
    print(f"median step time: manual {ms['manual']:.3f} ms, autodiff {ms['autodiff']:.3f} ms, "
          f"ratio autodiff/manual {ms['autodiff'] / ms['manual']:.2f}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    main(parser.parse_args().epochs)
