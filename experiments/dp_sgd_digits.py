"""DP-SGD on the digits with hand-written per-example gradients.

Run: python experiments/dp_sgd_digits.py [--epochs 40] [--noise 0 0.5 1 2] [--seeds 0 1 2]

Each step computes one gradient per example (``jax.vmap`` of the manual backward), and optax's
``contrib.differentially_private_aggregate`` clips each to global norm C, sums them, adds
Gaussian noise of standard deviation σ·C and divides by the batch size (Abadi et al., 2016);
SGD with momentum applies the result. Reports the test accuracy for each noise multiplier σ
next to ordinary (non-private) SGD on the same model, batches and schedule.

No privacy budget (ε, δ) is computed here: that needs an accountant (e.g. the ``dp_accounting``
package) and Poisson-sampled batches, whereas these batches are shuffled partitions of the data.
"""

import argparse
import statistics

import jax
import optax

import funcnet as fn

BATCH, CLIP, LEARNING_RATE, MOMENTUM = 64, 1.0, 0.1, 0.9


def train(noise: float | None, epochs: int, seed: int) -> float:
    """Test accuracy after training; ``noise=None`` is plain SGD without clipping or noise."""
    train_data, test_data = fn.data.digits()
    model = fn.mlp((256,), 10)
    loss = fn.softmax_cross_entropy_with_integer_labels()
    init_key, order_key, noise_key = jax.random.split(jax.random.key(seed), 3)
    _, params, state = model.init(init_key, (BATCH, train_data.x.shape[1]))
    steps_per_epoch = len(train_data) // BATCH
    sgd = optax.sgd(
        optax.cosine_decay_schedule(LEARNING_RATE, epochs * steps_per_epoch), momentum=MOMENTUM
    )
    if noise is None:
        optimizer, step = sgd, fn.make_train_step(model, loss, sgd)
    else:
        private = optax.contrib.differentially_private_aggregate(CLIP, noise, noise_key)
        optimizer = optax.chain(private, sgd)
        step = fn.train.make_per_example_train_step(model, loss, optimizer)
    opt_state = optimizer.init(params)
    for epoch in range(epochs):
        order = jax.random.fold_in(order_key, epoch)
        for batch in fn.data.batches(train_data, BATCH, key=order, drop_remainder=True):
            params, state, opt_state, _ = step(params, state, opt_state, batch, None)
    metrics = fn.train.evaluate(fn.make_eval_step(model, loss), params, state, test_data, 256)
    return metrics["accuracy"]


def main(epochs: int, noises: list[float], seeds: list[int]) -> None:
    print(f"digits MLP 64-256-10, batch {BATCH}, clip C = {CLIP}, {epochs} epochs, "
          f"seeds {seeds}")  # fmt: skip
    print("noise multiplier σ | test accuracy (mean, min–max over seeds)")
    for noise in [None, *noises]:
        accuracies = [train(noise, epochs, seed) for seed in seeds]
        label = "no DP (plain SGD)" if noise is None else f"σ = {noise:g}"
        print(f"{label:>18} | {statistics.mean(accuracies):.2%} "
              f"({min(accuracies):.2%}–{max(accuracies):.2%})")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    main(args.epochs, args.noise, args.seeds)
