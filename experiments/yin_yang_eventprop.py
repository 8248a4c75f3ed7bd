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
the output's first spike is read), and yin_yang_eventprop.png (with matplotlib): one test
example's hidden spike raster and output membranes (closed form, up to each output's first
spike, dotted) before and after training, first seed.
"""

import argparse
import statistics
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from plotting import before_after, pyplot

from funcnet.data import make_dataset, spike_time_code, yin_yang
from funcnet.layers import first_spike_cross_entropy
from funcnet.models.eventprop_fit import evaluate_eventprop, fit_eventprop
from funcnet.models.spiking import event_classifier, event_layers

HIDDEN, MAX_SPIKES, T_MAX, T_EARLY, T_LATE, BUMP = 100, 3, 4.0, 0.15, 2.0, 5e-3
TAU0, TAU1 = 0.025, 0.32  # the paper's 0.5 ms and 6.4 ms at tau_mem = 20 ms


def model():
    return event_classifier(HIDDEN, 3, max_spikes=MAX_SPIKES, t_max=T_MAX)


def encoded(split):
    data = yin_yang(split)
    return make_dataset(spike_time_code(data.x, t_early=T_EARLY, t_late=T_LATE), data.y)


def run(seed, epochs, train, test):
    net, loss = model(), first_spike_cross_entropy(TAU0, TAU1)
    _, params, _ = net.init(jax.random.key(seed), (64, 5, 1))
    before = params
    opt = optax.adam(optax.cosine_decay_schedule(2e-3, epochs * (len(train) // 64)))
    params, history = fit_eventprop(net, loss, params, opt, train, key=jax.random.key(100 + seed),
                                    epochs=epochs, batch_size=64, bump=BUMP, t_max=T_MAX,
                                    eval_data=test)  # fmt: skip
    seconds = sum(row["seconds"] for row in history)
    last = history[-1]
    train_acc = evaluate_eventprop(net, loss, params, train)["accuracy"]
    return last["eval_accuracy"], train_acc, last["eval_hidden_overflow"], seconds, before, params


def membrane(t, t_in, w, t_own):
    """``V(t)`` of event_lif neurons (τ_mem = 1, θ = 1) from their input spike times ``t_in
    [I, K]``, weights ``w [I, N]`` and own spikes ``t_own [N, K']`` (times ≥ T_MAX: none)::

        V(t) = Σ_i w_i (e^{−(t−t_i)} − e^{−2(t−t_i)}) − Σ_k e^{−(t−t_k)}   (t > t_i, t_k)"""
    d = t[:, None, None] - t_in[None]  # [G, I, K]
    live = (d > 0) & (t_in[None] < T_MAX)
    kernel = np.where(live, np.exp(-np.where(live, d, 0)) - np.exp(-2 * np.where(live, d, 0)), 0)
    v = np.einsum("gik,in->gn", kernel, w)
    r = t[:, None, None] - t_own[None]  # [G, N, K']
    spiked = (r > 0) & (t_own[None] < T_MAX)
    return v - np.sum(np.where(spiked, np.exp(-np.where(spiked, r, 0)), 0), -1)


def plot(out, before, after, x, label):
    """Hidden spike rasters and output membranes of one test example, before and after."""
    plt = pyplot()
    if plt is None:
        return
    hidden_layer, output_layer = event_layers(HIDDEN, 3, max_spikes=MAX_SPIKES, t_max=T_MAX)
    grid = np.linspace(0, T_MAX, 400)
    panels = []
    for title, params in (("before", before), ("after", after)):
        hidden, _ = hidden_layer.apply(params[0], (), x)
        t_out, _ = output_layer.apply(params[1], (), hidden)
        hidden, t_out = np.asarray(hidden), np.asarray(t_out)
        n, k = np.nonzero(hidden < T_MAX)
        v = membrane(grid, hidden, np.asarray(params[1].w), t_out)

        def draw(ax, v=v, t_out=t_out):
            for c in range(3):
                first = t_out[c, 0]
                shown = grid <= first  # only the first output spike is simulated (max_spikes=1)
                name = f"class {c}" + (" (true)" if c == label else "")
                (line,) = ax.plot(grid[shown], v[shown, c], label=name)
                if first < T_MAX:
                    ax.axvline(first, color=line.get_color(), linestyle=":")
            ax.axhline(1.0, color="gray", linewidth=0.5)  # the threshold

        panels.append((title, (hidden[n, k], n), draw))
    fig = before_after(plt, panels, neuron_label="hidden neuron", time_label="time (τ_mem)")
    fig.savefig(out / "yin_yang_eventprop.png", dpi=110)


def main(seeds, epochs, out):
    train, test = encoded("train"), encoded("test")
    rows = []
    for seed in seeds:
        acc, train_acc, overflow, secs, before, after = run(seed, epochs, train, test)
        if seed == seeds[0]:
            first = before, after
        rows.append((seed, acc, train_acc, overflow, secs))
        print(f"seed {seed}: test {acc:.4f}, train {train_acc:.4f}, hidden overflow "
              f"{overflow:.3f} ({secs:.0f} s)", flush=True)  # fmt: skip
    accs = [r[1] for r in rows]
    lines = [f"Yin-Yang, EventProp: event_lif({HIDDEN}, ≤{MAX_SPIKES} spikes) → event_lif(3), "
             f"time-to-first-spike loss, {epochs} epochs, batch 64, Adam 2e-3 cosine, weight "
             f"bumping {BUMP:g}; "
             "train 5000 / test 1000 (the published splits)", "",
             "| seed | test accuracy | train accuracy | hidden overflow | seconds (train + eval) |",
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
    plot(out, *first, jnp.asarray(test.x[0]), int(test.y[0]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("experiments/out"))
    args = parser.parse_args()
    main(args.seeds, args.epochs, args.out)
