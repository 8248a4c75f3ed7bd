"""Binary networks on the digits (and MNIST-1D): full precision vs BinaryConnect vs BNN vs XNOR,
Adam on latent weights (clipped, BinaryConnect) vs Bop, 3 seeds each.

Run: python experiments/binary_digits.py [--epochs 10] [--seeds 0 1 2] [--datasets digits]
Writes experiments/out/binary_<datasets>.md (test accuracy, mean ± std over seeds) and, when
matplotlib is installed, experiments/out/binary_<datasets>.png (test accuracy per epoch, seed 0),
e.g. binary_digits.md.
MLPs with two hidden layers of 512 (the recipes of ``funcnet train --model bnn``), batch norm
after every hidden layer, Adam (learning rate 1e-2, cosine decay), batch 32.
"""

import argparse
import pathlib
import statistics
import time

import jax
import optax
from plotting import pyplot

import funcnet as fn
from funcnet import recipes
from funcnet.layers.binary import bop_with, clip_latent_weights, ede_sign_op, ste_sign_op
from funcnet.models import binary_mlp

OUT = pathlib.Path(__file__).parent / "out"
HIDDEN, LR, BATCH = (512, 512), 1e-2, 32
BOP = {"threshold": 1e-6, "gamma": 1e-3}


def adam(epochs: int, steps: int) -> optax.GradientTransformation:
    return optax.adam(optax.cosine_decay_schedule(LR, epochs * steps))


CONFIGS = {  # name -> (model, optimizer(epochs, steps))
    "full precision": (lambda n: fn.mlp(HIDDEN, n, batch_norm=True), adam),
    "BinaryConnect": (lambda n: binary_mlp(HIDDEN, n),
                      lambda e, s: optax.chain(adam(e, s), clip_latent_weights())),
    "BNN (Adam)": (lambda n: binary_mlp(HIDDEN, n, quantizer=ste_sign_op()),
                   lambda e, s: optax.chain(adam(e, s), clip_latent_weights())),
    "BNN (Bop)": (lambda n: binary_mlp(HIDDEN, n, quantizer=ste_sign_op()),
                  lambda e, s: bop_with(adam(e, s), **BOP)),
    "XNOR (Adam)": (lambda n: binary_mlp(HIDDEN, n, quantizer=ste_sign_op(), xnor_scale=True),
                    lambda e, s: optax.chain(adam(e, s), clip_latent_weights())),
    # IR-Net: Libra-PB balanced weights and the EDE at a fixed progress of 0.5 (t = 1, k = 1;
    # the op is static, so the paper's schedule would rebuild the model every epoch)
    "IR-Net (Adam)": (lambda n: binary_mlp(HIDDEN, n, quantizer=ede_sign_op(0.5),
                                        balance_weights=True),
                      lambda e, s: optax.chain(adam(e, s), clip_latent_weights())),
}  # fmt: skip


def run(name: str, dataset: str, seed: int, epochs: int) -> dict:
    train, test = recipes.load(dataset)
    make_model, make_opt = CONFIGS[name]
    model = make_model(int(train.y.max()) + 1)
    init_key, fit_key = jax.random.split(jax.random.key(seed))
    _, params, state = model.init(init_key, (BATCH, *train.x.shape[1:]))
    start = time.perf_counter()
    result = fn.train.fit(
        model, fn.softmax_cross_entropy_with_integer_labels(),
        make_opt(epochs, len(train) // BATCH), params, state, train, key=fit_key, epochs=epochs,
        batch_size=BATCH, eval_data=test, progress=False,
    )  # fmt: skip
    return {"name": name, "dataset": dataset, "seed": seed, "history": result.history,
            "accuracy": result.history[-1]["eval_accuracy"],
            "seconds": time.perf_counter() - start}  # fmt: skip


def markdown(runs: list[dict], epochs: int) -> str:
    seeds = sorted({r["seed"] for r in runs})
    lines = ["# Binary networks on the digits and MNIST-1D", "",
             f"Test accuracy after {epochs} epochs, mean ± std over seeds {seeds} (MLP "
             f"{HIDDEN}, batch norm, Adam {LR} with cosine decay, batch {BATCH}; Bop "
             f"τ = {BOP['threshold']:g}, γ = {BOP['gamma']:g} on the binary weights, Adam on "
             "the rest). BNN, XNOR and IR-Net keep the first and last layer real; IR-Net is "
             "the BNN with Libra-PB balanced weights and the EDE at a fixed progress 0.5.", "",
             "| dataset | model | test accuracy | per seed | train s (mean) |",
             "|---|---|---|---|---|"]  # fmt: skip
    for dataset in dict.fromkeys(r["dataset"] for r in runs):
        for name in CONFIGS:
            mine = [r for r in runs if r["dataset"] == dataset and r["name"] == name]
            if not mine:
                continue
            acc = [r["accuracy"] for r in mine]
            spread = statistics.stdev(acc) if len(acc) > 1 else 0.0
            per_seed = ", ".join(f"{a:.4f}" for a in acc)
            seconds = statistics.mean(r["seconds"] for r in mine)
            lines.append(f"| {dataset} | {name} | {statistics.mean(acc):.4f} ± {spread:.4f} | "
                         f"{per_seed} | {seconds:.1f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], path: pathlib.Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    datasets = list(dict.fromkeys(r["dataset"] for r in runs))
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for r in runs:
            if r["dataset"] == dataset and r["seed"] == runs[0]["seed"]:
                h = r["history"]
                ax.plot([e["epoch"] for e in h], [e["eval_accuracy"] for e in h], label=r["name"])
        ax.set(title=f"{dataset} (seed {runs[0]['seed']})", xlabel="epoch",
               ylabel="test accuracy", ylim=(0.5, 1.0))  # fmt: skip
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main(epochs: int, seeds: list[int], datasets: list[str]) -> None:
    runs = []
    for dataset in datasets:
        for name in CONFIGS:
            for seed in seeds:
                runs.append(run(name, dataset, seed, epochs))
                print(dataset, name, seed, f"{runs[-1]['accuracy']:.4f}", flush=True)
    OUT.mkdir(exist_ok=True)
    text, name = markdown(runs, epochs), "binary_" + "_".join(datasets)
    (OUT / f"{name}.md").write_text(text)
    plotted = plot(runs, OUT / f"{name}.png")
    print(text)
    print(f"wrote {OUT / name}.md" + (" and the .png" if plotted else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=["digits"])
    args = parser.parse_args()
    main(args.epochs, args.seeds, args.datasets)
