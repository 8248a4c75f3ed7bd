"""The main job behind ``funcnet train``: verify a model's manual gradients, then train it.

Each dataset comes with the recipe (model widths, optimizer, epochs, batch size) that the
command uses by default; every choice is in :data:`RECIPES` so that it can be read and cited.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from funcnet import data as datasets
from funcnet.core.layer import Layer
from funcnet.core.op import Backward, check_backward
from funcnet.data.dataset import Dataset
from funcnet.layers.activations import relu, tanh
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import mlp
from funcnet.train.fit import fit
from funcnet.verify import Report, verify_model

GRAD_CHECK_EXAMPLES = 16


class Recipe(NamedTuple):
    hidden: tuple[int, ...]
    activation: str  # a name in ACTIVATIONS
    learning_rate: float  # Adam's, decayed to 0 on a cosine over the run
    epochs: int
    batch_size: int


RECIPES: dict[str, Recipe] = {
    "digits": Recipe(
        hidden=(256, 256), activation="relu", learning_rate=2e-3, epochs=40, batch_size=32
    ),
    "iris": Recipe(hidden=(32,), activation="relu", learning_rate=1e-2, epochs=100, batch_size=16),
    "xor": Recipe(hidden=(8,), activation="tanh", learning_rate=5e-2, epochs=300, batch_size=4),
    "and": Recipe(hidden=(8,), activation="tanh", learning_rate=5e-2, epochs=300, batch_size=4),
}
MODELS = ("mlp",)
# The truth tables use tanh: with zero-initialised biases the input (0, 0) puts every hidden
# pre-activation exactly on relu's kink, where finite differences cannot check a gradient.
ACTIVATIONS = {"relu": relu, "tanh": tanh}


def load(dataset: str) -> tuple[Dataset, Dataset]:
    """``(train, test)`` for a dataset name; the truth tables are their own test set."""
    if dataset == "digits":
        return datasets.digits()
    if dataset == "iris":
        return datasets.iris()
    if dataset in ("xor", "and"):
        table = datasets.xor() if dataset == "xor" else datasets.and_()
        return table, table
    raise ValueError(f"funcnet train: expected a dataset in {sorted(RECIPES)}, got {dataset!r}.")


def optimizer(recipe: Recipe, epochs: int, examples: int) -> optax.GradientTransformation:
    """Adam with a cosine decay of the learning rate over every step of the run."""
    steps = epochs * (examples // min(recipe.batch_size, examples))
    return optax.adam(optax.cosine_decay_schedule(recipe.learning_rate, max(steps, 1)))


def build_model(name: str, recipe: Recipe, num_classes: int) -> Layer:
    if name == "mlp":
        return mlp(recipe.hidden, num_classes, activation=ACTIVATIONS[recipe.activation])
    raise ValueError(f"funcnet train: expected a model in {MODELS}, got {name!r}.")


def run(
    dataset: str = "digits",
    model: str = "mlp",
    *,
    epochs: int | None = None,
    backward: Backward = "manual",
    seed: int = 0,
    progress: bool = True,
    log: Any = None,
) -> dict[str, Any]:
    """Verify the model's manual gradients on a few training examples, then train and test.

    Raises:
      funcnet.verify.VerificationError: the manual gradients disagree with autodiff or finite
        differences (training does not start).
    """
    check_backward(backward, "funcnet train")
    train, test = load(dataset)
    recipe = RECIPES[dataset]
    epochs = recipe.epochs if epochs is None else epochs
    num_classes = int(max(train.y.max(), test.y.max())) + 1
    net = build_model(model, recipe, num_classes)
    loss = softmax_cross_entropy_with_integer_labels()
    init_key, fit_key = jax.random.split(jax.random.key(seed))
    _, params, state = net.init(init_key, (recipe.batch_size, *train.x.shape[1:]))

    sample = (train.x[:GRAD_CHECK_EXAMPLES], train.y[:GRAD_CHECK_EXAMPLES])
    report: Report = verify_model(net, params, state, sample, loss, name=f"{model}/{dataset}")
    if log is not None:
        log(report.table())
    report.raise_if_failed()
    check = report.cases[0]

    start = time.perf_counter()
    result = fit(
        net,
        loss,
        optimizer(recipe, epochs, len(train)),
        params,
        state,
        train,
        key=fit_key,
        epochs=epochs,
        batch_size=recipe.batch_size,
        eval_data=test,
        backward=backward,
        progress=progress,
    )
    train_seconds = time.perf_counter() - start
    last = result.history[-1] if result.history else {}
    return {
        "dataset": dataset,
        "model": model,
        "backward": backward,
        "epochs": epochs,
        "seed": seed,
        "train_examples": len(train),
        "test_examples": len(test),
        "test_accuracy": last.get("eval_accuracy", float("nan")),
        "test_loss": last.get("eval_loss", float("nan")),
        "train_loss": last.get("train_loss", float("nan")),
        "train_accuracy": last.get("train_accuracy", float("nan")),
        "train_seconds": train_seconds,
        "grad_check_max_rel_err": check.max_rel_err("autodiff"),
        "grad_check_max_rel_err_fd": check.max_rel_err("finite_differences"),
        "grad_check_passed": check.passed,
        "history": result.history,
        "parameter_count": int(sum(np.size(p) for p in jax.tree.leaves(result.params))),
    }
