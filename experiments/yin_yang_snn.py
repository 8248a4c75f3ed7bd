"""Yin-Yang with a discrete-time spiking network trained by surrogate gradients, three seeds.

Run: python experiments/yin_yang_snn.py [--seeds 0 1 2] [--epochs 100] [--out experiments/out]
Inputs (x, y, 1 − x, 1 − y) are latency-coded, one spike each in T steps; the network is
lif(120) (fast-sigmoid surrogate, reset by subtraction, detached reset) → leaky_integrator(3),
read out as the maximum membrane over time, trained with softmax cross-entropy and Adam by the
hand-written backward. Published references (Kriener et al. 2021): a 4-120-3 ANN 98.7 ± 0.3%,
a shallow network 64.3 ± 0.2%; the issue's target for this network is ≥ 95%. Writes
yin_yang_snn.md and, with matplotlib, yin_yang_snn.png (spike rasters and membrane traces of
one test example before and after training).
"""

import argparse
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from plotting import before_after, pyplot

import funcnet as fn
from funcnet.data import latency_code, make_dataset, yin_yang
from funcnet.models.spiking import lif_classifier

NUM_STEPS, HIDDEN = 20, 120


def model():
    return lif_classifier(HIDDEN, 3, beta=0.9, threshold=1.0)


def encoded(split):
    data = yin_yang(split)
    return make_dataset(latency_code(data.x, NUM_STEPS), data.y)


def accuracy(net, params, state, data):
    logits, _ = jax.jit(net.apply)(params, state, jnp.asarray(data.x))
    return float(np.mean(np.argmax(np.asarray(logits), -1) == data.y))


def run(seed, epochs, train, test):
    net = model()
    _, params, state = net.init(jax.random.key(seed), (64, NUM_STEPS, 4))
    before = params
    loss = fn.softmax_cross_entropy_with_integer_labels()
    opt = optax.adam(optax.cosine_decay_schedule(3e-3, epochs * (len(train) // 64)))
    start = time.perf_counter()
    result = fn.fit(net, loss, opt, params, state, train, key=jax.random.key(100 + seed),
                    epochs=epochs, batch_size=64, progress=False)  # fmt: skip
    seconds = time.perf_counter() - start
    acc = accuracy(net, result.params, state, test)
    return acc, accuracy(net, result.params, state, train), seconds, before, result.params


def traces(params, x):
    """Hidden spikes [T, H] and readout membranes [T, 3] of one example."""
    lif_params, li_params = params[0], params[1]
    spikes, _ = fn.lif(HIDDEN).apply(lif_params, (), x)
    v, _ = fn.leaky_integrator(3).apply(li_params, (), spikes)
    return np.asarray(spikes), np.asarray(v)


def plot(out, before, after, x, label):
    plt = pyplot()
    if plt is None:
        return
    panels = []
    for title, params in (("before", before), ("after", after)):
        spikes, v = traces(params, x)

        def draw(ax, v=v):
            for k in range(3):
                ax.plot(v[:, k], label=f"class {k}" + (" (true)" if k == label else ""))

        panels.append((title, np.nonzero(spikes), draw))
    fig = before_after(plt, panels, neuron_label="neuron", time_label="time step")
    fig.savefig(out / "yin_yang_snn.png", dpi=110)


def main(seeds, epochs, out):
    train, test = encoded("train"), encoded("test")
    rows = []
    for seed in seeds:
        acc, train_acc, secs, before, after = run(seed, epochs, train, test)
        rows.append((seed, acc, train_acc, secs))
        print(f"seed {seed}: test {acc:.4f}, train {train_acc:.4f} ({secs:.0f} s)", flush=True)
    accs = [r[1] for r in rows]
    lines = [f"Yin-Yang, surrogate-gradient SNN (lif({HIDDEN}) → leaky_integrator(3), max over "
             f"time), T = {NUM_STEPS} latency-coded steps, {epochs} epochs, batch 64, Adam 3e-3 "
             "cosine; train 5000 / test 1000 (the published splits)", "",
             "| seed | test accuracy | train accuracy | train seconds |",
             "| --- | --- | --- | --- |"]  # fmt: skip
    lines += [f"| {s} | {a:.2%} | {t:.2%} | {sec:.0f} |" for s, a, t, sec in rows]
    spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
    lines += ["", f"mean test accuracy {statistics.mean(accs):.2%} ± {spread:.2%} (std over "
              f"{len(accs)} seeds); published: ANN 4-120-3 98.7 ± 0.3%, shallow 64.3 ± 0.2%; "
              "target ≥ 95%"]  # fmt: skip
    table = "\n".join(lines)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "yin_yang_snn.md").write_text(table + "\n")
    plot(out, before, after, jnp.asarray(test.x[0]), int(test.y[0]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("experiments/out"))
    args = parser.parse_args()
    main(args.seeds, args.epochs, args.out)
