"""``funcnet train --optimizer``: every registered optimizer is offered with a help text."""

import funcnet.recipes  # noqa: F401  (registers the built-in optimizers)
from funcnet.cli import build_parser
from funcnet.recipe_registry import OPTIMIZERS


def test_every_optimizer_is_offered_with_its_help_text():
    assert {"adam", "lbfgs", "cg-fr", "cg-pr", "cg-pb", "scg"} <= set(OPTIMIZERS)
    assert all(OPTIMIZERS[n].full_batch for n in ("lbfgs", "cg-fr", "cg-pr", "cg-pb", "scg"))
    (train,) = [a for a in build_parser()._actions if a.choices and "train" in a.choices]
    (option,) = [a for a in train.choices["train"]._actions if "--optimizer" in a.option_strings]
    for name, spec in OPTIMIZERS.items():
        assert spec.help, f"optimizer {name!r} registered without a help text"
        assert f"{name}: {spec.help}" in option.help
