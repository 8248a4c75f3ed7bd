"""The causal transformer language model: whole-model gradient check, errors."""

import jax
import pytest

from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models.transformer import transformer_lm
from funcnet.verify import verify_model


def test_language_model_gradients_verify():
    # lean attention and sinusoidal positions here; experiments/char_transformer.py verifies the
    # direct attention with learned positions on its full-size model
    lm = transformer_lm(7, context=5, features=4, num_heads=2, num_blocks=1, hidden_features=8,
                        positions="sinusoidal", lean=True, block_size=2)  # fmt: skip
    ids = jax.random.randint(jax.random.key(2), (2, 5), 0, 7)
    targets = jax.random.randint(jax.random.key(3), (2, 5), 0, 7)
    out_shape, params, state = lm.init(jax.random.key(4), ids.shape)
    assert out_shape == (2, 5, 7)
    report = verify_model(lm, params, state, (ids, targets),
                          softmax_cross_entropy_with_integer_labels())  # fmt: skip
    report.raise_if_failed()
    assert report.cases[0].max_rel_err("autodiff") < 1e-10
    assert report.cases[0].max_rel_err("finite_differences") < 1e-6


def test_language_model_rejects_bad_positions():
    with pytest.raises(ValueError, match="transformer_lm: expected positions 'learned' or"):
        transformer_lm(5, context=4, positions="rotary")
