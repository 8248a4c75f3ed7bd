"""The transformer and blocks benchmarks: the sizes they read, their rows, and that the timed
manual and autodiff gradients agree (the LM step's rows are not built here: three training
steps cost 15 s of compile time; the layer contract checks the LM's gradients)."""

import jax
import numpy as np
import pytest

from funcnet.bench.registry import BenchConfig, benchmark_names
from funcnet.bench.transformer import (
    block_row,
    gradient_step,
    lm_sizes_from_env,
    sub_blocks,
)

TINY = BenchConfig(rounds=1, steps=1, warmup=0)


@pytest.mark.parametrize("name", ["dense_gelu_dense", "embedding_layer_norm"])
def test_the_timed_gradients_agree(name):
    layer, shape, integer_input = sub_blocks(scale=32)[name]
    _, params, _ = layer.init(jax.random.key(0), shape)
    if integer_input:
        x = jax.random.randint(jax.random.key(1), shape, 0, 97)
    else:
        x = jax.random.normal(jax.random.key(1), shape)
    manual, autodiff = (gradient_step(layer, shape, integer_input, b)(params, x)
                        for b in ("manual", "autodiff"))  # fmt: skip
    for a, b in zip(jax.tree.leaves(manual), jax.tree.leaves(autodiff), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert {"transformer", "blocks"} <= set(benchmark_names())
    row = block_row(name, layer, shape, integer_input, TINY)
    assert row["model"] == name and row["input_shape"] == list(shape)


def test_lm_sizes_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("FUNCNET_BENCH_TRANSFORMER", "16,32,2,4")
    assert lm_sizes_from_env() == (16, 32, 2, 4)
    monkeypatch.setenv("FUNCNET_BENCH_TRANSFORMER", "16,32")
    with pytest.raises(ValueError, match="transformer bench: expected FUNCNET_BENCH_TRANSFORMER"):
        lm_sizes_from_env()
