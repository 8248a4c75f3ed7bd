"""Copy task with an LSTM: truncated BPTT, plain vs a synthetic gradient at each truncation
boundary (Jaderberg et al. 2017, section 3.1), with a curriculum over the sequence length.

A sequence is N random 4-bit vectors, a delimiter, then N blank steps during which the network
must output the N vectors. Training runs the sequence in chunks of k steps; the state passed
to the next chunk is held fixed (truncation). With DNI, the chunk's final state s = [h, c] goes
through funcnet's decoupling interface with ĝ = M(s) (a linear gradient predictor), so the
synthetic gradient is the initial adjoint of the LSTM's reverse scan; the predictor regresses
onto the gradient at the next chunk's initial state (true within that chunk plus its own
bootstrapped ĝ), which arrives one chunk later. The last chunk of a sequence gets no synthetic
gradient (its future is empty: the next sequence starts from a zero state). N grows by one
whenever the mean per-bit cross-entropy of the output phase over the last 20 sequences falls
below 0.15 bits ("solved").
Reported: the longest N solved within the budget of sequences.

Run: nice -n 10 python experiments/dni_copy_lstm.py [--sequences 1500] [--truncations 2 3 5 8]
Writes experiments/out/dni_copy_lstm.md.
"""

import argparse
import functools
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from funcnet.dni import decoupling_interface_op, gradient_predictor
from funcnet.layers import LSTMState, RecurrentInput, dense, lstm

OUT = pathlib.Path(__file__).parent / "out"
BITS, HIDDEN, BATCH = 4, 64, 32
SOLVED_BITS, WINDOW = 0.15, 20


def make_sequence(rng, n):
    """``(x [B, 2n+1, BITS+1], targets [B, 2n+1, BITS], output mask [2n+1])``."""
    bits = rng.integers(0, 2, (BATCH, n, BITS)).astype(np.float32)
    x = np.zeros((BATCH, 2 * n + 1, BITS + 1), np.float32)
    x[:, :n, :BITS] = bits
    x[:, n, BITS] = 1.0  # the delimiter
    targets = np.zeros((BATCH, 2 * n + 1, BITS), np.float32)
    targets[:, n + 1 :] = bits
    mask = np.zeros(2 * n + 1, np.float32)
    mask[n + 1 :] = 1.0
    return x, targets, mask


core, readout = lstm(HIDDEN, return_state=True), dense(BITS)
predictor, interface = gradient_predictor(2 * HIDDEN), decoupling_interface_op(0.0)
optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(3e-3))


@functools.partial(jax.jit, static_argnames=("synthetic", "regress"))
def chunk_step(params, opt_state, q, q_opt, s0, x, targets, mask, *, synthetic, regress):
    """One truncated chunk: update the network; with ``synthetic`` seed the reverse scan with
    ``ĝ`` at the final state; with ``regress`` train the predictor on ``s0`` (the state the
    previous chunk's ĝ was predicted from)."""

    def objective(params, s0):
        state = LSTMState(s0[:, :HIDDEN], s0[:, HIDDEN:])
        (hs, final), _ = core.apply(params[0], (), RecurrentInput(x, state=state))
        logits, _ = readout.apply(params[1], (), hs)
        bce = optax.sigmoid_binary_cross_entropy(logits, targets).sum(-1)  # [B, k]
        loss = jnp.mean(jnp.sum(bce * mask, -1))
        s = jnp.concatenate([final.h, final.c], -1)
        if synthetic:  # the future's gradient at s, predicted: dz ĝ seeds the reverse scan
            g_hat = jax.lax.stop_gradient(predictor.apply(q, (), jax.lax.stop_gradient(s))[0])
            _, z = interface(s, g_hat)
            loss = loss + jnp.mean(z)
        return loss, (s, jnp.sum(bce * mask) / BATCH)

    (_, (s, bits)), (grads, ds0) = jax.value_and_grad(objective, (0, 1), has_aux=True)(params, s0)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    if regress:  # regress M(s0) onto the gradient that arrived at s0 (per example)

        def mse(q):
            g_hat = predictor.apply(q, (), s0)[0]
            return 0.5 * jnp.mean(jnp.sum((g_hat - ds0 * BATCH) ** 2, -1))

        q_updates, q_opt = optimizer.update(jax.grad(mse)(q), q_opt, q)
        q = optax.apply_updates(q, q_updates)
    return params, opt_state, q, q_opt, jax.lax.stop_gradient(s), bits


def train(k: int, synthetic: bool, sequences: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    keys = jax.random.split(jax.random.key(seed), 3)
    params = (
        core.init(keys[0], (BATCH, k, BITS + 1))[1],
        readout.init(keys[1], (BATCH, HIDDEN))[1],
    )
    q = predictor.init(keys[2], (BATCH, 2 * HIDDEN))[1]
    opt_state, q_opt = optimizer.init(params), optimizer.init(q)
    n, best, recent, start = 1, 0, [], time.perf_counter()
    for _ in range(sequences):
        x, targets, mask = make_sequence(rng, n)
        s = jnp.zeros((BATCH, 2 * HIDDEN))
        total = 0.0
        for t in range(0, x.shape[1], k):
            sl, last = slice(t, t + k), t + k >= x.shape[1]  # nothing follows the last chunk
            params, opt_state, q, q_opt, s, bits = chunk_step(
                params, opt_state, q, q_opt, s, x[:, sl], targets[:, sl], mask[sl],
                synthetic=synthetic and not last, regress=synthetic and t > 0,
            )  # fmt: skip
            total += float(bits)
        recent.append(total / (n * BITS) / np.log(2))  # bits per output bit
        if len(recent) >= WINDOW and np.mean(recent[-WINDOW:]) < SOLVED_BITS:
            best, n, recent = n, n + 1, []
    return {"best": best, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequences", type=int, default=1500)
    parser.add_argument("--truncations", type=int, nargs="+", default=[2, 3, 5, 8])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lines = [
        "# Copy task, LSTM: truncated BPTT with and without a synthetic gradient at the boundary",
        "",
        f"LSTM {HIDDEN}, {BITS}-bit vectors, batch {BATCH}, Adam 3e-3 (clip 1), "
        f"{args.sequences} batches of sequences, seed {args.seed}; curriculum: N + 1 once the "
        f"mean over the last {WINDOW} batches is below {SOLVED_BITS} bits per output bit. "
        "Entry: the longest N solved. Script: experiments/dni_copy_lstm.py.",
        "",
        "| truncation k | BPTT: longest N solved | DNI: longest N solved | s (BPTT / DNI) |",
        "|---|---|---|---|",
    ]
    for k in args.truncations:
        plain = train(k, False, args.sequences, args.seed)
        dni = train(k, True, args.sequences, args.seed)
        lines.append(f"| {k} | {plain['best']} | {dni['best']} | "
                     f"{plain['seconds']:.0f} / {dni['seconds']:.0f} |")  # fmt: skip
        print(lines[-1], flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "dni_copy_lstm.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
