"""The dispatch benchmark runs and reports per-call times (never asserted against a target)."""

from funcnet.bench.dispatch import dispatch_benchmark
from funcnet.bench.registry import BenchConfig, benchmark_names


def test_dispatch_row_reports_call_and_roundtrip_times():
    assert "dispatch" in benchmark_names()
    (row,) = dispatch_benchmark(BenchConfig(rounds=2, steps=1, warmup=1))
    assert row["model"] == "dispatch_dense_4x1_b8"
    assert row["calls"] == 2 * 20  # rounds × calls per round
    for path in ("manual", "autodiff"):
        assert 0 < row[f"{path}_call_us"] <= row[f"{path}_roundtrip_us"] * 10
        assert row[f"{path}_ms"] == row[f"{path}_call_us"] / 1e3
