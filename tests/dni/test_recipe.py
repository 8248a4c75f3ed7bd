"""``funcnet train --model dni|cdni``: registered for the digits, its own loop, its fields."""

import numpy as np
import pytest

from funcnet import recipes
from funcnet.data.dataset import Dataset
from funcnet.dni.recipe import train_decoupled
from funcnet.recipe_registry import OPTIMIZERS, Recipe, models_for


def test_dni_and_cdni_are_offered_for_the_digits():
    assert {"dni", "cdni"} <= set(models_for("digits"))
    assert recipes.recipe_for("digits", "cdni").options["conditioned"] is True


def test_train_decoupled_reports_the_usual_fields():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    recipe = Recipe((6,), 1e-2, epochs=1, batch_size=16, options={"conditioned": True})
    result = train_decoupled(
        recipe, Dataset(x, y), Dataset(x[:16], y[:16]), optimizer=OPTIMIZERS["adam"], epochs=1,
        seed=0, backward="manual", progress=False, log=None, dataset="toy", model_name="cdni",
    )  # fmt: skip
    assert result["grad_check_passed"] and result["grad_check_max_rel_err"] < 1e-12
    assert len(result["history"]) == 1 and 0.0 <= result["test_accuracy"] <= 1.0
    assert result["model"] == "cdni" and result["conditioned"] and result["bp_lambda"] == 0.0
    assert np.isfinite(result["train_loss"])
    sizes = [5 * 6 + 6, 6 * 2 + 2, 6 * 6 + 6 + 2 * 6]  # modules, the cDNI predictor
    assert result["parameter_count"] == sum(sizes)


def test_checkpoint_options_are_refused(tmp_path):
    with pytest.raises(ValueError, match="expected no checkpoint options for model 'dni'"):
        recipes.run("digits", "dni", epochs=1, checkpoint_dir=str(tmp_path), progress=False)
