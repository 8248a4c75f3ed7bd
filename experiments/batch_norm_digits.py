"""Batch norm on the digits: the MLP and the CNN, each with and without it, from one seed.

Run: python experiments/batch_norm_digits.py [--mlp-epochs 20] [--cnn-epochs 10]
Writes experiments/out/batch_norm_digits.md (per-epoch losses, final test accuracies, the
manual-vs-autodiff gradient check of the batch-norm models) and, when matplotlib is installed,
experiments/out/batch_norm_digits.png (the loss curves). Recipes (widths, Adam with cosine
decay, batch 32) are those of ``funcnet train``; only the epochs are shorter.
"""

import argparse
import pathlib
import time

import jax
from plotting import pyplot

import funcnet as fn
from funcnet import recipes
from funcnet.data.dataset import Dataset

OUT = pathlib.Path(__file__).parent / "out"
GRAD_CHECK_EXAMPLES = 16


def build(kind: str, batch_norm: bool, classes: int):
    recipe = recipes.RECIPES[("digits", kind)]
    if kind == "mlp":
        return recipe, fn.mlp(recipe.hidden_features, classes, batch_norm=batch_norm)
    model = fn.cnn(2, classes, channels=recipe.channels, kernel_size=recipe.kernel_size,
                   hidden_features=recipe.hidden_features[0], batch_norm=batch_norm)  # fmt: skip
    return recipe, model


def run(kind: str, batch_norm: bool, epochs: int, train: Dataset, test: Dataset) -> dict:
    if kind == "cnn":  # images [n, 8, 8, 1], channels last
        train, test = (Dataset(d.x.reshape(-1, 8, 8, 1), d.y) for d in (train, test))
    recipe, model = build(kind, batch_norm, classes=10)
    loss = fn.softmax_cross_entropy_with_integer_labels()
    init_key, fit_key = jax.random.split(jax.random.key(0))
    _, params, state = model.init(init_key, (recipe.batch_size, *train.x.shape[1:]))
    checks = {}
    if batch_norm:  # train mode (batch statistics) and eval mode (running statistics)
        sample = (train.x[:GRAD_CHECK_EXAMPLES], train.y[:GRAD_CHECK_EXAMPLES])
        # Eval mode is checked with the statistics after one training pass: with the initial
        # ones (mean 0, bias 0) a blank background maps to exactly 0, relu's kink.
        _, seen = model.apply(params, state, sample[0], train=True)
        for mode, stats in ((True, state), (False, seen)):
            report = fn.verify_model(model, params, stats, sample, loss, train=mode)
            report.raise_if_failed()
            case = report.cases[0]
            checks["train" if mode else "eval"] = {
                c: case.max_rel_err(c) for c in ("autodiff", "finite_differences")
            }
    start = time.perf_counter()
    result = fn.train.fit(
        model, loss, recipes.optimizer(recipe, epochs, len(train)), params, state, train,
        key=fit_key, epochs=epochs, batch_size=recipe.batch_size, eval_data=test, progress=False,
    )  # fmt: skip
    return {
        "name": f"{kind}{' + batch_norm' if batch_norm else ''}",
        "history": result.history,
        "seconds": time.perf_counter() - start,
        "checks": checks,
    }


def markdown(runs: list[dict]) -> str:
    lines = ["# Batch norm on the digits", "",
             "Final test accuracy (seed 0, Adam with cosine decay, batch 32):", "",
             "| model | epochs | final train loss | final test loss | test accuracy | train s |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in runs:
        last = r["history"][-1]
        lines.append(
            f"| {r['name']} | {last['epoch']} | {last['train_loss']:.4f} | "
            f"{last['eval_loss']:.4f} | {last['eval_accuracy']:.4f} | {r['seconds']:.1f} |"
        )
    lines += ["", "Gradient check (`verify_model`) of the batch-norm models at initialisation "
              f"(float64, {GRAD_CHECK_EXAMPLES} examples; max relative error over all parameter "
              "leaves; eval mode with the statistics after one training pass):", "",
              "| model | mode | vs autodiff | vs finite differences |",
              "|---|---|---|---|"]  # fmt: skip
    for r in runs:
        for mode, c in r["checks"].items():
            lines.append(
                f"| {r['name']} | {mode} | {c['autodiff']:.2e} | {c['finite_differences']:.2e} |"
            )
    lines += ["", "Per-epoch mean training loss / test loss:", "",
              "| epoch | " + " | ".join(r["name"] for r in runs) + " |",
              "|---" * (len(runs) + 1) + "|"]  # fmt: skip
    for i in range(max(len(r["history"]) for r in runs)):
        cells = [
            f"{r['history'][i]['train_loss']:.4f} / {r['history'][i]['eval_loss']:.4f}"
            if i < len(r["history"]) else ""
            for r in runs
        ]  # fmt: skip
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], path: pathlib.Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, kind in zip(axes, ("mlp", "cnn"), strict=True):
        for r in runs:
            if r["name"].startswith(kind):
                epochs = [h["epoch"] for h in r["history"]]
                style = "-" if "batch_norm" in r["name"] else "--"
                ax.plot(epochs, [h["train_loss"] for h in r["history"]], style,
                        label=f"{r['name']} train")  # fmt: skip
                ax.plot(epochs, [h["eval_loss"] for h in r["history"]], style, alpha=0.5,
                        label=f"{r['name']} test")  # fmt: skip
        ax.set(title=f"digits {kind}", xlabel="epoch", yscale="log")
        ax.legend()
    axes[0].set_ylabel("cross-entropy")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main(mlp_epochs: int, cnn_epochs: int) -> None:
    train, test = recipes.load("digits")
    runs = [
        run(kind, bn, epochs, train, test)
        for kind, epochs in (("mlp", mlp_epochs), ("cnn", cnn_epochs))
        for bn in (False, True)
    ]
    OUT.mkdir(exist_ok=True)
    text = markdown(runs)
    (OUT / "batch_norm_digits.md").write_text(text)
    plotted = plot(runs, OUT / "batch_norm_digits.png")
    print(text)
    print(f"wrote {OUT / 'batch_norm_digits.md'}" + (" and the .png" if plotted else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlp-epochs", type=int, default=20)
    parser.add_argument("--cnn-epochs", type=int, default=10)
    args = parser.parse_args()
    main(args.mlp_epochs, args.cnn_epochs)
