"""``funcnet train --model lif|eventprop``: each runs end to end on Yin-Yang (a few examples,
a narrow network, one epoch) and reports the usual fields with an honest gradient check; the
digits recipe differs from Yin-Yang's only in its code."""

import json

import numpy as np
import pytest

from funcnet import recipe_registry as registry
from funcnet import recipes  # noqa: F401  (registers the built-in recipes)
from funcnet.cli import main
from funcnet.data import yin_yang
from funcnet.data.dataset import Dataset
from funcnet.models.spiking_recipes import (
    encode_spike_times,
    encode_spike_trains,
    train_eventprop,
)


@pytest.mark.parametrize(
    "model, gradient",
    [("lif", "surrogate: the intended gradients of lif"), ("eventprop", "exact")],
)
def test_a_yin_yang_recipe_trains_and_reports_its_gradient_check(
    capsys, monkeypatch, model, gradient
):
    spec, recipe = registry.DATASETS["yin_yang"], registry.RECIPES[("yin_yang", model)]
    small = (yin_yang("train", size=32), yin_yang("test", size=16))
    monkeypatch.setitem(registry.DATASETS, "yin_yang", spec._replace(load=lambda: small))
    fewer = {"num_steps": 4} if model == "lif" else {"max_spikes": 1}  # cheaper to compile
    options = {**recipe.options, **fewer}
    small_recipe = recipe._replace(hidden_features=(6,), options=options)
    monkeypatch.setitem(registry.RECIPES, ("yin_yang", model), small_recipe)
    argv = ["train", "--dataset", "yin_yang", "--model", model, "--epochs", "1", "--json"]
    assert main([*argv, "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == model and out["train_examples"] == 32 and len(out["history"]) == 1
    assert 0.0 <= out["test_accuracy"] <= 1.0 and np.isfinite(out["train_loss"])
    assert out["grad_check_passed"] and out["grad_check_max_rel_err"] < 1e-12
    assert out["grad_check_gradient"] == gradient
    if gradient == "exact":  # EventProp: exact, so finite differences apply and agree
        assert out["grad_check_max_rel_err_fd"] < 1e-5 and out["grad_check_notes"] == []
        assert 0.0 <= out["hidden_overflow"] <= 1.0
    else:  # a surrogate is the derivative of nothing: no finite-difference number
        assert out["grad_check_max_rel_err_fd"] == "nan" and out["grad_check_notes"]


def test_lif_is_offered_on_the_digits_rate_coded():
    recipe = registry.RECIPES[("digits", "lif")]
    assert registry.MODELS["lif"].encode is encode_spike_trains
    assert recipe.options["code"] == "rate"


def test_the_codes_give_spike_trains_and_spike_times():
    x = np.array([[0.0, 1.0], [0.5, 0.25]], np.float32)
    data = Dataset(x, np.array([0, 1], np.int32))
    latency = registry.Recipe((4,), 1e-3, 1, 2, options={"code": "latency", "num_steps": 5})
    trains = encode_spike_trains(latency, data).x
    assert trains.shape == (2, 5, 2) and np.all(trains.sum(1) == 1)
    np.testing.assert_array_equal(trains[0].argmax(0), [0, 4])  # small values first
    bright = latency._replace(options={"code": "latency_bright_first", "num_steps": 5})
    np.testing.assert_array_equal(encode_spike_trains(bright, data).x[0].argmax(0), [4, 0])
    rate = latency._replace(options={"code": "rate", "num_steps": 400})
    counts = encode_spike_trains(rate, data).x.mean(1)  # the firing rate is the value
    np.testing.assert_allclose(counts, x, atol=0.08)
    assert counts[0, 0] == 0 and counts[0, 1] == 1
    times = registry.Recipe((4,), 1e-3, 1, 2, options={"t_early": 0.5, "t_late": 1.5})
    t = encode_spike_times(times, data).x
    assert t.shape == (2, 3, 1)  # a bias spike at 0 first
    np.testing.assert_allclose(t[:, :, 0], [[0.0, 0.5, 1.5], [0.0, 1.0, 0.75]])


def test_eventprop_refuses_a_full_batch_optimizer():
    data = Dataset(np.zeros((4, 5, 1), np.float32), np.zeros(4, np.int32))
    recipe = registry.RECIPES[("yin_yang", "eventprop")]
    with pytest.raises(ValueError, match="expected a mini-batch optimizer for model 'eventprop'"):
        train_eventprop(recipe, data, data, dataset="toy", optimizer=registry.OPTIMIZERS["lbfgs"],
                        epochs=1, seed=0, backward="manual", progress=False, log=None)  # fmt: skip
