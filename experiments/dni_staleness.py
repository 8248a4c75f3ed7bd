"""Update-unlocked DNI on the digits with simulated asynchrony: accuracy vs staleness d.

Each module of the MLP runs as its own compiled step with its own Adam state; module k+1
consumes the activations (and labels) module k produced d steps earlier, and the bootstrapped
target for predictor k comes back with them (funcnet.dni.train_unlocked). Batches stream on
across epochs; accuracy is measured on the test set at the end.

Run: nice -n 10 python experiments/dni_staleness.py [--epochs 10] [--seeds 3]
Writes experiments/out/dni_staleness.md and, with matplotlib, experiments/out/dni_staleness.png.
"""

import argparse
import pathlib
import time

import jax
import numpy as np
import optax
from plotting import pyplot

import funcnet as fn
from funcnet import dni
from funcnet.data.dataset import batches

OUT = pathlib.Path(__file__).parent / "out"
HIDDEN = (128, 128, 128)
STALENESS = (0, 1, 4, 16)


def run(conditioned: bool, d: int, seed: int, epochs: int, batch_size: int, lr, train, test):
    model = dni.decoupled_mlp(HIDDEN, 10, conditioned=conditioned)
    init_key, order_key = jax.random.split(jax.random.key(seed))
    params = dni.init_decoupled(model, init_key, (batch_size, train.x.shape[1]))
    steps = epochs * (len(train) // batch_size)
    optimizer = optax.adam(optax.cosine_decay_schedule(lr, steps))
    stream = [
        b
        for k in jax.random.split(order_key, epochs)
        for b in batches(train, batch_size, key=k, drop_remainder=True)
    ]
    states = dni.init_unlocked(model, params, optimizer)
    start = time.perf_counter()
    states, history = dni.train_unlocked(model, states, optimizer, stream, staleness=d)
    seconds = time.perf_counter() - start
    trained = dni.DecoupledParams(
        tuple(s.params for s in states), tuple(s.predictor_params for s in states[:-1])
    )
    accuracy = dni.evaluate_decoupled(model, trained, test)["accuracy"]
    return accuracy, seconds, len(history)


def plot(accuracies: dict) -> None:
    """Accuracy vs d (mean ± std over seeds) from ``{(model, d): accuracies %}``, if matplotlib."""
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name in ("dni", "cdni"):
        accs = np.array([accuracies[(name, d)] for d in STALENESS])
        ax.errorbar(range(len(STALENESS)), accs.mean(1), yerr=accs.std(1), marker="o",
                    capsize=3, label=name)  # fmt: skip
    ax.set_xticks(range(len(STALENESS)), [str(d) for d in STALENESS])
    ax.set(xlabel="staleness d (steps)", ylabel="test accuracy %",
           title="update-unlocked DNI, digits")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "dni_staleness.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    train, test = fn.data.digits()
    lines = [
        "# Update-unlocked DNI on the digits: accuracy vs staleness",
        "",
        f"MLP {HIDDEN}, an interface after every hidden layer, linear predictors; per module "
        f"Adam {args.lr} (cosine decay), batch {args.batch_size}, {args.epochs} epochs of "
        f"batches streamed through the pipeline, seeds 0..{args.seeds - 1}. Module k+1 sees "
        "module k's output d steps late, so the output module sees a batch 3d steps after the "
        "input module (and the last 3d batches of the stream never reach it). "
        "Script: experiments/dni_staleness.py.",
        "",
        "| model | d | test accuracy % (mean ± std) | per seed | s/run |",
        "|---|---|---|---|---|",
    ]
    accuracies = {}
    for conditioned in (False, True):
        for d in STALENESS:
            runs = [run(conditioned, d, s, args.epochs, args.batch_size, args.lr, train, test)
                    for s in range(args.seeds)]  # fmt: skip
            accs = np.array([r[0] for r in runs]) * 100
            per = ", ".join(f"{a:.2f}" for a in accs)
            secs = np.mean([r[1] for r in runs])
            name = "cdni" if conditioned else "dni"
            accuracies[(name, d)] = accs
            lines.append(f"| {name} | {d} | {accs.mean():.2f} ± {accs.std():.2f} | {per} | "
                         f"{secs:.1f} |")  # fmt: skip
            print(lines[-1], flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "dni_staleness.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(accuracies)


if __name__ == "__main__":
    main()
