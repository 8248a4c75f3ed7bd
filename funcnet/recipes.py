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
from funcnet.core.op import Backward, check_backward
from funcnet.data.dataset import Dataset
from funcnet.layers.activations import relu, tanh
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import cnn, mlp
from funcnet.models.rnn import gru_classifier
from funcnet.train.fit import check_checkpoint_options, fit
from funcnet.verify import Report, verify_model

GRAD_CHECK_EXAMPLES = 16


class Recipe(NamedTuple):
    hidden_features: tuple[int, ...]  # dense widths (the MLP's hidden layers; the CNN's head)
    learning_rate: float  # Adam's, decayed to 0 on a cosine over the run
    epochs: int
    batch_size: int
    weight_decay: float = 0.0  # decoupled (AdamW) when positive
    activation: str = "relu"  # a name in ACTIVATIONS (MLP)
    channels: tuple[int, ...] = ()  # convolution blocks (CNN)
    kernel_size: int = 3  # (CNN)
    clip_norm: float | None = None  # gradients clipped to this global norm first (recurrent)


# The truth tables use tanh: with zero-initialised biases the input (0, 0) puts every hidden
# pre-activation exactly on relu's kink, where finite differences cannot check a gradient.
RECIPES: dict[tuple[str, str], Recipe] = {
    ("digits", "mlp"): Recipe((256, 256), learning_rate=2e-3, epochs=40, batch_size=32),
    ("digits", "cnn"): Recipe((128,), 2e-3, epochs=30, batch_size=32, channels=(32, 64)),
    ("mnist1d", "mlp"): Recipe(
        (512, 512), learning_rate=2e-3, epochs=100, batch_size=64, weight_decay=0.1
    ),
    ("mnist1d", "cnn"): Recipe(
        (128,),
        2e-3,
        epochs=40,
        batch_size=64,
        weight_decay=0.1,
        channels=(64, 64, 64),
        kernel_size=5,
    ),
    ("mnist1d", "gru"): Recipe(
        (64,), 1e-2, epochs=30, batch_size=64, weight_decay=1e-4, clip_norm=1.0
    ),
    ("iris", "mlp"): Recipe((32,), learning_rate=1e-2, epochs=100, batch_size=16),
    ("xor", "mlp"): Recipe((8,), 5e-2, epochs=300, batch_size=4, activation="tanh"),
    ("and", "mlp"): Recipe((8,), 5e-2, epochs=300, batch_size=4, activation="tanh"),
}
DATASETS = tuple(dict.fromkeys(d for d, _ in RECIPES))
MODELS = tuple(dict.fromkeys(m for _, m in RECIPES))
ACTIVATIONS = {"relu": relu, "tanh": tanh}
# The convolutional and recurrent models see the examples as sequences or images with one
# channel (one feature per time step).
INPUT_SHAPES = {"digits": (8, 8, 1), "mnist1d": (40, 1)}
RECURRENT_MODELS = {"gru": gru_classifier}


def load(dataset: str) -> tuple[Dataset, Dataset]:
    """``(train, test)`` for a dataset name; the truth tables are their own test set."""
    if dataset == "digits":
        return datasets.digits()
    if dataset == "mnist1d":
        return datasets.mnist1d()
    if dataset == "iris":
        return datasets.iris()
    if dataset in ("xor", "and"):
        table = datasets.xor() if dataset == "xor" else datasets.and_()
        return table, table
    raise ValueError(f"funcnet train: expected a dataset in {DATASETS}, got {dataset!r}.")


def recipe_for(dataset: str, model: str) -> Recipe:
    if dataset not in DATASETS:
        raise ValueError(f"funcnet train: expected a dataset in {DATASETS}, got {dataset!r}.")
    recipe = RECIPES.get((dataset, model))
    if recipe is None:
        models = [m for d, m in RECIPES if d == dataset]
        raise ValueError(
            f"funcnet train: expected a model in {models} for dataset {dataset!r}, got {model!r}."
        )
    return recipe


def optimizer(recipe: Recipe, epochs: int, examples: int) -> optax.GradientTransformation:
    """Adam (AdamW with weight decay) with a cosine decay of the learning rate over the run,
    after clipping by global norm where the recipe asks for it."""
    steps = epochs * (examples // min(recipe.batch_size, examples))
    schedule = optax.cosine_decay_schedule(recipe.learning_rate, max(steps, 1))
    if recipe.weight_decay > 0:
        adam = optax.adamw(schedule, weight_decay=recipe.weight_decay)
    else:
        adam = optax.adam(schedule)
    if recipe.clip_norm is None:
        return adam
    return optax.chain(optax.clip_by_global_norm(recipe.clip_norm), adam)


def build(dataset: str, model: str, recipe: Recipe, train: Dataset, test: Dataset):
    """The model, and the data shaped for it."""
    num_classes = int(max(train.y.max(), test.y.max())) + 1
    if model == "mlp":
        net = mlp(recipe.hidden_features, num_classes, activation=ACTIVATIONS[recipe.activation])
        return net, train, test
    shape = INPUT_SHAPES[dataset]
    if model in RECURRENT_MODELS:
        net = RECURRENT_MODELS[model](recipe.hidden_features[0], num_classes)
    else:
        net = cnn(len(shape) - 1, num_classes, channels=recipe.channels,
                  kernel_size=recipe.kernel_size,
                  hidden_features=recipe.hidden_features[0])  # fmt: skip
    reshape = lambda d: Dataset(d.x.reshape(-1, *shape), d.y)  # noqa: E731
    return net, reshape(train), reshape(test)


def run(
    dataset: str = "digits",
    model: str = "mlp",
    *,
    epochs: int | None = None,
    backward: Backward = "manual",
    seed: int = 0,
    progress: bool = True,
    log: Any = None,
    checkpoint_dir: str | None = None,
    checkpoint_every: int = 1,
    checkpoint_every_steps: int | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Verify the model's manual gradients on a few training examples, then train and test.

    ``checkpoint_dir``, ``checkpoint_every``, ``checkpoint_every_steps`` and ``resume`` are
    :func:`fit`'s. The learning
    rate schedule spans ``epochs``: a resumed run matches an uninterrupted one bit for bit when
    ``epochs`` is the same for both parts, and continues on the new schedule otherwise.

    Raises:
      funcnet.verify.VerificationError: the manual gradients disagree with autodiff or finite
        differences (training does not start).
      funcnet.train.checkpoint.CheckpointError: see :func:`fit`.
    """
    check_backward(backward, "funcnet train")
    check_checkpoint_options(
        checkpoint_dir, resume, checkpoint_every, checkpoint_every_steps=checkpoint_every_steps
    )
    recipe = recipe_for(dataset, model)
    epochs = recipe.epochs if epochs is None else epochs
    net, train, test = build(dataset, model, recipe, *load(dataset))
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
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        checkpoint_every_steps=checkpoint_every_steps,
        resume=resume,
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
        "resumed_from_epoch": result.resumed_from_epoch,
        "resumed_from_step": result.resumed_from_step,
        "parameter_count": int(sum(np.size(p) for p in jax.tree.leaves(result.params))),
    }
