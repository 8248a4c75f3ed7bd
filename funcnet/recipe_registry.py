"""The registries behind ``funcnet train``: datasets, models, losses, optimizers and recipes.

A family of models or datasets joins ``funcnet train`` from its own module, with one call each::

    register_dataset("yin_yang", load_yin_yang, example_shape=(4,))
    register_model("lif", build_lif, structured=True)
    register_loss("van_rossum", van_rossum_loss)
    register_optimizer("cg-fr", make_fletcher_reeves, full_batch=True)
    register_recipe("yin_yang", "lif", Recipe((100,), 1e-3, epochs=50, batch_size=32,
                                              loss="van_rossum"))

The command line's choices (``--dataset``, ``--model``, ``--optimizer``) and its checks come
from these registries: a dataset is offered with the models that have a recipe for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import optax

from funcnet.core.layer import Layer
from funcnet.core.op import Op
from funcnet.data.dataset import Dataset


class Recipe(NamedTuple):
    """Everything ``funcnet train`` needs for one (dataset, model) pair besides the names."""

    hidden_features: tuple[int, ...]  # dense widths (the MLP's hidden layers; the CNN's head)
    learning_rate: float  # Adam's, decayed to 0 on a cosine over the run
    epochs: int
    batch_size: int
    weight_decay: float = 0.0  # decoupled (AdamW) when positive
    activation: str = "relu"  # "relu" or "tanh" (MLP)
    channels: tuple[int, ...] = ()  # convolution blocks (CNN)
    kernel_size: int = 3  # (CNN)
    clip_norm: float | None = None  # gradients clipped to this global norm first (recurrent)
    loss: str = "softmax_cross_entropy"  # a name registered with register_loss
    options: Mapping[str, Any] | None = None  # settings a family's own builder reads


class DatasetSpec(NamedTuple):
    name: str
    load: Callable[[], tuple[Dataset, Dataset]]  # () -> (train, test)
    example_shape: tuple[int, ...] | None = None  # one example as structured models see it


class ModelSpec(NamedTuple):
    name: str
    build: Callable[[Recipe, DatasetSpec, int], Layer]  # (recipe, dataset, num_classes) -> model
    structured: bool = False  # sees examples shaped as the dataset's example_shape
    train: Callable[..., dict[str, Any]] | None = None  # its own loop instead of fit (see below)
    encode: Callable[[Recipe, Dataset], Dataset] | None = None  # its input (spike trains) of x


class OptimizerSpec(NamedTuple):
    name: str
    make: Callable[[Recipe, int, int], optax.GradientTransformation]  # (recipe, epochs, steps)
    full_batch: bool = False  # every step sees the whole training set (line searches)
    help: str = ""  # one phrase for ``funcnet train --help``


DATASETS: dict[str, DatasetSpec] = {}
MODELS: dict[str, ModelSpec] = {}
LOSSES: dict[str, Callable[[], Op]] = {}
OPTIMIZERS: dict[str, OptimizerSpec] = {}
RECIPES: dict[tuple[str, str], Recipe] = {}


def _add(table: dict, key: Any, value: Any, what: str) -> None:
    if key in table and table[key] != value:
        raise ValueError(f"funcnet train: expected a new {what} name, got {key!r} again.")
    table[key] = value


def register_dataset(
    name: str,
    load: Callable[[], tuple[Dataset, Dataset]],
    *,
    example_shape: tuple[int, ...] | None = None,
) -> None:
    """Offer a dataset: ``load() -> (train, test)``; ``example_shape`` is one example's shape
    for structured models (``(8, 8, 1)`` for the 8×8 digits), ``None`` if it has none."""
    _add(DATASETS, name, DatasetSpec(name, load, example_shape), "dataset")


def register_model(
    name: str,
    build: Callable[[Recipe, DatasetSpec, int], Layer],
    *,
    structured: bool = False,
    train: Callable[..., dict[str, Any]] | None = None,
    encode: Callable[[Recipe, Dataset], Dataset] | None = None,
) -> None:
    """Offer a model: ``build(recipe, dataset, num_classes) -> Layer``. A ``structured`` model
    sees each example shaped as the dataset's ``example_shape`` (convolutional, recurrent).
    A model that ``fit`` cannot train (decoupled modules, funcnet.dni) passes ``train(recipe,
    train, test, *, dataset, optimizer, epochs, seed, backward, progress, log) -> result``
    holding ``funcnet train``'s fields; ``build`` then gives the plain layer it computes.
    ``encode(recipe, data) -> data`` turns the examples into the model's input (a spiking
    model's spike trains), training and test sets alike, before anything else sees them."""
    _add(MODELS, name, ModelSpec(name, build, structured, train, encode), "model")


def register_loss(name: str, make: Callable[[], Op]) -> None:
    """Offer a loss for recipes to name: ``make() -> loss op ``(y, targets) -> scalar``."""
    _add(LOSSES, name, make, "loss")


def register_optimizer(
    name: str,
    make: Callable[[Recipe, int, int], optax.GradientTransformation],
    *,
    full_batch: bool = False,
    help: str = "",
) -> None:
    """Offer an optimizer: ``make(recipe, epochs, steps_per_epoch)``; with ``full_batch`` every
    step sees the whole training set (one step per epoch); ``help`` is the phrase
    ``funcnet train --help`` shows for it."""
    _add(OPTIMIZERS, name, OptimizerSpec(name, make, full_batch, help), "optimizer")


def register_recipe(dataset: str, model: str, recipe: Recipe) -> None:
    """Offer ``model`` on ``dataset`` with ``recipe``; both, and the recipe's loss, must be
    registered already (a structured model needs a dataset with an ``example_shape``)."""
    check_names(dataset, model, with_recipe=False)
    if recipe.loss not in LOSSES:
        raise ValueError(
            f"funcnet train: expected a recipe loss in {sorted(LOSSES)}, got {recipe.loss!r}."
        )
    if MODELS[model].structured and DATASETS[dataset].example_shape is None:
        raise ValueError(
            f"funcnet train: expected a dataset with an example_shape for the structured model "
            f"{model!r}, got {dataset!r} without one."
        )
    _add(RECIPES, (dataset, model), recipe, "recipe")


def models_for(dataset: str) -> list[str]:
    """The models with a recipe for ``dataset``, in registration order."""
    return [m for d, m in RECIPES if d == dataset]


def check_names(dataset: Any, model: Any, optimizer: Any = None, *, with_recipe=True) -> None:
    """Raise a ValueError naming the first unknown name, or a pair without a recipe."""
    if dataset not in DATASETS:
        raise ValueError(f"funcnet train: expected a dataset in {list(DATASETS)}, got {dataset!r}.")
    if model not in MODELS:
        raise ValueError(f"funcnet train: expected a model in {list(MODELS)}, got {model!r}.")
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise ValueError(
            f"funcnet train: expected an optimizer in {list(OPTIMIZERS)}, got {optimizer!r}."
        )
    if with_recipe and (dataset, model) not in RECIPES:
        raise ValueError(
            f"funcnet train: expected a model in {models_for(dataset)} for dataset {dataset!r}, "
            f"got {model!r}."
        )


def recipe_for(dataset: str, model: str) -> Recipe:
    """The recipe of a registered pair (a ValueError naming the choices otherwise)."""
    check_names(dataset, model)
    return RECIPES[(dataset, model)]


def load(dataset: str) -> tuple[Dataset, Dataset]:
    """``(train, test)`` of a registered dataset, as loaded (not reshaped for any model)."""
    if dataset not in DATASETS:
        raise ValueError(f"funcnet train: expected a dataset in {list(DATASETS)}, got {dataset!r}.")
    return DATASETS[dataset].load()


__all__ = [
    "DATASETS",
    "LOSSES",
    "MODELS",
    "OPTIMIZERS",
    "RECIPES",
    "DatasetSpec",
    "ModelSpec",
    "OptimizerSpec",
    "Recipe",
    "check_names",
    "load",
    "models_for",
    "recipe_for",
    "register_dataset",
    "register_loss",
    "register_model",
    "register_optimizer",
    "register_recipe",
]
