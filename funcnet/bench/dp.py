"""Benchmark: a DP-SGD step by ghost clipping against a plain training step and the vmap path.

Three steps of the same model, optimizer (SGD) and batch, timed in interleaved rounds:

* ``dp``: :func:`~funcnet.train.make_dp_sgd_train_step` (per-example norms from the ops'
  backward, one forward and two backward passes, Gaussian noise);
* ``plain``: :func:`~funcnet.train.make_train_step` (no clipping, no noise);
* ``vmap``: :func:`~funcnet.train.make_per_example_train_step` with
  ``optax.contrib.differentially_private_aggregate`` (every per-example gradient formed by
  ``jax.vmap`` of the manual backward, then clipped, summed and noised).

Rows: ``model, dp_ms, plain_ms, time_ratio`` (dp/plain), ``dp_temp_bytes, plain_temp_bytes,
memory_ratio`` (dp/plain, XLA's compiled temporary memory), ``vmap_ms, vmap_temp_bytes`` and
``speedup_over_vmap`` (vmap/dp), and the same DP step without noise, ``clip_only_ms`` and its
ratios (``noise_multiplier=0``): drawing ``N(0, σ²C²)`` for every parameter is a cost of DP-SGD
however the clipping is done (threefry bits, ~10 ms for the MLP's 663,050 parameters on the
2-core machine), which this separates from the clipping's. Models: the MLP 784-512-512-10 at
batch 128, the digits CNN (8×8×1, conv 32 and 64, dense 128) at batch 64 and a character
transformer (context 64, width 64, 4 heads, 2 blocks, vocabulary 97) at batch 16, on synthetic
data.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from funcnet.bench.registry import BenchConfig, Row, benchmark
from funcnet.bench.timing import step_runner, time_interleaved
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import cnn, mlp, transformer_lm
from funcnet.train import make_dp_sgd_train_step, make_per_example_train_step, make_train_step

CLIP, NOISE, LEARNING_RATE = 1.0, 1.0, 0.05


def _models():
    """``(name, model, x, t)`` per benchmarked model."""
    kx, kt = jax.random.split(jax.random.key(1))
    normal = lambda shape: jax.random.normal(kx, shape, jnp.float32)  # noqa: E731
    labels = lambda shape, n: jax.random.randint(kt, shape, 0, n, jnp.int32)  # noqa: E731
    return [
        ("mlp_784-512-512-10_b128", mlp((512, 512), 10), normal((128, 784)), labels((128,), 10)),
        ("digits_cnn_b64", cnn(2, 10, channels=(32, 64), hidden_features=128),
         normal((64, 8, 8, 1)), labels((64,), 10)),
        ("char_transformer_t64_b16", transformer_lm(97, context=64, features=64, num_heads=4,
                                                    num_blocks=2),
         labels((16, 64), 97), labels((16, 64), 97)),
    ]  # fmt: skip


def _runners(model, x, t, warmup: int):
    loss = softmax_cross_entropy_with_integer_labels()
    sgd = optax.sgd(LEARNING_RATE)
    _, params, state = model.init(jax.random.key(0), x.shape)
    private = optax.chain(
        optax.contrib.differentially_private_aggregate(CLIP, NOISE, jax.random.key(2)), sgd
    )
    steps = {
        "dp": (make_dp_sgd_train_step(model, loss, sgd, l2_clip=CLIP, noise_multiplier=NOISE),
               sgd, jax.random.key(3)),
        "clip": (make_dp_sgd_train_step(model, loss, sgd, l2_clip=CLIP, noise_multiplier=0.0),
                 sgd, None),
        "plain": (make_train_step(model, loss, sgd), sgd, None),
        "vmap": (make_per_example_train_step(model, loss, private), private, None),
    }  # fmt: skip
    runners = {}
    for side, (step, optimizer, key) in steps.items():
        carry = jax.tree.map(jnp.copy, (params, state, optimizer.init(params)))
        runners[side] = step_runner(step, carry, ((x, t), key), warmup)
    return runners


@benchmark("dp")
def dp_benchmark(config: BenchConfig) -> list[Row]:
    return dp_rows(_models(), config)


def dp_rows(models: list[tuple], config: BenchConfig) -> list[Row]:
    """One row per ``(name, model, x, t)`` of ``models`` (the benchmark's are :func:`_models`)."""
    rows = []
    for name, model, x, t in models:
        runners = _runners(model, x, t, config.warmup)
        ms = time_interleaved([r[1] for r in runners.values()], rounds=config.rounds,
                              steps=config.steps)  # fmt: skip
        times = dict(zip(runners, ms, strict=True))
        memory = {side: r[0].temp_bytes for side, r in runners.items()}
        rows.append({
            "model": name,
            "dp_ms": float(times["dp"]),
            "plain_ms": float(times["plain"]),
            "time_ratio": times["dp"] / times["plain"],
            "dp_temp_bytes": memory["dp"],
            "plain_temp_bytes": memory["plain"],
            "memory_ratio": memory["dp"] / memory["plain"],
            "clip_only_ms": float(times["clip"]),
            "clip_only_time_ratio": times["clip"] / times["plain"],
            "clip_only_temp_bytes": memory["clip"],
            "clip_only_memory_ratio": memory["clip"] / memory["plain"],
            "vmap_ms": float(times["vmap"]),
            "vmap_temp_bytes": memory["vmap"],
            "speedup_over_vmap": times["vmap"] / times["dp"],
            "memory_ratio_over_vmap": memory["dp"] / memory["vmap"],
            "dp_compile_s": runners["dp"][0].compile_s,
            "plain_compile_s": runners["plain"][0].compile_s,
            "rounds": config.rounds,
        })  # fmt: skip
    return rows
