"""The binary bench: its row says which way its ratio runs and what the weights cost."""

from funcnet.bench.binary import binary_benchmark
from funcnet.bench.registry import BenchConfig, benchmark_names


def test_the_binary_row_compares_packed_with_float32(monkeypatch):
    monkeypatch.setenv("FUNCNET_BENCH_BINARY_SIZES", "64,4")
    assert "binary" in benchmark_names()
    (row,) = binary_benchmark(BenchConfig(rounds=1, steps=1, warmup=0))
    assert row["model"] == "binary_dense_packed_vs_float32_64_b4"
    assert row["ratio"] == row["float32_ms"] / row["packed_ms"]
    assert row["weight_bytes_float32"] == 32 * row["weight_bytes_packed"] == 64 * 64 * 4
