"""The hvp benchmark: registered; on a tiny model its four Hessian–vector products agree with
autodiff's in float64, and its row times and sizes each of them."""

import jax
import numpy as np

from funcnet.bench.hvp import WAYS, hvp_rows
from funcnet.bench.registry import BenchConfig, benchmark_names
from funcnet.models import mlp


def test_a_row_times_and_checks_every_way():
    assert "hvp" in benchmark_names()
    x = jax.random.normal(jax.random.key(0), (4, 3))
    t = np.array([0, 1, 1, 0], np.int32)
    (row,) = hvp_rows([("tiny", mlp((5,), 2), x, t)], BenchConfig(rounds=1, steps=1, warmup=0))
    assert row["model"] == "tiny" and row["rounds"] == 1
    for way in WAYS:
        assert row[f"{way}_ms"] > 0 and row[f"{way}_compile_s"] > 0, way
        assert row[f"{way}_max_rel_err"] <= 1e-12, way
        np.testing.assert_allclose(row[f"{way}_speedup"], row["autodiff_ms"] / row[f"{way}_ms"])
    assert row["autodiff_max_rel_err"] == 0.0
