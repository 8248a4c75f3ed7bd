"""The benchmark registry: each benchmark is a function returning result rows.

Every row has the fields ``model, manual_ms, autodiff_ms, ratio, manual_compile_s,
autodiff_compile_s, manual_temp_bytes, autodiff_temp_bytes, memory_ratio`` where
``ratio = autodiff_ms / manual_ms`` (above 1: manual is faster) and
``memory_ratio = manual_temp_bytes / autodiff_temp_bytes`` (below 1: manual uses less).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from typing import Any, NamedTuple

import jax


class BenchConfig(NamedTuple):
    rounds: int = 15  # interleaved rounds; the median is reported
    steps: int = 10  # steps per round
    warmup: int = 3  # steps run before timing


Row = dict[str, Any]
_BENCHMARKS: dict[str, Callable[[BenchConfig], list[Row]]] = {}


def benchmark(name: str) -> Callable[[Callable[[BenchConfig], list[Row]]], Any]:
    """Register a benchmark under ``name`` (a decorator)."""

    def register(fn: Callable[[BenchConfig], list[Row]]) -> Callable[[BenchConfig], list[Row]]:
        _BENCHMARKS[name] = fn
        return fn

    return register


def benchmark_names() -> list[str]:
    return list(_BENCHMARKS)


def check_benchmark_names(names: list[str]) -> None:
    """Raise a ValueError naming every unknown benchmark in ``names``."""
    unknown = [n for n in names if n not in _BENCHMARKS]
    if unknown:
        raise ValueError(
            f"funcnet bench: expected benchmark names from {benchmark_names()}, got {unknown}."
        )


def run_benchmarks(names: list[str] | None = None, config: BenchConfig | None = None) -> dict:
    """Run the named benchmarks (all when ``names`` is empty) and describe the machine."""
    config = config or BenchConfig()
    names = names or benchmark_names()
    check_benchmark_names(names)
    rows = [row for name in names for row in _BENCHMARKS[name](config)]
    return {"results": rows, "machine": machine()}


def env_sizes(variable: str, default: tuple[int, ...], where: str) -> tuple[int, ...]:
    """Sizes from the environment variable ``variable`` (comma-separated ints), or ``default``."""
    text = os.environ.get(variable, "")
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        example = ",".join(str(s) for s in default[:2])
        raise ValueError(f"{where}: expected {variable} like '{example}', got {text!r}.") from None
    return sizes or default


def comparison_row(model: str, manual: Any, autodiff: Any, ms: list[float], **extra: Any) -> Row:
    """A result row from the two :class:`~funcnet.bench.timing.Compiled` steps and timings."""
    manual_ms, autodiff_ms = ms
    memory_ratio = (
        manual.temp_bytes / autodiff.temp_bytes if autodiff.temp_bytes > 0 else float("nan")
    )
    return {
        "model": model,
        "manual_ms": manual_ms,
        "autodiff_ms": autodiff_ms,
        "ratio": autodiff_ms / manual_ms,
        "manual_compile_s": manual.compile_s,
        "autodiff_compile_s": autodiff.compile_s,
        "manual_temp_bytes": manual.temp_bytes,
        "autodiff_temp_bytes": autodiff.temp_bytes,
        "memory_ratio": memory_ratio,
        **extra,
    }


def machine() -> dict[str, Any]:
    devices = jax.devices()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [d.device_kind for d in devices],
    }
