"""The transformer block: shape, causality, errors."""

import jax
import numpy as np
import pytest

from funcnet.layers.attention import transformer_block


def test_block_keeps_shape_and_is_causal():
    block = transformer_block(8, 2, hidden_features=16, causal=True)
    out_shape, params, state = block.init(jax.random.key(0), (2, 6, 8))
    assert out_shape == (2, 6, 8)
    assert params[1][3].w.shape == (16, 8)  # the MLP: layer_norm, dense, gelu, dense
    x = jax.random.normal(jax.random.key(1), (2, 6, 8))
    apply = jax.jit(lambda x: block.apply(params, state, x)[0])
    y = apply(x)
    y_changed = apply(x.at[:, 4:].set(0.0))  # change the future: the past does not move
    np.testing.assert_allclose(y[:, :4], y_changed[:, :4], rtol=1e-6)
    assert not np.allclose(y[:, 4:], y_changed[:, 4:])


def test_block_errors():
    with pytest.raises(ValueError, match="transformer_block: expected features divisible by "
                       "num_heads=3, got 8"):  # fmt: skip
        transformer_block(8, 3)
    with pytest.raises(TypeError, match="transformer_block: expected num_heads to be a positive"):
        transformer_block(8, 2.0)
