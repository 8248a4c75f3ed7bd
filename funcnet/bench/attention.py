"""Benchmark: attention forward + backward at batch 1, 8 heads, head dim 64 (float32).

For each sequence length ``N`` (512, 1024, 2048, 4096 by default; set
``FUNCNET_BENCH_ATTENTION_SIZES=512,1024`` to pick others) one compiled call computes the
output and ``(dq, dk, dv)`` for a random cotangent, three ways:

* ``attention_direct_N``: the direct op's hand-written backward (saves ``P``);
* ``attention_lean_N``: the memory-lean op (blocks of 128 keys, saves ``O`` and the row
  log-sum-exp);
* the reference, ``jax.vjp`` of the plain softmax-attention forward: the ``autodiff_*`` fields
  of both rows.

Large ``N`` runs fewer rounds (one step per round): a call costs seconds on a CPU.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.bench.registry import BenchConfig, Row, benchmark, comparison_row, env_sizes
from funcnet.bench.timing import function_runner, time_interleaved
from funcnet.layers.attention import dot_product_attention_lean_op, dot_product_attention_op

HEADS, HEAD_DIM, BLOCK = 8, 64, 128
SIZES = (512, 1024, 2048, 4096)


def sizes_from_env() -> tuple[int, ...]:
    """Sequence lengths from ``FUNCNET_BENCH_ATTENTION_SIZES`` (comma-separated), or SIZES."""
    return env_sizes("FUNCNET_BENCH_ATTENTION_SIZES", SIZES, "attention bench")


def vjp_step(fn):
    """A jitted ``(q, k, v, dy) -> (o, dq, dk, dv)`` through ``fn``."""

    def step(q, k, v, dy):
        o, pullback = jax.vjp(fn, q, k, v)
        return (o, *pullback(dy))

    return jax.jit(step)


def attention_rows(n: int, config: BenchConfig) -> list[Row]:
    """Rows for one sequence length: direct and lean, each against the autodiff reference."""
    keys = jax.random.split(jax.random.key(n), 4)
    q, k, v, dy = (jax.random.normal(key, (1, HEADS, n, HEAD_DIM), jnp.float32) for key in keys)
    direct = dot_product_attention_op(causal=False)
    lean = dot_product_attention_lean_op(causal=False, block_size=BLOCK)
    warmup = config.warmup if n <= 1024 else 1
    pairs = [
        function_runner(vjp_step(fn), (q, k, v, dy), warmup)
        for fn in (direct.manual, lean.manual, direct.forward)
    ]
    compiled, runners = [c for c, _ in pairs], [run for _, run in pairs]
    scale = max(1, n // 512) ** 2  # the work grows as N²
    rounds = max(2, config.rounds // scale)
    steps = max(1, config.steps // scale)
    ms_direct, ms_lean, ms_auto = time_interleaved(runners, rounds=rounds, steps=steps)
    extra = {
        "seq_len": n,
        "heads": HEADS,
        "head_features": HEAD_DIM,
        "rounds": rounds,
        "steps": steps,
    }
    return [
        comparison_row(f"attention_direct_N{n}", compiled[0], compiled[2], [ms_direct, ms_auto],
                       **extra),
        comparison_row(f"attention_lean_N{n}", compiled[1], compiled[2], [ms_lean, ms_auto],
                       block_size=BLOCK, **extra),
    ]  # fmt: skip


@benchmark("attention")
def attention_benchmark(config: BenchConfig) -> list[Row]:
    return [row for n in sizes_from_env() for row in attention_rows(n, config)]
