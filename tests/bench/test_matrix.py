"""The matrix benchmark: registered, sizes configurable, and the timed calls agree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.bench.matrix import matrix_benchmark, pool_vjp, sizes_from_env
from funcnet.bench.registry import BenchConfig, benchmark_names


def test_sizes_come_from_the_environment(monkeypatch):
    assert "matrix" in benchmark_names()
    assert sizes_from_env() == (64, 256)
    monkeypatch.setenv("FUNCNET_BENCH_MATRIX_SIZES", "8, 16")
    assert sizes_from_env() == (8, 16)
    monkeypatch.setenv("FUNCNET_BENCH_MATRIX_SIZES", "big")
    with pytest.raises(ValueError, match="matrix bench: expected FUNCNET_BENCH_MATRIX_SIZES"):
        sizes_from_env()


def test_the_timed_calls_agree():
    x = jax.random.normal(jax.random.key(0), (2, 12, 4))
    dy = jax.random.normal(jax.random.key(1), (2, 10))
    y, dx = pool_vjp("sqrt", "autodiff")(x, dy)
    manual = pool_vjp("sqrt", "manual")(x, dy)
    np.testing.assert_array_equal(manual[0], y)
    np.testing.assert_allclose(manual[1], dx, rtol=1e-4, atol=1e-5)


def test_a_small_run_reports_both_methods(monkeypatch):
    monkeypatch.setenv("FUNCNET_BENCH_MATRIX_SIZES", "8")
    rows = matrix_benchmark(BenchConfig(rounds=1, steps=1, warmup=1))
    assert [r["model"] for r in rows] == [
        "covariance_pool_sqrt_eig_C8",
        "covariance_pool_newton_schulz5_C8",
    ]
    assert all(r["manual_ms"] > 0 and r["autodiff_temp_bytes"] > 0 for r in rows)
    assert rows[1]["autodiff_newton_schulz_ms"] > 0 and rows[0]["positions"] == 16
    assert jnp.isfinite(rows[0]["memory_ratio"])
