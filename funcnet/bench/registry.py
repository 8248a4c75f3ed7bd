"""The benchmark registry: each benchmark is a function returning result rows.

Every row has the fields ``model, manual_ms, autodiff_ms, ratio, manual_compile_s,
autodiff_compile_s, manual_temp_bytes, autodiff_temp_bytes, memory_ratio`` where
``ratio = autodiff_ms / manual_ms`` (above 1: manual is faster) and
``memory_ratio = manual_temp_bytes / autodiff_temp_bytes`` (below 1: manual uses less). The two
ratios run in opposite directions, so each also appears under a name that says which way it
runs: ``time_ratio_autodiff_over_manual`` and ``memory_ratio_manual_over_autodiff``.

Times are medians over interleaved rounds (:func:`~funcnet.bench.timing.time_interleaved`);
where the rounds are known, a row adds their spread: ``manual_ms_min``, ``manual_ms_q1``,
``manual_ms_q3``, ``manual_ms_max`` (and the same for autodiff), ``ratio_q1`` and ``ratio_q3``
(quartiles of the per-round ratios; the two sides of a round ran back to back) and ``rounds``.
"""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax

RATIO_MEANINGS = {
    "ratio": "autodiff_ms / manual_ms: above 1, the manual backward is faster",
    "memory_ratio": "manual_temp_bytes / autodiff_temp_bytes: below 1, manual uses less memory",
}


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
    load_before = load_average()
    rows = [row for name in names for row in _BENCHMARKS[name](config)]
    info = {**machine(), "load_average_before": load_before, "load_average_after": load_average()}
    return {"results": rows, "machine": info, "ratios": RATIO_MEANINGS}


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
    ratio = autodiff_ms / manual_ms
    return {
        "model": model,
        "manual_ms": float(manual_ms),
        "autodiff_ms": float(autodiff_ms),
        "ratio": ratio,
        "time_ratio_autodiff_over_manual": ratio,
        "manual_compile_s": manual.compile_s,
        "autodiff_compile_s": autodiff.compile_s,
        "manual_temp_bytes": manual.temp_bytes,
        "autodiff_temp_bytes": autodiff.temp_bytes,
        "memory_ratio": memory_ratio,
        "memory_ratio_manual_over_autodiff": memory_ratio,
        **spread(manual_ms, autodiff_ms),
        **extra,
    }


def _quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def spread(manual_ms: Any, autodiff_ms: Any) -> dict[str, Any]:
    """The spread of the per-round times behind two medians (empty for plain floats)."""
    manual, autodiff = getattr(manual_ms, "samples", None), getattr(autodiff_ms, "samples", None)
    if not manual or not autodiff:
        return {}
    fields: dict[str, Any] = {"rounds": len(manual)}
    for side, samples in (("manual", manual), ("autodiff", autodiff)):
        q1, q3 = _quartiles(samples)
        fields.update({f"{side}_ms_min": min(samples), f"{side}_ms_q1": q1,
                       f"{side}_ms_q3": q3, f"{side}_ms_max": max(samples)})  # fmt: skip
    if len(manual) == len(autodiff):  # rounds in pairs: the ratio of each round
        fields["ratio_q1"], fields["ratio_q3"] = _quartiles(
            [a / m for a, m in zip(autodiff, manual, strict=True)]
        )
    return fields


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages (None where the system has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


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
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
