"""The straight-through estimator's variants on one BNN (digits): accuracy, and how far each
intended gradient is from the gradient of a smooth relaxation of the network.

Run: python experiments/ste_variants.py [--epochs 10] [--seeds 0 1 2]
Writes experiments/out/ste_variants.md and, with matplotlib, experiments/out/ste_variants.png.
The BNN is ``binary_mlp((512, 512), 10, quantizer=q)`` (first and last layer real, the hidden
binary layer's weights through ``ste_sign``), trained with Adam (1e-2, cosine) and the latent
weights clipped to [−1, 1]. The mismatch: the cosine between the model's gradient (manual
backward, the quantiser's intended gradient) and the exact gradient of the *relaxed* network
in which every activation quantiser is replaced by ``tanh(βx)``, β = 5, at the same parameters
and batch (256 training examples, batch statistics), at initialisation and after training.
"""

import argparse
import pathlib
import statistics

import jax
import jax.numpy as jnp
import numpy as np
import optax
from plotting import pyplot

import funcnet as fn
from funcnet import recipes
from funcnet.core.op import make_op
from funcnet.layers.binary import (
    approx_sign_op,
    clip_latent_weights,
    ede_sign_op,
    ste_sign_op,
    swish_sign_op,
)
from funcnet.models import binary_mlp

OUT = pathlib.Path(__file__).parent / "out"
HIDDEN, LR, BATCH, BETA = (512, 512), 1e-2, 32, 5.0
QUANTIZERS = {
    "ste_sign": ste_sign_op,
    "approx_sign": approx_sign_op,
    "swish_sign (β=5)": swish_sign_op,
    "ede_sign (progress 0.5)": lambda: ede_sign_op(0.5),
}


def tanh_relaxation():
    """``x -> tanh(βx)`` with its exact derivative (the smooth network's activation)."""

    def fwd(x):
        y = jnp.tanh(BETA * x)
        return y, (y,)

    def bwd(res, dy):
        # dx = β dy ⊙ (1 − y²)
        (y,) = res
        return (BETA * dy * (1 - y) * (1 + y),)

    return make_op("tanh_relaxation", lambda x: jnp.tanh(BETA * x), fwd, bwd)


def cosine(params, state, batch, quantizer) -> float:
    loss = fn.softmax_cross_entropy_with_integer_labels()
    x, y = batch

    def objective(model):
        def f(p):
            return loss(model.apply(p, state, x, train=True)[0], y)

        return jax.grad(f)(params)

    g = objective(binary_mlp(HIDDEN, 10, quantizer=quantizer))
    r = objective(binary_mlp(HIDDEN, 10, quantizer=tanh_relaxation()))
    a, b = (np.concatenate([np.ravel(v) for v in jax.tree.leaves(t)]) for t in (g, r))
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def run(name: str, seed: int, epochs: int, train, test) -> dict:
    quantizer = QUANTIZERS[name]()
    model = binary_mlp(HIDDEN, 10, quantizer=quantizer)
    init_key, fit_key = jax.random.split(jax.random.key(seed))
    _, params, state = model.init(init_key, (BATCH, *train.x.shape[1:]))
    batch = (train.x[:256], train.y[:256])
    cos_init = cosine(params, state, batch, quantizer)
    opt = optax.chain(optax.adam(optax.cosine_decay_schedule(LR, epochs * (len(train) // BATCH))),
                      clip_latent_weights())  # fmt: skip
    result = fn.train.fit(
        model, fn.softmax_cross_entropy_with_integer_labels(), opt, params, state, train,
        key=fit_key, epochs=epochs, batch_size=BATCH, eval_data=test, progress=False,
    )  # fmt: skip
    cos_end = cosine(result.params, result.state, batch, quantizer)
    return {"name": name, "seed": seed, "history": result.history,
            "accuracy": result.history[-1]["eval_accuracy"], "cos_init": cos_init,
            "cos_end": cos_end}  # fmt: skip


def _mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {spread:.4f}"


def markdown(runs: list[dict], epochs: int) -> str:
    seeds = sorted({r["seed"] for r in runs})
    lines = ["# STE variants on a BNN (digits)", "",
             f"binary_mlp {HIDDEN} (BNN), {epochs} epochs, seeds {seeds}: test accuracy, and the "
             "cosine between the intended gradient and the exact gradient of the network relaxed "
             f"to tanh({BETA:g}x) activations (all parameters, 256 training examples), mean ± std "
             "over seeds.", "",
             "| quantiser | test accuracy | cosine at init | cosine after training |",
             "|---|---|---|---|"]  # fmt: skip
    for name in QUANTIZERS:
        mine = [r for r in runs if r["name"] == name]
        cells = [_mean_std([r[k] for r in mine]) for k in ("accuracy", "cos_init", "cos_end")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], path: pathlib.Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        if r["seed"] == runs[0]["seed"]:
            h = r["history"]
            ax.plot([e["epoch"] for e in h], [e["eval_accuracy"] for e in h], label=r["name"])
    ax.set(title="BNN on digits: STE variants", xlabel="epoch", ylabel="test accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main(epochs: int, seeds: list[int]) -> None:
    train, test = recipes.load("digits")
    runs = []
    for name in QUANTIZERS:
        for seed in seeds:
            runs.append(run(name, seed, epochs, train, test))
            r = runs[-1]
            print(name, seed, f"{r['accuracy']:.4f} {r['cos_init']:.3f} {r['cos_end']:.3f}",
                  flush=True)  # fmt: skip
    OUT.mkdir(exist_ok=True)
    text = markdown(runs, epochs)
    (OUT / "ste_variants.md").write_text(text)
    plotted = plot(runs, OUT / "ste_variants.png")
    print(text)
    print(f"wrote {OUT / 'ste_variants.md'}" + (" and the .png" if plotted else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    main(args.epochs, args.seeds)
