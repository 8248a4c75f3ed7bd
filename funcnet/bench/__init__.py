"""``funcnet bench``: manual vs autodiff step time, compile time and memory, per benchmark.

Importing this package registers every benchmark module listed below.
"""

from funcnet.bench import (  # noqa: F401  (registers the benchmarks)
    attention,
    binary,
    cnn,
    dispatch,
    dp,
    hvp,
    lif,
    lstm,
    matrix,
    mlp,
    norm,
    per_example,
    transformer,
)
from funcnet.bench.registry import BenchConfig, benchmark, benchmark_names, run_benchmarks

__all__ = ["BenchConfig", "benchmark", "benchmark_names", "run_benchmarks"]
