"""The attention benchmark: registered, sizes configurable, and the timed calls agree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.bench.attention import attention_benchmark, sizes_from_env, vjp_step
from funcnet.bench.registry import BenchConfig, benchmark_names
from funcnet.layers.attention import dot_product_attention_lean_op, dot_product_attention_op


def test_sizes_come_from_the_environment(monkeypatch):
    assert "attention" in benchmark_names()
    assert sizes_from_env() == (512, 1024, 2048, 4096)
    monkeypatch.setenv("FUNCNET_BENCH_ATTENTION_SIZES", "64, 128")
    assert sizes_from_env() == (64, 128)
    monkeypatch.setenv("FUNCNET_BENCH_ATTENTION_SIZES", "big")
    with pytest.raises(ValueError, match="attention bench: expected FUNCNET_BENCH_ATTENTION_SIZES"):
        sizes_from_env()


def test_the_timed_calls_agree():
    q, k, v, dy = (jax.random.normal(key, (1, 2, 40, 8)) for key in jax.random.split(
        jax.random.key(0), 4))  # fmt: skip
    direct = dot_product_attention_op()
    lean = dot_product_attention_lean_op(block_size=16)
    reference = vjp_step(direct.forward)(q, k, v, dy)
    for fn in (direct.manual, lean.manual):
        for a, b in zip(vjp_step(fn)(q, k, v, dy), reference, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_small_run_reports_both_forms(monkeypatch):
    monkeypatch.setenv("FUNCNET_BENCH_ATTENTION_SIZES", "32")
    rows = attention_benchmark(BenchConfig(rounds=1, steps=1, warmup=1))
    assert [r["model"] for r in rows] == ["attention_direct_N32", "attention_lean_N32"]
    assert all(r["manual_ms"] > 0 and r["autodiff_temp_bytes"] > 0 for r in rows)
    assert rows[1]["block_size"] == 128 and rows[0]["seq_len"] == 32
    assert jnp.isfinite(rows[0]["memory_ratio"])
