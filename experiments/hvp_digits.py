"""Hessian–vector products on the digits MLP and CNN, four ways: agreement and time.

Run: python experiments/hvp_digits.py [--epochs 5] [--directions 5]

The MLP 64-128-10 and the CNN (8×8×1, conv 32 and 64, dense 128) are first trained for a few
epochs on the digits (so the Hessian is that of a network in training, not at its random
start). At the trained parameters, on a batch of 128 training images, for ``--directions``
random directions ``v`` in float64, the Hessian–vector product of the softmax cross-entropy is
computed forward-over-reverse through the hand-written JVPs (``manual_jvp``),
forward-over-reverse through the hand-written backward (``manual``), reverse-over-reverse
through the hand-written backward, and by JAX autodiff of the reference forwards; the table
gives the largest relative difference from autodiff's over the directions (the claim:
≤ 1e-10), then the float32 time per product of each (``funcnet.bench.hvp``'s rows on the same
batch).
"""

import argparse

import jax
import jax.numpy as jnp
import optax
import optax.tree_utils as otu

import funcnet as fn
from funcnet.bench.hvp import WAYS, hvp_functions, hvp_rows
from funcnet.bench.registry import BenchConfig

BATCH = 128


def trained(model, images: bool, epochs: int):
    train_data, _ = fn.data.digits(images=images)
    loss = fn.softmax_cross_entropy_with_integer_labels()
    _, params, state = model.init(jax.random.key(0), (BATCH, *train_data.x.shape[1:]))
    result = fn.train.fit(model, loss, optax.adam(1e-3), params, state, train_data,
                          key=jax.random.key(1), epochs=epochs, batch_size=64,
                          progress=False)  # fmt: skip
    return result.params, jnp.asarray(train_data.x[:BATCH]), jnp.asarray(train_data.y[:BATCH])


def agreement(model, params, x, t, directions: int) -> dict[str, float]:
    with jax.enable_x64(True):
        params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
        x = x.astype(jnp.float64)
        functions = {w: jax.jit(f) for w, f in hvp_functions(model, x, t).items()}
        worst = dict.fromkeys(WAYS, 0.0)
        for k in range(directions):
            v = otu.tree_random_like(jax.random.key(10 + k), params)
            products = {way: f(params, v) for way, f in functions.items()}
            ref = jax.tree.leaves(products["autodiff"])
            scale = max(float(jnp.max(jnp.abs(r))) for r in ref)
            for way, hv in products.items():
                diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in
                           zip(jax.tree.leaves(hv), ref, strict=True))  # fmt: skip
                worst[way] = max(worst[way], diff / scale)
        return worst


def main(epochs: int, directions: int) -> None:
    models = [
        ("digits MLP 64-128-10", fn.mlp((128,), 10), False),
        ("digits CNN 8×8, conv 32/64, dense 128",
         fn.cnn(2, 10, channels=(32, 64), hidden_features=128), True),
    ]  # fmt: skip
    print(f"trained {epochs} epochs (Adam 1e-3); batch {BATCH}; {directions} directions")
    print(
        "| model | way | max rel. diff. from autodiff (float64) | ms per HVP (float32) | "
        "speed-up over autodiff | temp MB |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, model, images in models:
        params, x, t = trained(model, images, epochs)
        errors = agreement(model, params, x, t, directions)
        (row,) = hvp_rows([(name, model, x, t)], BenchConfig(rounds=9, steps=5, warmup=2))
        for way in WAYS:
            megabytes = row[f"{way}_temp_bytes"] / 2**20
            print(f"| {name} | {way} | {errors[way]:.1e} | {row[f'{way}_ms']:.2f} | "
                  f"{row[f'{way}_speedup']:.2f} | {megabytes:.1f} |")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--directions", type=int, default=5)
    args = parser.parse_args()
    main(args.epochs, args.directions)
