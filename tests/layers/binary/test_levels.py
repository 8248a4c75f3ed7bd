"""The level quantisers (their intended gradients: the registry, tests/core/test_registry.py)."""

import jax.numpy as jnp
import numpy as np

from funcnet.layers.binary import dorefa_op


def test_dorefa_rounds_to_k_bit_levels():
    x = jnp.array([-0.3, 0.1, 0.2, 0.5, 0.9, 1.7])
    np.testing.assert_allclose(dorefa_op(1)(x), [0, 0, 0, 0, 1, 1])
    np.testing.assert_allclose(dorefa_op(2)(x), [0, 0, 1 / 3, 2 / 3, 1, 1], rtol=1e-6)
