"""``funcnet bench``'s text output: a table whose ratios say which way they run, the spread over
rounds, the machine in words, and a warning when the machine is loaded."""

from __future__ import annotations

from typing import Any

LEGEND = (
    "time a/m = autodiff ms / manual ms (above 1: the manual backward is faster); "
    "memory m/a = manual / autodiff temporary bytes (below 1: manual uses less). "
    "Times are medians over interleaved rounds; brackets give the interquartile range."
)


def _ms(row: dict[str, Any], side: str) -> str:
    median = f"{row[f'{side}_ms']:.3f}"
    if f"{side}_ms_q1" not in row:
        return median
    return f"{median} ({row[f'{side}_ms_q1']:.3f}–{row[f'{side}_ms_q3']:.3f})"


def _ratio(row: dict[str, Any]) -> str:
    text = f"{row['ratio']:.2f}"
    return f"{text} ({row['ratio_q1']:.2f}–{row['ratio_q3']:.2f})" if "ratio_q1" in row else text


def _mb(n: int) -> str:
    return "?" if n < 0 else f"{n / 2**20:.1f}"


def table(rows: list[dict[str, Any]]) -> str:
    """One line per result row, under a header and the legend of the ratios."""
    header = ("model", "manual ms", "autodiff ms", "time a/m", "compile s m/a", "temp MB m/a",
              "memory m/a")  # fmt: skip
    lines = [header]
    other = [row for row in rows if "manual_ms" not in row]  # e.g. ``dp``: its own fields
    rows = [row for row in rows if "manual_ms" in row]
    for row in rows:
        lines.append((
            row["model"], _ms(row, "manual"), _ms(row, "autodiff"), _ratio(row),
            f"{row['manual_compile_s']:.2f} / {row['autodiff_compile_s']:.2f}",
            f"{_mb(row['manual_temp_bytes'])} / {_mb(row['autodiff_temp_bytes'])}",
            f"{row['memory_ratio']:.2f}",
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
            for line in lines]  # fmt: skip
    extra = [row["model"] + ": " + ", ".join(_field(k, v) for k, v in row.items() if k != "model")
             for row in other]  # fmt: skip
    return "\n".join([*(text if rows else []), *extra, "", LEGEND])


def _field(key: str, value: Any) -> str:
    if key.endswith("_bytes"):
        return f"{key.removesuffix('_bytes')} {_mb(value)} MB"
    return f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}"


def machine_text(info: dict[str, Any]) -> str:
    """The machine a run measured, in words."""
    devices = ", ".join(info.get("devices", []))
    lines = [
        f"machine: {info['platform']}, {info['processor']}, {info['cpu_count']} CPUs; "
        f"Python {info['python']}, jax {info['jax']}, backend {info['backend']} "
        f"(devices: {devices})"
    ]
    before, after = info.get("load_average_before"), info.get("load_average_after")
    if before and after:
        lines.append(
            f"load average (1, 5, 15 min): {', '.join(map(str, before))} before, "
            f"{', '.join(map(str, after))} after"
        )
    return "\n".join(lines)


def load_warning(info: dict[str, Any]) -> str | None:
    """A warning when the 1-minute load average exceeded the core count before or after."""
    cores = info.get("cpu_count") or 0
    loads = [load[0] for load in (info.get("load_average_before"), info.get("load_average_after"))
             if load]  # fmt: skip
    if not cores or not loads or max(loads) <= cores:
        return None
    return (
        f"warning: the 1-minute load average ({max(loads):.2f}) exceeded the {cores} CPUs: "
        "other processes competed for them, so the times are noisy; the ratios, measured in "
        "interleaved rounds, are more trustworthy than the times."
    )


__all__ = ["LEGEND", "load_warning", "machine_text", "table"]
