"""Benchmark: forward + backward of an LSTM, batch 64, 100 steps, 32 inputs, 128 hidden.

The gradient (parameters and input) of a fixed scalar of the outputs, ``Σ sin(hs) + Σ h_T``,
through funcnet's hand-written BPTT (reverse scan, two big products for ``dW``/``dU``) is
compared with JAX autodiff of the same forward: a ``lax.scan`` over the reference cell.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.bench.registry import BenchConfig, Row, benchmark, comparison_row
from funcnet.bench.timing import time_layer_gradients
from funcnet.layers.recurrent import lstm

BATCH, STEPS, FEATURES, HIDDEN = 64, 100, 32, 128


def gradient_step(backward: str, hidden: int = HIDDEN):
    """``(params, x) -> gradients`` of a fixed scalar of the LSTM's outputs, jitted."""
    layer = lstm(hidden, return_state=True)

    def scalar(params, x):
        (hs, final), _ = layer.apply(params, (), x, backward=backward)
        return jnp.sum(jnp.sin(hs)) + jnp.sum(final.h)

    return jax.jit(jax.grad(scalar, argnums=(0, 1))), layer


@benchmark("lstm")
def lstm_benchmark(config: BenchConfig) -> list[Row]:
    x = jax.random.normal(jax.random.key(1), (BATCH, STEPS, FEATURES), jnp.float32)
    compiled, ms = time_layer_gradients(
        gradient_step, x, config.warmup, config.rounds, config.steps
    )
    return [
        comparison_row(
            f"lstm_b{BATCH}_t{STEPS}_f{FEATURES}_h{HIDDEN}",
            *compiled,
            ms,
            baseline="jax.grad of lax.scan over the reference LSTM cell",
        )
    ]
