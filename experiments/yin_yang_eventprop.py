"""Yin-Yang with EventProp: two layers of continuous-time LIF neurons, time-to-first-spike loss.

Run: python experiments/yin_yang_eventprop.py [--seeds 0 1 2] [--epochs 40] [--out experiments/out]
Each input (x, y, 1 − x, 1 − y) is one spike at time ``T_EARLY + v (T_LATE − T_EARLY)`` (in
units of τ_mem), plus a bias spike at 0; event_lif(HIDDEN) → event_lif(3), trained with the
first-spike cross-entropy (the EventProp paper's τ₀, τ₁, α) by the hand-written EventProp
backward and Adam, with weight bumping (Göltz et al. 2021): after each step, an output neuron
silent on some example of the batch gets its input weights raised by BUMP, since a neuron that
does not fire has no spike time to move and so receives no gradient. The prediction is the
output neuron that fires first. Writes yin_yang_eventprop.md, with the fraction of hidden
neurons that would have fired more than MAX_SPIKES times (their later spikes are missing; only
the output's first spike is read).
"""

import argparse
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import funcnet as fn
from funcnet.data import batches, make_dataset, yin_yang
from funcnet.layers import event_lif, first_spike_cross_entropy
from funcnet.train import make_train_step

HIDDEN, MAX_SPIKES, T_MAX, T_EARLY, T_LATE, BUMP = 100, 3, 4.0, 0.15, 2.0, 5e-3


TAU0, TAU1 = 0.025, 0.32  # the paper's 0.5 ms and 6.4 ms at tau_mem = 20 ms


def weights(mean, std):
    def init(key, shape, dtype):
        return (mean + std * jax.random.normal(key, shape)).astype(dtype)

    return init


def layers():
    return (
        event_lif(HIDDEN, max_spikes=MAX_SPIKES, t_max=T_MAX, w_init=weights(1.5, 1.0)),
        event_lif(3, max_spikes=1, t_max=T_MAX, w_init=weights(0.3, 0.3)),
    )


def model():
    return fn.serial(*layers())


@jax.jit
def bumped(params, x):
    """Raise the input weights of every output neuron silent on some example of ``x``."""
    hidden_layer, output_layer = layers()
    hidden, _ = hidden_layer.apply(params[0], (), x)
    out, _ = output_layer.apply(params[1], (), hidden)
    silent = jnp.any(out[..., 0] >= T_MAX, axis=0).astype(params[1].w.dtype)
    return params[0], params[1]._replace(w=params[1].w + BUMP * silent[None])


def encoded(split):
    data = yin_yang(split)
    times = T_EARLY + data.x * (T_LATE - T_EARLY)
    times = np.concatenate([np.zeros((len(data), 1), np.float32), times], axis=1)
    return make_dataset(times[..., None].astype(np.float32), data.y)


def evaluate(net, params, state, data):
    (t_out, (flags, _)) = jax.jit(lambda x: net.apply(params, state, x))(jnp.asarray(data.x))
    first = np.asarray(t_out)[..., 0]
    accuracy = float(np.mean(np.argmin(first, -1) == data.y))
    return accuracy, float(np.mean(np.asarray(flags)))


def run(seed, epochs, train, test):
    net = model()
    _, params, state = net.init(jax.random.key(seed), (64, 5, 1))
    opt = optax.adam(optax.cosine_decay_schedule(2e-3, epochs * (len(train) // 64)))
    step = make_train_step(net, first_spike_cross_entropy(TAU0, TAU1), opt)
    opt_state, key = opt.init(params), jax.random.key(100 + seed)
    start = time.perf_counter()
    for _ in range(epochs):
        key, k = jax.random.split(key)
        for x, y in batches(train, 64, key=k, drop_remainder=True):
            params, state, opt_state, _ = step(params, state, opt_state, (x, y), k)
            params = bumped(params, x)
    seconds = time.perf_counter() - start
    _, state_eval, _ = net.init(jax.random.key(seed), (len(test), 5, 1))
    acc, overflow = evaluate(net, params, state_eval, test)
    _, state_train, _ = net.init(jax.random.key(seed), (len(train), 5, 1))
    train_acc, _ = evaluate(net, params, state_train, train)
    return acc, train_acc, overflow, seconds


def main(seeds, epochs, out):
    train, test = encoded("train"), encoded("test")
    rows = []
    for seed in seeds:
        acc, train_acc, overflow, secs = run(seed, epochs, train, test)
        rows.append((seed, acc, train_acc, overflow, secs))
        print(f"seed {seed}: test {acc:.4f}, train {train_acc:.4f}, hidden overflow "
              f"{overflow:.3f} ({secs:.0f} s)", flush=True)  # fmt: skip
    accs = [r[1] for r in rows]
    lines = [f"Yin-Yang, EventProp: event_lif({HIDDEN}, ≤{MAX_SPIKES} spikes) → event_lif(3), "
             f"time-to-first-spike loss, {epochs} epochs, batch 64, Adam 2e-3 cosine, weight "
             f"bumping {BUMP:g}; "
             "train 5000 / test 1000 (the published splits)", "",
             "| seed | test accuracy | train accuracy | hidden overflow | train seconds |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    lines += [f"| {s} | {a:.2%} | {t:.2%} | {o:.3f} | {sec:.0f} |" for s, a, t, o, sec in rows]
    spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
    lines += ["", f"mean test accuracy {statistics.mean(accs):.2%} ± {spread:.2%} (std over "
              f"{len(accs)} seeds); the EventProp paper reports results in the high 90s; "
              "target ≥ 95%"]  # fmt: skip
    table = "\n".join(lines)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "yin_yang_eventprop.md").write_text(table + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("experiments/out"))
    args = parser.parse_args()
    main(args.seeds, args.epochs, args.out)
