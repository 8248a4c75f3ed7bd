"""Copy task with an LSTM: truncated BPTT, plain vs a synthetic gradient at each truncation
boundary (Jaderberg et al. 2017, section 3.1), with a curriculum over the sequence length.

A sequence is N random 4-bit vectors, a delimiter, then N blank steps during which the network
must output the N vectors. Training runs the sequence in chunks of k steps; the state passed
to the next chunk is held fixed (truncation). With DNI, the chunk's final state s = [h, c] goes
through funcnet's decoupling interface with ĝ = M(s) (a linear gradient predictor), so the
synthetic gradient is the initial adjoint of the LSTM's reverse scan; the predictor regresses
onto the gradient at the next chunk's initial state (true within that chunk plus its own
bootstrapped ĝ), which arrives one chunk later. The step is funcnet.dni's
make_synthetic_bptt_step (funcnet/dni/recurrent.py). The last chunk of a sequence gets no
synthetic gradient (its future is empty: the next sequence starts from a zero state). N grows by one
whenever the mean per-bit cross-entropy of the output phase over the last 20 sequences falls
below 0.15 bits ("solved").
Reported: the longest N solved within the budget of sequences.

Run: nice -n 10 python experiments/dni_copy_lstm.py [--sequences 1500] [--truncations 2 3 5 8]
[--seeds 0 1 2] [--repeats R]. Writes experiments/out/dni_copy_lstm.md (with --repeats R > 1,
the repeat-copy task: dni_repeat_copy_lstm.md) and, with matplotlib, its .png.
"""

import argparse
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from plotting import pyplot

from funcnet import dni
from funcnet.layers import LSTMState, RecurrentInput, dense, lstm

OUT = pathlib.Path(__file__).parent / "out"
BITS, HIDDEN, BATCH = 4, 64, 32
SOLVED_BITS, WINDOW = 0.15, 20
TASKS = {False: "Copy task", True: "Repeat-copy task"}


def make_sequence(rng, n, repeats=1):
    """``(x [B, T, BITS+1], targets [B, T, BITS], output mask [T])``, ``T = (1 + repeats) n + 1``:
    the n vectors, the delimiter, then ``repeats`` copies of them to output."""
    length = (1 + repeats) * n + 1
    bits = rng.integers(0, 2, (BATCH, n, BITS)).astype(np.float32)
    x = np.zeros((BATCH, length, BITS + 1), np.float32)
    x[:, :n, :BITS] = bits
    x[:, n, BITS] = 1.0  # the delimiter
    targets = np.zeros((BATCH, length, BITS), np.float32)
    targets[:, n + 1 :] = np.tile(bits, (1, repeats, 1))
    mask = np.zeros(length, np.float32)
    mask[n + 1 :] = 1.0
    return x, targets, mask


core, readout = lstm(HIDDEN, return_state=True), dense(BITS)
predictor = dni.gradient_predictor(2 * HIDDEN)
optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(3e-3))


def chunk_loss(params, state0, inputs):
    """The chunk's summed per-bit cross-entropy of the output phase (nats per sequence, mean over
    the batch) and its final state."""
    x, targets, mask = inputs
    (hs, final), _ = core.apply(params[0], (), RecurrentInput(x, state=state0))
    logits, _ = readout.apply(params[1], (), hs)
    bce = optax.sigmoid_binary_cross_entropy(logits, targets).sum(-1)  # [B, k]
    return jnp.mean(jnp.sum(bce * mask, -1)), final


# the network updates from its chunk's gradient seeded with ĝ = M(s) at the final state; the
# predictor regresses M(s0) onto the bootstrapped target at the initial state (funcnet.dni)
chunk_step = dni.make_synthetic_bptt_step(chunk_loss, predictor, optimizer)


def train(k: int, synthetic: bool, sequences: int, seed: int, repeats: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    keys = jax.random.split(jax.random.key(seed), 3)
    params = (
        core.init(keys[0], (BATCH, k, BITS + 1))[1],
        readout.init(keys[1], (BATCH, HIDDEN))[1],
    )
    q = predictor.init(keys[2], (BATCH, 2 * HIDDEN))[1]
    state = dni.init_synthetic_bptt(params, q, optimizer)
    n, best, recent, start = 1, 0, [], time.perf_counter()
    for _ in range(sequences):
        x, targets, mask = make_sequence(rng, n, repeats)
        s = LSTMState(jnp.zeros((BATCH, HIDDEN)), jnp.zeros((BATCH, HIDDEN)))
        total = jnp.zeros(())
        for t in range(0, x.shape[1], k):
            sl, last = slice(t, t + k), t + k >= x.shape[1]  # nothing follows the last chunk
            state, s, bits = chunk_step(
                state, s, (x[:, sl], targets[:, sl], mask[sl]),
                synthetic=synthetic and not last, regress=synthetic and t > 0,
            )  # fmt: skip
            total = total + bits
        recent.append(float(total) / (repeats * n * BITS) / np.log(2))  # bits per output bit
        if len(recent) >= WINDOW and np.mean(recent[-WINDOW:]) < SOLVED_BITS:
            best, n, recent = n, n + 1, []
    return {"best": best, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequences", type=int, default=1500)
    parser.add_argument("--truncations", type=int, nargs="+", default=[2, 3, 5, 8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--repeats", type=int, default=1, help="> 1: repeat-copy, R copies")
    args = parser.parse_args()
    seeds, task = ", ".join(map(str, args.seeds)), TASKS[args.repeats > 1]
    lines = [
        f"# {task}, LSTM: truncated BPTT with and without a synthetic gradient at the boundary",
        "",
        f"Sequence: N {BITS}-bit vectors, a delimiter, then {args.repeats} cop"
        f"{'ies' if args.repeats > 1 else 'y'} of them to output (T = {1 + args.repeats}N + 1).",
        "",
        f"LSTM {HIDDEN}, {BITS}-bit vectors, batch {BATCH}, Adam 3e-3 (clip 1), "
        f"{args.sequences} batches of sequences, seeds {seeds}; curriculum: N + 1 once the "
        f"mean over the last {WINDOW} batches is below {SOLVED_BITS} bits per output bit "
        '("solved"). Entry: the longest N solved, mean ± std over seeds (per seed). '
        "Script: experiments/dni_copy_lstm.py.",
        "",
        "| truncation k | BPTT: longest N solved | DNI: longest N solved | s/run (BPTT / DNI) |",
        "|---|---|---|---|",
    ]
    best = {}
    for k in args.truncations:
        runs = {v: [train(k, v == "dni", args.sequences, s, args.repeats) for s in args.seeds]
                for v in ("bptt", "dni")}  # fmt: skip
        cells = []
        for v in ("bptt", "dni"):
            best[(v, k)] = np.array([r["best"] for r in runs[v]])
            b = best[(v, k)]
            cells.append(f"{b.mean():.1f} ± {b.std():.1f} ({', '.join(map(str, b))})")
        secs = [np.mean([r["seconds"] for r in runs[v]]) for v in ("bptt", "dni")]
        lines.append(f"| {k} | {cells[0]} | {cells[1]} | {secs[0]:.0f} / {secs[1]:.0f} |")
        print(lines[-1], flush=True)
    OUT.mkdir(exist_ok=True)
    name = "dni_copy_lstm" if args.repeats == 1 else "dni_repeat_copy_lstm"
    (OUT / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for v, label in (("bptt", "truncated BPTT"), ("dni", "with DNI at the boundary")):
            b = np.array([best[(v, k)] for k in args.truncations])
            ax.errorbar(args.truncations, b.mean(1), yerr=b.std(1), marker="o", capsize=3,
                        label=label)  # fmt: skip
        ax.set(xlabel="truncation k", ylabel="longest N solved", title=f"{task}, LSTM")
        ax.legend()
        fig.tight_layout()
        fig.savefig(OUT / f"{name}.png", dpi=120)


if __name__ == "__main__":
    main()
