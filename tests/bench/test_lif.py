"""The LIF benchmark: registered, its row well formed at tiny sizes (its two steps compute the
same gradient: the manual backward against autodiff of the lif op's gradient reference, which
the op registry verifies)."""

import functools

import pytest

from funcnet.bench import lif as lif_bench
from funcnet.bench.registry import BenchConfig, benchmark_names


def test_the_row_is_well_formed(monkeypatch):
    assert "lif" in benchmark_names()
    for name, value in (("BATCH", 2), ("STEPS", 4), ("FEATURES", 3), ("HIDDEN", 5)):
        monkeypatch.setattr(lif_bench, name, value)
    step = lif_bench.gradient_step  # its width is a default argument, bound at definition
    monkeypatch.setattr(lif_bench, "gradient_step", functools.partial(step, hidden=5))
    (row,) = lif_bench.lif_benchmark(BenchConfig(rounds=2, steps=1, warmup=1))
    assert row["model"] == "lif_b2_t4_f3_h5"
    assert row["ratio"] == pytest.approx(row["autodiff_ms"] / row["manual_ms"])
    assert row["memory_ratio"] == pytest.approx(
        row["manual_temp_bytes"] / row["autodiff_temp_bytes"]
    )
    assert row["manual_temp_bytes"] > 0 and row["autodiff_temp_bytes"] > 0
    assert "stop_gradient" in row["baseline"]
