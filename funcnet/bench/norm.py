"""Benchmark: forward + backward of batch_norm (train mode) and layer_norm on 256×1024 float32.

Each row times one jitted call of ``grad`` of ``Σ y·r`` (``r`` a fixed random array) with
respect to the input and the parameters, through the hand-written backward (``manual_*``)
and through JAX autodiff of the reference forward (``autodiff_*``). The batch-norm call also
returns its updated running statistics, as a training step would.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.bench.registry import BenchConfig, Row, benchmark, comparison_row
from funcnet.bench.timing import step_runner, time_interleaved
from funcnet.core.layer import Layer
from funcnet.layers.norm import batch_norm, layer_norm

BATCH, FEATURES = 256, 1024


def grad_step(layer: Layer, state, backward: str):
    """A jitted ``(x, params, r) -> ((dx, dparams), new_state)`` for ``Σ layer(x)·r``."""

    def value(x, params, r):
        y, new_state = layer.apply(params, state, x, train=True, backward=backward)
        return jnp.sum(y * r), new_state

    grad = jax.grad(value, argnums=(0, 1), has_aux=True)
    return jax.jit(lambda x, params, r: (grad(x, params, r),))


@benchmark("norm")
def norm_benchmark(config: BenchConfig) -> list[Row]:
    kx, kr = jax.random.split(jax.random.key(1))
    x = 3.0 * jax.random.normal(kx, (BATCH, FEATURES), jnp.float32) + 1.0
    r = jax.random.normal(kr, x.shape, jnp.float32)
    rows = []
    for name, layer in (("batch_norm", batch_norm()), ("layer_norm", layer_norm())):
        _, params, state = layer.init(jax.random.key(0), x.shape)
        compiled, runners = [], []
        for backward in ("manual", "autodiff"):
            step = grad_step(layer, state, backward)
            c, run = step_runner(step, (), (x, params, r), config.warmup)
            compiled.append(c)
            runners.append(run)
        ms = time_interleaved(runners, rounds=config.rounds, steps=config.steps)
        rows.append(comparison_row(f"{name}_{BATCH}x{FEATURES}_fwd+bwd", *compiled, ms))
    return rows
