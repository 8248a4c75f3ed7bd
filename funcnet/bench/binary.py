"""Benchmark: packed-bit inference of a binary dense layer against a float32 dense layer.

A 4096 → 4096 layer at batch 256 (``FUNCNET_BENCH_BINARY_SIZES=1024,64`` picks the width and
the batch): ``sign(x) @ sign(w)`` computed from weights packed 32 per ``uint32`` by
XOR + popcount (:mod:`funcnet.layers.binary.packed`, the input's packing included), against
``x @ w`` in float32 with the same ±1 weights. The row's ``manual_*`` fields are the packed
layer's and ``autodiff_*`` the float32 layer's, so that ``ratio = float32 ms / packed ms`` (above
1: packed is faster); ``weight_bytes_*`` give the weights' memory (32× smaller packed).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from funcnet.bench.registry import BenchConfig, Row, benchmark, comparison_row, env_sizes
from funcnet.bench.timing import function_runner, time_interleaved
from funcnet.layers.binary.packed import pack_dense, packed_dense_apply

SIZES = (4096, 256)  # width, batch


@benchmark("binary")
def binary_benchmark(config: BenchConfig) -> list[Row]:
    width, batch = env_sizes("FUNCNET_BENCH_BINARY_SIZES", SIZES, "binary bench")[:2]
    kw, kx = jax.random.split(jax.random.key(3))
    w = jnp.where(jax.random.normal(kw, (width, width)) >= 0, 1.0, -1.0).astype(jnp.float32)
    x = jnp.where(jax.random.normal(kx, (batch, width)) >= 0, 1.0, -1.0).astype(jnp.float32)
    packed = pack_dense(w)
    packed_c, run_packed = function_runner(jax.jit(packed_dense_apply), (packed, x), config.warmup)
    float_c, run_float = function_runner(jax.jit(jnp.matmul), (x, w), config.warmup)
    if not bool(jnp.array_equal(run_packed(), run_float())):  # exact, for ±1 values
        raise AssertionError("binary bench: the packed layer's outputs differ from float32's.")
    ms = time_interleaved([run_packed, run_float], rounds=config.rounds, steps=config.steps)
    extra = {
        "packed_ms": float(ms[0]),
        "float32_ms": float(ms[1]),
        "ratio_meaning": "float32_ms / packed_ms: above 1, packed bits are faster",
        "weight_bytes_packed": int(packed.bits.nbytes),
        "weight_bytes_float32": int(w.nbytes),
        "width": width,
        "batch": batch,
    }
    return [comparison_row(f"binary_dense_packed_vs_float32_{width}_b{batch}", packed_c,
                           float_c, ms, **extra)]  # fmt: skip
