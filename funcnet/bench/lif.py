"""Benchmark: forward + backward of a LIF layer, batch 64, 100 steps, 32 inputs, 128 neurons.

The gradient (parameters and input) of a fixed scalar of the spike trains, ``Σ_t c_t S[t]``,
through funcnet's hand-written surrogate BPTT (the generic reverse scan over the LIF cell) is
compared with JAX autodiff of the gradient reference: a ``lax.scan`` over the LIF step with
the spike written ``g(u) + stop_gradient(H(u) − g(u))`` (the same surrogate gradient).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.bench.registry import BenchConfig, Row, benchmark, comparison_row
from funcnet.bench.timing import time_layer_gradients
from funcnet.layers.spiking import lif

BATCH, STEPS, FEATURES, HIDDEN = 64, 100, 32, 128


def gradient_step(backward: str, hidden: int = HIDDEN):
    """``(params, x) -> gradients`` of a fixed scalar of the LIF layer's spikes, jitted."""
    layer = lif(hidden, threshold=0.5)
    weights = jnp.linspace(0.0, 1.0, STEPS)[:, None]

    def scalar(params, x):
        spikes, _ = layer.apply(params, (), x, backward=backward)
        return jnp.sum(spikes * weights[None])

    return jax.jit(jax.grad(scalar, argnums=(0, 1))), layer


@benchmark("lif")
def lif_benchmark(config: BenchConfig) -> list[Row]:
    x = jax.random.uniform(jax.random.key(1), (BATCH, STEPS, FEATURES), jnp.float32)
    compiled, ms = time_layer_gradients(
        gradient_step, x, config.warmup, config.rounds, config.steps
    )
    return [
        comparison_row(
            f"lif_b{BATCH}_t{STEPS}_f{FEATURES}_h{HIDDEN}",
            *compiled,
            ms,
            baseline="jax.grad of lax.scan over the LIF step with the surrogate's stop_gradient",
        )
    ]
