"""How far back does the gradient reach? ‖∂L/∂h_t‖ against the time lag T − 1 − t.

For an RNN (tanh), an LSTM and a GRU with the recurrent matrix ``U`` orthogonal times a scale
(0.5, 1, 2), ``L = ⟨v, h_T⟩`` for a fixed random ``v``. ``∂L/∂h_t`` is read as the gradient
with respect to an *initial state*: the sequence is run again with steps ``≤ t`` masked out
(padding keeps the state) and ``h_t`` as the initial state, so every ``t`` is one more batch
row of a single compiled call. Each gradient is computed by the hand-written BPTT and by
autodiff of the reference scan; their largest relative difference is reported.

Run: python experiments/rnn_gradient_norms.py [--length 50]
Writes experiments/out/rnn_gradient_norms.md (and .png if matplotlib is installed).
"""

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.nn.initializers import orthogonal
from plotting import pyplot

from funcnet.layers import LSTMState, RecurrentInput, gru, lstm, rnn

BATCH, FEATURES, HIDDEN, SCALES = 16, 1, 32, (0.5, 1.0, 2.0)
LAGS = (0, 1, 2, 5, 10, 20, 30, 40, 49)
LAYERS = {"rnn": rnn, "lstm": lstm, "gru": gru}


def state_gradients(kind: str, scale: float, length: int, backward: str) -> np.ndarray:
    """``‖∂L/∂h_t‖`` averaged over the batch, for t = 0 .. length − 1."""
    layer = LAYERS[kind](HIDDEN, return_sequences=False, return_state=True,
                         u_init=orthogonal(scale))  # fmt: skip
    _, params, state = layer.init(jax.random.key(0), (BATCH, length, FEATURES))
    x = jax.random.normal(jax.random.key(1), (BATCH, length, FEATURES))
    v = jax.random.normal(jax.random.key(2), (HIDDEN,))
    steps = jnp.arange(length)
    xs = jnp.broadcast_to(x, (length, *x.shape))  # one row per t
    upto = jnp.broadcast_to((steps[None] <= steps[:, None])[:, None], xs.shape[:-1])
    (_, states_t), _ = layer.apply(params, state, RecurrentInput(xs, upto))  # state after t

    def loss(initial):
        (_, final), _ = layer.apply(params, state, RecurrentInput(xs, ~upto, initial),
                                    backward=backward)  # fmt: skip
        h = final.h if kind == "lstm" else final
        return jnp.sum(h * v[None, None])

    dstate = jax.jit(jax.grad(loss))(states_t)
    dh = dstate.h if isinstance(dstate, LSTMState) else dstate
    return np.asarray(jnp.mean(jnp.linalg.norm(dh, axis=-1), axis=1))


def main(length: int, out: Path) -> None:
    lags = [lag for lag in LAGS if lag < length]
    columns, worst = {}, 0.0
    for kind in LAYERS:
        for scale in SCALES:
            manual = state_gradients(kind, scale, length, "manual")
            auto = state_gradients(kind, scale, length, "autodiff")
            worst = max(worst, float(np.max(np.abs(manual - auto) / np.maximum(auto, 1e-30))))
            columns[f"{kind} ×{scale}"] = manual[::-1]  # index = lag
    header = "| lag | " + " | ".join(columns) + " |"
    lines = [f"‖∂L/∂h_t‖ (batch mean) against lag T − 1 − t, T = {length}, hidden {HIDDEN}, "
             f"U = orthogonal × scale. Manual vs autodiff: max relative difference {worst:.1e}.",
             "", header, "|" + " --- |" * (len(columns) + 1)]  # fmt: skip
    for lag in lags:
        lines.append(f"| {lag} | " + " | ".join(f"{c[lag]:.2e}" for c in columns.values()) + " |")
    table = "\n".join(lines)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rnn_gradient_norms.md").write_text(table + "\n")
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), sharey=True)
    for ax, kind in zip(axes, LAYERS, strict=True):
        for scale in SCALES:
            ax.semilogy(np.maximum(columns[f"{kind} ×{scale}"], 1e-30), label=f"U scale {scale}")
        ax.set_title(kind)
        ax.set_xlabel("lag T − 1 − t")
    axes[0].set_ylabel("‖∂L/∂h_t‖")
    axes[0].set_ylim(1e-12, 1e4)
    axes[-1].legend()
    fig.tight_layout()
    fig.savefig(out / "rnn_gradient_norms.png", dpi=120)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("experiments/out"))
    args = parser.parse_args()
    main(args.length, args.out)
