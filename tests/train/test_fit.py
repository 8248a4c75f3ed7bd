"""The fit loop and the main job."""

import jax
import numpy as np
import optax
import pytest

from funcnet.data import xor
from funcnet.layers.activations import tanh
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp
from funcnet.train import fit
from funcnet.train.job import run


def test_fit_learns_xor_and_is_deterministic():
    data = xor()
    model = mlp((8,), 2, activation=tanh)
    _, params, state = model.init(jax.random.key(0), (4, 2))

    def go():
        return fit(model, softmax_cross_entropy_with_integer_labels(), optax.adam(0.05), params,
                   state, data, key=jax.random.key(1), epochs=200, batch_size=4, eval_data=data,
                   progress=False)  # fmt: skip

    result = go()
    assert len(result.history) == 200
    assert result.history[-1]["eval_accuracy"] == 1.0
    assert result.history[-1]["train_loss"] < 0.05 < result.history[0]["train_loss"]
    again = go()
    for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(again.params), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not params[0].w.is_deleted()  # fit copies, so the caller's params survive


def test_fit_rejects_bad_epochs():
    model = mlp((2,), 2)
    _, params, state = model.init(jax.random.key(0), (4, 2))
    with pytest.raises(ValueError, match="fit: expected epochs to be a non-negative integer"):
        fit(model, softmax_cross_entropy_with_integer_labels(), optax.sgd(0.1), params, state,
            xor(), key=jax.random.key(0), epochs=-1, batch_size=4)  # fmt: skip


def test_main_job_on_iris_verifies_then_trains():
    result = run("iris", epochs=30, progress=False)
    assert result["grad_check_passed"]
    assert result["grad_check_max_rel_err"] <= 1e-10
    assert result["test_accuracy"] >= 0.9
    assert result["train_loss"] < result["history"][0]["train_loss"]


def test_main_job_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"funcnet train: expected a dataset in .* got 'mnist'"):
        run("mnist")
    with pytest.raises(ValueError, match="funcnet train: expected a model in"):
        run("iris", "transformer")


def test_main_job_trains_a_cnn_on_images():
    result = run("digits", "cnn", epochs=2, progress=False)
    assert result["grad_check_passed"]
    assert result["grad_check_max_rel_err"] <= 1e-10
    assert result["test_accuracy"] >= 0.8


def test_cnn_is_offered_only_where_a_recipe_exists():
    message = r"expected a model in \['mlp'\] for dataset 'iris', got 'cnn'"
    with pytest.raises(ValueError, match=message):
        run("iris", "cnn")
