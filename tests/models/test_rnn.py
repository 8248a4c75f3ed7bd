"""Recurrent classifiers: shapes, masks, and whole-model gradient verification."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers import RecurrentInput
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import gru_classifier, lstm_classifier, recurrent_classifier
from funcnet.verify import verify_model


def test_gru_classifier_gradients_verify_against_autodiff_and_finite_differences():
    model = gru_classifier(5, 3)
    _, params, state = model.init(jax.random.key(0), (4, 6, 1))
    x = jax.random.normal(jax.random.key(1), (4, 6, 1))
    t = jnp.array([0, 1, 2, 1], jnp.int32)
    report = verify_model(model, params, state, (x, t), softmax_cross_entropy_with_integer_labels())
    report.raise_if_failed()
    assert report.cases[0].max_rel_err("autodiff") < 1e-10


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
