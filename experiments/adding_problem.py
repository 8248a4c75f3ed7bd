"""The adding problem (Hochreiter & Schmidhuber 1997): an LSTM learns it, a vanilla RNN fails.

Each sequence has ``length`` steps of two features: a value uniform in [0, 1] and a marker
that is 1 at two steps (one in each half) and 0 elsewhere; the target is the sum of the two
marked values. Predicting the mean (1.0) gives an MSE of 1/6 ≈ 0.167; we call a model
successful when its test MSE falls below 0.01.

Run: python experiments/adding_problem.py [--length 100] [--steps 2000]
Model: ``{rnn, lstm}(32, return_sequences=False) → dense(1)``, MSE, Adam lr 3e-3 after
clipping the global gradient norm to 1, batch 64, fresh data every step, manual gradients.
Writes experiments/out/adding_problem.md.
"""

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

from funcnet.layers import dense, lstm, rnn, serial
from funcnet.losses import mean_squared_error
from funcnet.train.step import make_train_step

HIDDEN, BATCH, LEARNING_RATE, SUCCESS_MSE = 32, 64, 3e-3, 0.01


def adding_batch(key: jax.Array, batch: int, length: int) -> tuple[jax.Array, jax.Array]:
    k_val, k_first, k_second = jax.random.split(key, 3)
    values = jax.random.uniform(k_val, (batch, length))
    first = jax.random.randint(k_first, (batch,), 0, length // 2)
    second = jax.random.randint(k_second, (batch,), length // 2, length)
    steps = jnp.arange(length)[None]
    markers = ((steps == first[:, None]) | (steps == second[:, None])).astype(jnp.float32)
    target = jnp.sum(values * markers, axis=1, keepdims=True)
    return jnp.stack([values, markers], axis=-1), target


def train(kind: str, length: int, steps: int, seed: int = 0) -> tuple[list[float], float, float]:
    """Train and return (MSE every 100 steps, final test MSE, seconds)."""
    cell = {"rnn": rnn, "lstm": lstm}[kind]
    model, loss = serial(cell(HIDDEN, return_sequences=False), dense(1)), mean_squared_error()
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(LEARNING_RATE))
    key_init, key_data = jax.random.split(jax.random.key(seed))
    _, params, state = model.init(key_init, (BATCH, length, 2))
    opt_state = optimizer.init(params)
    step = make_train_step(model, loss, optimizer)
    curve, start = [], time.perf_counter()
    for i, k in enumerate(jax.random.split(key_data, steps)):
        params, state, opt_state, metrics = step(params, state, opt_state,
                                                 adding_batch(k, BATCH, length), None)  # fmt: skip
        if i % 100 == 0:
            curve.append(float(metrics["loss"]))
    x, t = adding_batch(jax.random.key(10_000 + seed), 1000, length)
    y, _ = model.apply(params, state, x)
    return curve, float(jnp.mean((y - t) ** 2)), time.perf_counter() - start


def main(length: int, steps: int, out: Path) -> None:
    lines = [f"Adding problem, length {length}, {steps} steps of batch {BATCH}, hidden {HIDDEN} "
             f"(baseline MSE 0.167; success < {SUCCESS_MSE})", "",
             "| model | test MSE | solved | seconds | train MSE every 100 steps |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for kind in ("lstm", "rnn"):
        curve, mse, seconds = train(kind, length, steps)
        solved = "yes" if mse < SUCCESS_MSE else "no"
        print(f"{kind}: test MSE {mse:.4f} ({solved}, {seconds:.0f} s)")
        lines.append(f"| {kind} | {mse:.4f} | {solved} | {seconds:.0f} | "
                     f"{', '.join(f'{c:.3f}' for c in curve)} |")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "adding_problem.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("experiments/out"))
    args = parser.parse_args()
    main(args.length, args.steps, args.out)
