"""Training by forward gradients (Baydin et al. 2022, "Gradients without backpropagation").

Run: python experiments/forward_gradient.py [--steps 3000] [--seeds 0 1 2]

Each step draws a direction ``v ~ N(0, I)`` over all parameters and takes one JVP of the loss
along it on the ``backward="manual_jvp"`` path (the hand-written JVPs, no backward pass):
``g = ⟨∇f, v⟩ v``, an unbiased estimate of the gradient (``E[v vᵀ] = I``). SGD on ``g`` is
compared with SGD on the true gradient (the hand-written backward) for the digits MLP 64-32-10
(2,410 parameters), same batch size and learning-rate schedule per method, each method at its
own learning rate picked from a small grid on seed 0 (the forward gradient's variance grows
with the parameter count, so it wants a smaller rate). Reports test accuracy at checkpoints
over the steps, mean ± sd over seeds, and the time per step of each.
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu

import funcnet as fn

BATCH, HIDDEN = 64, (32,)
RATES = {"backprop": (0.1, 0.3), "forward gradient": (0.003, 0.01, 0.03)}


def gradient_fn(method: str, model, loss, state):
    """``(params, x, t, key) -> gradient estimate`` for ``method``."""

    def objective(backward):
        return lambda p, x, t: loss(model.apply(p, state, x, backward=backward)[0], t,
                                    backward=backward)  # fmt: skip

    if method == "backprop":
        grad = jax.grad(objective("manual"))
        return lambda p, x, t, key: grad(p, x, t)

    def forward_gradient(p, x, t, key):
        v = otu.tree_random_like(key, p)
        _, slope = jax.jvp(lambda q: objective("manual_jvp")(q, x, t), (p,), (v,))
        return otu.tree_scale(slope, v)

    return forward_gradient


def train(method: str, rate: float, steps: int, seed: int, checkpoints: list[int]):
    """Test accuracies at ``checkpoints`` and the median ms per step."""
    train_data, test_data = fn.data.digits()
    model, loss = fn.mlp(HIDDEN, 10), fn.softmax_cross_entropy_with_integer_labels()
    init_key, dir_key = jax.random.split(jax.random.key(seed))
    _, params, state = model.init(init_key, (BATCH, train_data.x.shape[1]))
    optimizer = optax.sgd(optax.cosine_decay_schedule(rate, steps))
    estimate = gradient_fn(method, model, loss, state)

    @jax.jit
    def step(p, opt_state, x, t, key):
        updates, opt_state = optimizer.update(estimate(p, x, t, key), opt_state, p)
        return optax.apply_updates(p, updates), opt_state

    evaluate = fn.make_eval_step(model, loss)
    x_all, y_all = jnp.asarray(train_data.x), jnp.asarray(train_data.y)
    order = np.random.default_rng(seed).integers(0, len(train_data), (steps, BATCH))
    opt_state, accuracies, times = optimizer.init(params), [], []
    for i in range(1, steps + 1):
        start = time.perf_counter()
        params, opt_state = step(params, opt_state, x_all[order[i - 1]], y_all[order[i - 1]],
                                 jax.random.fold_in(dir_key, i))  # fmt: skip
        jax.block_until_ready(params)
        times.append(time.perf_counter() - start)
        if i in checkpoints:
            metrics = fn.train.evaluate(evaluate, params, state, test_data, 512)
            accuracies.append(float(metrics["accuracy"]))
    return accuracies, 1e3 * statistics.median(times[10:])


def main(steps: int, seeds: list[int]) -> None:
    checkpoints = sorted({steps // 10, steps // 4, steps // 2, steps})
    print(f"digits MLP 64-{HIDDEN[0]}-10, batch {BATCH}, SGD with cosine decay, {steps} steps, "
          f"seeds {seeds}")  # fmt: skip
    header = " | ".join(f"step {c}" for c in checkpoints)
    print(f"| method | lr | {header} | ms/step |")
    print("|" + " --- |" * (len(checkpoints) + 3))
    for method, rates in RATES.items():
        # the learning rate: the best final accuracy on seed 0 (a tuning run, reported)
        tuned = {r: train(method, r, steps, seeds[0], checkpoints)[0][-1] for r in rates}
        rate = max(tuned, key=tuned.get)
        runs = [train(method, rate, steps, s, checkpoints) for s in seeds]
        cells = []
        for k in range(len(checkpoints)):
            values = [100 * run[0][k] for run in runs]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.1f} ± {spread:.1f} %")
        ms = statistics.median(run[1] for run in runs)
        print(f"| {method} | {rate:g} (grid {', '.join(map(str, rates))}) | "
              f"{' | '.join(cells)} | {ms:.2f} |")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    main(args.steps, args.seeds)
