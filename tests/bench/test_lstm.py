"""The LSTM benchmark: registered, and both timed steps compute the same gradients."""

import jax
import numpy as np

from funcnet.bench.lstm import gradient_step
from funcnet.bench.registry import benchmark_names


def test_the_timed_steps_agree():
    assert "lstm" in benchmark_names()
    x = jax.random.normal(jax.random.key(0), (2, 4, 3))
    (manual, layer), (autodiff, _) = gradient_step("manual", 5), gradient_step("autodiff", 5)
    _, params, _ = layer.init(jax.random.key(1), x.shape)
    for a, b in zip(jax.tree.leaves(manual(params, x)), jax.tree.leaves(autodiff(params, x)),
                    strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
