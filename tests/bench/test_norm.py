"""The norm benchmark: its rows, and that both timed functions compute the same gradients."""

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.bench.norm import grad_step, norm_benchmark
from funcnet.bench.registry import BenchConfig, benchmark_names
from funcnet.layers import batch_norm


def test_norm_rows_compare_manual_and_autodiff_for_both_layers():
    assert "norm" in benchmark_names()
    rows = norm_benchmark(BenchConfig(rounds=1, steps=1, warmup=0))
    assert [r["model"] for r in rows] == [
        "batch_norm_256x1024_fwd+bwd",
        "layer_norm_256x1024_fwd+bwd",
    ]
    for row in rows:
        assert row["manual_ms"] > 0 and row["autodiff_temp_bytes"] > 0


def test_the_timed_steps_agree():
    layer = batch_norm()
    x = jax.random.normal(jax.random.key(0), (6, 4))
    r = jax.random.normal(jax.random.key(1), (6, 4))
    _, params, state = layer.init(jax.random.key(2), x.shape)
    ((g_manual, s_manual),) = grad_step(layer, state, "manual")(x, params, r)
    ((g_auto, s_auto),) = grad_step(layer, state, "autodiff")(x, params, r)
    for a, b in zip(jax.tree.leaves(g_manual), jax.tree.leaves(g_auto), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(s_manual.mean, s_auto.mean)
    assert not jnp.allclose(s_manual.mean, state.mean)
