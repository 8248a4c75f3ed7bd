"""Benchmark: forward + backward of second-order (covariance) pooling, batch 32, float32.

For each channel count ``C`` (64 and 256 by default; ``FUNCNET_BENCH_MATRIX_SIZES=16,32`` picks
others) the features are ``[32, 2C, C]`` (``2C`` positions, so the covariance has full rank) and
one compiled call returns the pooled output and the input's gradient for a random cotangent:

* ``covariance_pool_sqrt_eig_C``: the matrix square root through the eigendecomposition with
  the hand-written Daleckii–Krein backward (``manual_*``);
* ``covariance_pool_newton_schulz5_C``: five Newton–Schulz iterations with the hand-written
  backward through them (``manual_*``); ``autodiff_newton_schulz_*`` is JAX autodiff through
  the same iterations;
* in both rows ``autodiff_*`` is the reference: the eigendecomposition square root
  differentiated by JAX autodiff through ``jnp.linalg.eigh``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.bench.registry import BenchConfig, Row, benchmark, comparison_row, env_sizes
from funcnet.bench.timing import function_runner, time_interleaved
from funcnet.layers.matrix import covariance_pool

BATCH = 32
SIZES = (64, 256)


def sizes_from_env() -> tuple[int, ...]:
    """Channel counts from ``FUNCNET_BENCH_MATRIX_SIZES`` (comma-separated), or SIZES."""
    return env_sizes("FUNCNET_BENCH_MATRIX_SIZES", SIZES, "matrix bench")


def pool_vjp(normalization: str, backward: str):
    """A jitted ``(x, dy) -> (y, dx)`` through covariance pooling."""
    layer = covariance_pool(normalization)

    def step(x, dy):
        y, pullback = jax.vjp(lambda x: layer.apply((), (), x, backward=backward)[0], x)
        return y, pullback(dy)[0]

    return jax.jit(step)


def matrix_rows(c: int, config: BenchConfig) -> list[Row]:
    """Rows for one channel count: eig-based sqrt and Newton–Schulz against autodiff."""
    kx, kd = jax.random.split(jax.random.key(c))
    x = jax.random.normal(kx, (BATCH, 2 * c, c), jnp.float32)
    dy = jax.random.normal(kd, (BATCH, c * (c + 1) // 2), jnp.float32)
    scale = max(1, c // 64) ** 2  # eigh's work grows as C³; keep big sizes to a few rounds
    rounds, steps = max(2, config.rounds // scale), max(1, config.steps // scale)
    warmup = config.warmup if c <= 64 else 1
    methods = [("sqrt", "manual"), ("newton_schulz", "manual"), ("sqrt", "autodiff"),
               ("newton_schulz", "autodiff")]  # fmt: skip
    pairs = [function_runner(pool_vjp(n, b), (x, dy), warmup) for n, b in methods]
    compiled, runners = [p[0] for p in pairs], [p[1] for p in pairs]
    eig_ms, ns_ms, auto_ms, auto_ns_ms = time_interleaved(runners, rounds=rounds, steps=steps)
    extra = {"channels": c, "positions": 2 * c, "batch": BATCH, "rounds": rounds, "steps": steps}
    return [
        comparison_row(f"covariance_pool_sqrt_eig_C{c}", compiled[0], compiled[2],
                       [eig_ms, auto_ms], **extra),
        comparison_row(f"covariance_pool_newton_schulz5_C{c}", compiled[1], compiled[2],
                       [ns_ms, auto_ms], autodiff_newton_schulz_ms=auto_ns_ms,
                       autodiff_newton_schulz_temp_bytes=compiled[3].temp_bytes, **extra),
    ]  # fmt: skip


@benchmark("matrix")
def matrix_benchmark(config: BenchConfig) -> list[Row]:
    return [row for c in sizes_from_env() for row in matrix_rows(c, config)]
