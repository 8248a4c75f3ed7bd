"""Digits: a discrete-time LIF network against the ANN of the same size, three seeds.

Run: python experiments/digits_lif_vs_ann.py [--seeds 0 1 2] [--epochs 40] [--out experiments/out]
The 8×8 digits (scikit-learn's, pixels in [0, 1], the funcnet 80/20 split). The spiking
network sees each image as T = 20 steps of spikes, rate-coded (a pixel fires at each step with
probability its intensity, one fixed draw: ``funcnet train --dataset digits --model lif``'s
code) or latency-coded (one spike per pixel, bright pixels first, a blank pixel at the last
step), and is lif(128) (fast-sigmoid surrogate, reset by
subtraction, detached reset) → leaky_integrator(10), read out as each output membrane's maximum
over time (``funcnet train --dataset digits --model lif``'s network). The ANN is
dense(128) → relu → dense(10) on the pixels. Both: softmax cross-entropy, Adam 2e-3 with a
cosine decay, batch 32, the same epochs and seeds, the hand-written backward. Writes
digits_lif_vs_ann.md.
"""

import argparse
import statistics
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import funcnet as fn
from funcnet.data import digits, make_dataset
from funcnet.models.spiking import lif_classifier
from funcnet.models.spiking_recipes import CODES

HIDDEN, NUM_STEPS, BATCH, LEARNING_RATE = 128, 20, 32, 2e-3


def models():
    """name -> (network, spike code or None for the pixels)."""
    return {
        "LIF, rate code": (lif_classifier(HIDDEN, 10), "rate"),
        "LIF, latency code": (lif_classifier(HIDDEN, 10), "latency_bright_first"),
        "ANN (relu MLP)": (fn.mlp((HIDDEN,), 10), None),
    }


def coded(data, code):
    return data if code is None else make_dataset(CODES[code](data.x, NUM_STEPS), data.y)


def accuracy(net, params, state, data):
    logits, _ = jax.jit(net.apply)(params, state, jnp.asarray(data.x))
    return float(np.mean(np.argmax(np.asarray(logits), -1) == data.y))


def run(net, seed, epochs, train, test):
    _, params, state = net.init(jax.random.key(seed), (BATCH, *train.x.shape[1:]))
    loss = fn.softmax_cross_entropy_with_integer_labels()
    opt = optax.adam(optax.cosine_decay_schedule(LEARNING_RATE, epochs * (len(train) // BATCH)))
    result = fn.fit(net, loss, opt, params, state, train, key=jax.random.key(100 + seed),
                    epochs=epochs, batch_size=BATCH, progress=False)  # fmt: skip
    seconds = sum(row["seconds"] for row in result.history)
    return accuracy(net, result.params, state, test), result.history[-1]["train_loss"], seconds


def main(seeds, epochs, out):
    train, test = digits()
    rows = []
    for name, (net, code) in models().items():
        data = (coded(train, code), coded(test, code))
        for seed in seeds:
            acc, train_loss, secs = run(net, seed, epochs, *data)
            rows.append((name, seed, acc, train_loss, secs))
            print(f"{name} seed {seed}: test {acc:.4f} ({secs:.0f} s)", flush=True)
    lines = [f"Digits (1437 train / 360 test): LIF network vs ANN, hidden width {HIDDEN}, {epochs} "
             f"epochs, batch {BATCH}, Adam {LEARNING_RATE:g} cosine, seeds {list(seeds)}", "",
             "| model | seed | test accuracy | final train loss | train seconds |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    lines += [f"| {n} | {s} | {a:.2%} | {tl:.4f} | {sec:.0f} |" for n, s, a, tl, sec in rows]
    lines.append("")
    for name in models():
        accs = [r[2] for r in rows if r[0] == name]
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        lines.append(f"- {name}: mean test accuracy {statistics.mean(accs):.2%} ± {spread:.2%} "
                     f"(std over {len(accs)} seeds)")  # fmt: skip
    table = "\n".join(lines)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "digits_lif_vs_ann.md").write_text(table + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("experiments/out"))
    args = parser.parse_args()
    main(args.seeds, args.epochs, args.out)
