"""The benchmark machinery (behaviour only: timings are never asserted in tests)."""

import jax.numpy as jnp
import pytest

from funcnet.bench.registry import comparison_row, run_benchmarks
from funcnet.bench.timing import Compiled, time_interleaved


def test_rounds_alternate_which_runner_goes_first():
    calls = []
    runners = [
        lambda: calls.append("a") or jnp.zeros(()),
        lambda: calls.append("b") or jnp.ones(()),
    ]
    medians = time_interleaved(runners, rounds=4, steps=2)
    assert len(medians) == 2 and all(m >= 0 for m in medians)
    firsts = [calls[i] for i in range(0, len(calls), 4)]
    assert firsts == ["a", "b", "a", "b"]
    assert calls.count("a") == calls.count("b") == 8


def test_comparison_row_ratios():
    manual, autodiff = Compiled(None, 0.5, 100), Compiled(None, 0.7, 400)
    row = comparison_row("m", manual, autodiff, [2.0, 3.0], batch=8)
    assert row["ratio"] == pytest.approx(1.5)
    assert row["memory_ratio"] == pytest.approx(0.25)
    assert (row["manual_compile_s"], row["autodiff_compile_s"], row["batch"]) == (0.5, 0.7, 8)


def test_unknown_benchmark_is_a_clear_error():
    with pytest.raises(
        ValueError, match=r"funcnet bench: expected benchmark names from .* got \['x'\]"
    ):
        run_benchmarks(["x"])
