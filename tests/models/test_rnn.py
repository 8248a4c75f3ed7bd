"""Recurrent classifiers: masks, errors. Shapes, gradients (verify_model), jit and vmap: the
layer contract (tests/core/test_layer_registry.py)."""

import jax
import numpy as np
import pytest

from funcnet.layers import RecurrentInput
from funcnet.models import lstm_classifier, recurrent_classifier


def test_lstm_classifier_reads_the_last_real_step_under_a_mask():
    model = lstm_classifier(4, 2)
    shape, params, state = model.init(jax.random.key(0), (2, 5, 1))
    assert shape == (2, 2)
    x = jax.random.normal(jax.random.key(1), (2, 5, 1))
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    y, _ = model.apply(params, state, RecurrentInput(x, mask))
    y_short, _ = model.apply(params, state, x[:1, :2])
    np.testing.assert_allclose(y[0], y_short[0], rtol=1e-6)


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="recurrent_classifier: expected kind in"):
        recurrent_classifier("transformer", 4, 2)
    with pytest.raises(TypeError, match="recurrent_classifier: expected kind in"):
        recurrent_classifier(None, 4, 2)
