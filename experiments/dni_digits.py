"""Decoupled neural interfaces on the digits or MNIST-1D: backprop vs DNI vs cDNI, 3 seeds.

An MLP with three hidden layers and a decoupling interface after each (linear predictors,
zero-initialised, as in Jaderberg et al. 2017). "backprop" is the same network with
bp_lambda = 1 (exact backprop). Per epoch the cosine between each interface's synthetic gradient
and the true (backprop) gradient is measured on 256 training examples.

Run: nice -n 10 python experiments/dni_digits.py [--dataset digits|mnist1d] [--epochs 20]
[--seeds 3]. Writes experiments/out/dni_<dataset>.md and, with matplotlib,
experiments/out/dni_<dataset>.png.
"""

import argparse
import pathlib
import time

import jax
import numpy as np
import optax
from plotting import pyplot

import funcnet as fn
from funcnet import dni

OUT = pathlib.Path(__file__).parent / "out"
HIDDEN = (128, 128, 128)
VARIANTS = {"backprop": (False, 1.0), "dni": (False, 0.0), "cdni": (True, 0.0)}
DATASETS = {"digits": ("the digits", fn.data.digits), "mnist1d": ("MNIST-1D", fn.data.mnist1d)}


def run(variant: str, seed: int, epochs: int, batch_size: int, lr: float, train, test) -> dict:
    conditioned, bp_lambda = VARIANTS[variant]
    model = dni.decoupled_mlp(HIDDEN, 10, conditioned=conditioned, bp_lambda=bp_lambda)
    init_key, fit_key = jax.random.split(jax.random.key(seed))
    params = dni.init_decoupled(model, init_key, (batch_size, train.x.shape[1]))
    steps = epochs * (len(train) // batch_size)
    optimizer = optax.adam(optax.cosine_decay_schedule(lr, steps))
    start = time.perf_counter()
    _, history = dni.fit_decoupled(
        model, params, optimizer, train, key=fit_key, epochs=epochs, batch_size=batch_size,
        eval_data=test, cosine_examples=256,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    return {"history": history, "seconds": seconds, "accuracy": history[-1]["eval_accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="digits")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    title, load = DATASETS[args.dataset]
    train, test = load()
    results = {
        (v, s): run(v, s, args.epochs, args.batch_size, args.lr, train, test)
        for v in VARIANTS
        for s in range(args.seeds)
    }
    lines = [
        f"# Decoupled neural interfaces on {title}",
        "",
        f"MLP {HIDDEN} (relu), an interface after every hidden layer, linear predictors; Adam "
        f"{args.lr} with cosine decay, batch {args.batch_size}, {args.epochs} epochs, seeds "
        f"0..{args.seeds - 1}. {title}: {len(train)} training, {len(test)} test examples. "
        f"Script: experiments/dni_digits.py --dataset {args.dataset}.",
        "",
        "| model | test accuracy (mean ± std) | per seed | train s/run |",
        "|---|---|---|---|",
    ]
    for v in VARIANTS:
        accs = np.array([results[(v, s)]["accuracy"] for s in range(args.seeds)]) * 100
        secs = np.mean([results[(v, s)]["seconds"] for s in range(args.seeds)])
        per = ", ".join(f"{a:.2f}" for a in accs)
        lines.append(f"| {v} | {accs.mean():.2f} ± {accs.std():.2f} | {per} | {secs:.1f} |")
    bp = np.mean([results[("backprop", s)]["accuracy"] for s in range(args.seeds)]) * 100
    cd = np.mean([results[("cdni", s)]["accuracy"] for s in range(args.seeds)]) * 100
    verdict = "met" if bp - cd <= 1.5 else "NOT met"
    if args.dataset == "digits":  # the issue sets the target on the digits only
        gap = f"Target (cDNI within 1.5 points of backprop): gap {bp - cd:.2f} points, {verdict}."
    else:
        gap = f"cDNI is {bp - cd:.2f} points below backprop (no target set: reported as measured)."
    lines += ["", gap]
    lines += ["", "## Cosine between synthetic and true gradients (mean over seeds)", ""]
    marks = sorted({1, 2, 5, 10, args.epochs} & set(range(1, args.epochs + 1)))
    lines += ["| model | interface | " + " | ".join(f"epoch {e}" for e in marks) + " |"]
    lines += ["|---|---|" + "---|" * len(marks)]
    for v in ("dni", "cdni", "backprop"):
        for k in range(len(HIDDEN)):
            cos = [np.mean([results[(v, s)]["history"][e - 1][f"cosine_{k}"]
                            for s in range(args.seeds)]) for e in marks]  # fmt: skip
            lines.append(f"| {v} | {k} | " + " | ".join(f"{c:.3f}" for c in cos) + " |")
    lines += [
        "",
        "Under backprop (bp_lambda = 1) the predictors are neither used nor trained, so their "
        "cosine stays 0: the row is the control.",
    ]
    OUT.mkdir(exist_ok=True)
    (OUT / f"dni_{args.dataset}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plt = pyplot()
    if plt is not None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
        for ax, v in zip(axes, ("dni", "cdni"), strict=True):
            for k in range(len(HIDDEN)):
                curve = np.mean([[row[f"cosine_{k}"] for row in results[(v, s)]["history"]]
                                 for s in range(args.seeds)], axis=0)  # fmt: skip
                ax.plot(range(1, args.epochs + 1), curve, label=f"interface {k}")
            ax.set(title=v, xlabel="epoch", ylabel="cosine(synthetic, true)")
            ax.legend()
        fig.tight_layout()
        fig.savefig(OUT / f"dni_{args.dataset}.png", dpi=120)


if __name__ == "__main__":
    main()
