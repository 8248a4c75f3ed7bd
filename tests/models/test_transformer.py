"""The causal transformer language model: errors. Shapes, gradients (verify_model, with
sinusoidal positions), jit and vmap: the layer contract (tests/core/test_layer_registry.py),
which also verifies multi_head_attention with lean attention; experiments/char_transformer.py
verifies learned positions on its full-size model."""

import pytest

from funcnet.models.transformer import transformer_lm


def test_language_model_rejects_bad_positions():
    with pytest.raises(ValueError, match="transformer_lm: expected positions 'learned' or"):
        transformer_lm(5, context=4, positions="rotary")
