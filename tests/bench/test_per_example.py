"""The per-example benchmark's baseline computes the same gradients as funcnet's path."""

import jax
import numpy as np

from funcnet.bench.per_example import autodiff_per_example_grads
from funcnet.bench.registry import benchmark_names
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp
from funcnet.train import per_example_grads


def test_baseline_matches_the_manual_per_example_gradients():
    assert "per_example" in benchmark_names()
    model, loss = mlp((6,), 3), softmax_cross_entropy_with_integer_labels()
    _, params, state = model.init(jax.random.key(0), (4, 5))
    batch = (jax.random.normal(jax.random.key(1), (4, 5)), np.array([0, 2, 1, 2], np.int32))
    manual = per_example_grads(model, loss)(params, state, batch, None)
    baseline = autodiff_per_example_grads(model, loss)(params, state, batch, None)
    for a, b in zip(jax.tree.leaves(manual), jax.tree.leaves(baseline), strict=True):
        assert a.shape[0] == 4
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
