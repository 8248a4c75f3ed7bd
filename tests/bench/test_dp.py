"""The dp benchmark: registered, and its row for a tiny model times and sizes all four steps."""

import jax
import numpy as np

from funcnet.bench.dp import dp_rows
from funcnet.bench.registry import BenchConfig, benchmark_names
from funcnet.models import mlp


def test_a_row_compares_the_dp_step_with_the_plain_and_vmap_steps():
    assert "dp" in benchmark_names()
    x = jax.random.normal(jax.random.key(0), (4, 3))
    t = np.array([0, 1, 1, 0], np.int32)
    (row,) = dp_rows([("tiny", mlp((5,), 2), x, t)], BenchConfig(rounds=1, steps=1, warmup=0))
    assert row["model"] == "tiny" and row["rounds"] == 1
    for side in ("dp", "plain", "clip_only", "vmap"):
        assert row[f"{side}_ms"] > 0 and row[f"{side}_temp_bytes"] > 0, side
    np.testing.assert_allclose(row["time_ratio"], row["dp_ms"] / row["plain_ms"])
    np.testing.assert_allclose(row["memory_ratio"], row["dp_temp_bytes"] / row["plain_temp_bytes"])
    np.testing.assert_allclose(row["speedup_over_vmap"], row["vmap_ms"] / row["dp_ms"])
    assert row["dp_compile_s"] > 0 and row["plain_compile_s"] > 0
