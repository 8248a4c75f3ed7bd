"""Benchmark: one SGD training step of the MLP 784-512-512-10 at batch 128 (synthetic data)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from funcnet.bench.registry import BenchConfig, Row, benchmark, comparison_row
from funcnet.bench.timing import time_interleaved, train_step_runner
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp

BATCH, INPUTS, HIDDEN, CLASSES = 128, 784, (512, 512), 10


@benchmark("mlp")
def mlp_benchmark(config: BenchConfig) -> list[Row]:
    kx, ky = jax.random.split(jax.random.key(1))
    batch = (
        jax.random.normal(kx, (BATCH, INPUTS), jnp.float32),
        jax.random.randint(ky, (BATCH,), 0, CLASSES, dtype=jnp.int32),
    )
    model = mlp(HIDDEN, CLASSES)
    loss = softmax_cross_entropy_with_integer_labels()
    optimizer = optax.sgd(1e-2)
    manual, run_manual = train_step_runner(model, loss, optimizer, batch, "manual", config.warmup)
    autodiff, run_autodiff = train_step_runner(
        model, loss, optimizer, batch, "autodiff", config.warmup
    )
    ms = time_interleaved([run_manual, run_autodiff], rounds=config.rounds, steps=config.steps)
    return [comparison_row("mlp_784-512-512-10_b128", manual, autodiff, ms)]
