"""MNIST-1D: funcnet's MLP and CNN, trained with hand-written gradients, over three seeds.

Run: python experiments/mnist1d_seeds.py [--seeds 0 1 2] [--out experiments/out]
Each run is `funcnet train --dataset mnist1d --model {mlp,cnn} --seed S` (the gradients are
verified against autodiff and finite differences before training). Writes a Markdown table
beside the paper's figures (Greydanus 2020: logistic regression 32%, MLP 68%, CNN 94%) and,
if matplotlib is installed, a bar chart.
"""

import argparse
import statistics
from pathlib import Path

from plotting import pyplot

from funcnet.recipes import run

PAPER = {"mlp": 0.68, "cnn": 0.94}


def main(seeds: list[int], out: Path) -> None:
    rows = []
    for model in ("mlp", "cnn"):
        accs, secs = [], []
        for seed in seeds:
            result = run("mnist1d", model, seed=seed, progress=False)
            accs.append(result["test_accuracy"])
            secs.append(result["train_seconds"])
            err = result["grad_check_max_rel_err"]
            print(f"{model} seed {seed}: test accuracy {accs[-1]:.4f} ({secs[-1]:.0f} s, "
                  f"grad check {err:.1e})")  # fmt: skip
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        rows.append((model, statistics.mean(accs), spread, min(accs), max(accs), accs))
    lines = ["| model | paper | funcnet mean | std | min | max | per seed |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for model, mean, spread, lo, hi, accs in rows:
        per_seed = ", ".join(f"{a:.3f}" for a in accs)
        lines.append(f"| {model} | {PAPER[model]:.0%} | {mean:.2%} | {spread:.2%} | {lo:.2%} | "
                     f"{hi:.2%} | {per_seed} |")  # fmt: skip
    table = "\n".join(lines)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "mnist1d.md").write_text(f"MNIST-1D test accuracy, seeds {seeds}\n\n{table}\n")
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(5, 3))
    names = [r[0] for r in rows]
    ax.bar(names, [r[1] for r in rows], yerr=[r[2] for r in rows], label="funcnet (manual)")
    ax.scatter(names, [PAPER[n] for n in names], color="black", zorder=3, label="paper")
    ax.set_ylim(0, 1)
    ax.set_ylabel("test accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "mnist1d.png", dpi=120)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("experiments/out"))
    args = parser.parse_args()
    main(args.seeds, args.out)
