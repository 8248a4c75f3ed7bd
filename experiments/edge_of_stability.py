"""The top Hessian eigenvalue over full-batch gradient descent on the digits: the "edge of
stability" picture (Cohen et al. 2021).

Run: python experiments/edge_of_stability.py [--steps 5000] [--rates 0.1 0.3 0.4 0.5]

A tanh MLP 64-64-10 with mean squared error on one-hot targets is trained by plain gradient
descent on the whole training set (1,437 examples) at several learning rates η. Every
``--every`` steps the largest Hessian eigenvalue λ_max of the training loss is estimated by
power iteration (:func:`funcnet.curvature.top_hessian_eigenvalue`, Hessian–vector products
forward-over-reverse through the hand-written JVPs, ``backward="manual_jvp"``). Gradient
descent on a quadratic diverges once λ_max > 2/η; on a network λ_max first grows (progressive
sharpening) and then hovers near 2/η while the loss keeps falling, non-monotonically. Prints
λ_max·η/2 at checkpoints per rate and saves the plot to experiments/out/edge_of_stability.png
(with matplotlib).
"""

import argparse
import math
import os

import jax
import jax.numpy as jnp
from plotting import pyplot

import funcnet as fn

HIDDEN, POWER_ITERATIONS = (64,), 30


def run(rate: float, steps: int, every: int, seed: int = 0):
    """``(steps, λ_max, loss)`` sampled every ``every`` steps, for learning rate ``rate``."""
    train_data, _ = fn.data.digits()
    x = jnp.asarray(train_data.x)
    targets = jax.nn.one_hot(jnp.asarray(train_data.y), 10)
    model, mse = fn.mlp(HIDDEN, 10, activation=fn.tanh), fn.mean_squared_error()
    init_key, power_key = jax.random.split(jax.random.key(seed))
    _, params, state = model.init(init_key, x.shape)

    def loss(p):
        return mse(model.apply(p, state, x, backward="manual_jvp")[0], targets,
                   backward="manual_jvp")  # fmt: skip

    @jax.jit
    def descend(p):
        value, grad = jax.value_and_grad(loss)(p)
        return jax.tree.map(lambda w, g: w - rate * g, p, grad), value

    @jax.jit
    def sharpness(p, key):
        return fn.curvature.top_hessian_eigenvalue(loss, p, key, POWER_ITERATIONS)

    sampled, eigenvalues, losses = [], [], []
    for i in range(steps + 1):
        if i % every == 0:
            pair = sharpness(params, jax.random.fold_in(power_key, i))
            sampled.append(i)
            eigenvalues.append(float(pair.eigenvalue))
            losses.append(float(loss(params)))
        params, _ = descend(params)
    return sampled, eigenvalues, losses


def main(steps: int, rates: list[float], every: int) -> None:
    print(f"digits, tanh MLP 64-{HIDDEN[0]}-10, MSE on one-hot targets, full-batch GD, "
          f"{steps} steps; λ_max by {POWER_ITERATIONS} power iterations")  # fmt: skip
    runs = {rate: run(rate, steps, every) for rate in rates}
    marks = sorted({0, steps // 10, steps // 4, steps // 2, steps})
    print("| η | 2/η | " + " | ".join(f"λ_max·η/2 at {m}" for m in marks) + " | final loss |")
    print("|" + " --- |" * (len(marks) + 3))
    for rate, (sampled, eigenvalues, losses) in runs.items():
        at = {s: e for s, e in zip(sampled, eigenvalues, strict=True)}
        cells = [("diverged" if not math.isfinite(at[m]) else f"{at[m] * rate / 2:.2f}")
                 if m in at else "-" for m in marks]  # fmt: skip
        print(f"| {rate:g} | {2 / rate:.1f} | {' | '.join(cells)} | {losses[-1]:.4f} |")
    plt = pyplot()
    if plt is None:
        return
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for rate, (sampled, eigenvalues, losses) in runs.items():
        (line,) = top.plot(sampled, eigenvalues, label=f"η = {rate:g}")
        top.axhline(2 / rate, color=line.get_color(), linestyle="--", linewidth=0.8)
        bottom.plot(sampled, losses, color=line.get_color())
    top.set_ylabel("λ_max (dashed: 2/η)")
    top.legend()
    bottom.set_yscale("log")
    bottom.set_ylabel("training loss")
    bottom.set_xlabel("gradient-descent step")
    fig.tight_layout()
    os.makedirs("experiments/out", exist_ok=True)
    fig.savefig("experiments/out/edge_of_stability.png", dpi=120)
    print("plot: experiments/out/edge_of_stability.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.3, 0.4, 0.5])
    parser.add_argument("--every", type=int, default=50)
    args = parser.parse_args()
    main(args.steps, args.rates, args.every)
