"""The main job behind ``funcnet train``: verify a model's manual gradients, then train it.

Each (dataset, model) pair comes with the recipe (widths, optimizer settings, epochs, batch
size) that the command uses by default. Datasets, models, losses, optimizers and recipes are
registered (:mod:`funcnet.recipe_registry`), the built-in ones at the bottom of this file; a
family adds its own from its module with one ``register_*`` call each.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import optax

from funcnet import data as datasets
from funcnet.core.op import Backward, check_backward
from funcnet.data.dataset import Dataset, num_batches
from funcnet.dni.recipe import register_decoupled_recipes
from funcnet.layers.activations import relu, tanh
from funcnet.losses import softmax_cross_entropy_with_integer_labels
from funcnet.models import cnn, mlp
from funcnet.models.rnn import gru_classifier
from funcnet.models.spiking_recipes import register_spiking_recipes
from funcnet.recipe_registry import (
    DATASETS,
    LOSSES,
    MODELS,
    OPTIMIZERS,
    RECIPES,
    DatasetSpec,
    Recipe,
    check_names,
    load,
    recipe_for,
    register_dataset,
    register_loss,
    register_model,
    register_optimizer,
    register_recipe,
)
from funcnet.recipe_result import train_result
from funcnet.train.fit import check_checkpoint_options, fit
from funcnet.verify import Report, verify_model

GRAD_CHECK_EXAMPLES = 16
ACTIVATIONS = {"relu": relu, "tanh": tanh}


def adam(recipe: Recipe, epochs: int, steps_per_epoch: int) -> optax.GradientTransformation:
    """Adam (AdamW with weight decay) with a cosine decay of the learning rate over the run,
    after clipping by global norm where the recipe asks for it."""
    schedule = optax.cosine_decay_schedule(recipe.learning_rate, max(epochs * steps_per_epoch, 1))
    if recipe.weight_decay > 0:
        base = optax.adamw(schedule, weight_decay=recipe.weight_decay)
    else:
        base = optax.adam(schedule)
    if recipe.clip_norm is not None:
        base = optax.chain(optax.clip_by_global_norm(recipe.clip_norm), base)
    after = (recipe.options or {}).get("after_update")  # e.g. BinaryConnect's weight clipping
    return base if after is None else optax.chain(base, after)


def optimizer(recipe: Recipe, epochs: int, examples: int) -> optax.GradientTransformation:
    """The recipe's Adam for ``examples`` training examples in batches of its batch size."""
    return adam(recipe, epochs, examples // min(recipe.batch_size, examples))


def check_run(dataset: Any, model: Any, optimizer: Any = "adam", epochs: Any = None) -> None:
    """Raise a ValueError unless ``funcnet train`` can run these choices (before any work)."""
    check_names(dataset, model, optimizer)
    if epochs is not None and (
        isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1
    ):
        raise ValueError(
            f"funcnet train: expected epochs to be a positive integer, got {epochs!r}."
        )


def check_no_checkpoints(model: str, checkpoint_dir: Any, resume: bool) -> None:
    """Raise a ValueError: a model trained by its own loop takes no checkpoint options."""
    if checkpoint_dir is not None or resume:
        raise ValueError(
            f"funcnet train: expected no checkpoint options for model {model!r} (trained by its "
            f"own loop), got checkpoint_dir={checkpoint_dir!r}, resume={resume!r}."
        )


def shaped(spec: DatasetSpec, structured: bool, data: Dataset) -> Dataset:
    """``data`` with each example shaped as ``spec.example_shape`` for a structured model."""
    if not structured:
        return data
    return Dataset(data.x.reshape(-1, *spec.example_shape), data.y)


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
    optimizer: str = "adam",
) -> dict[str, Any]:
    """Verify the model's manual gradients on a few training examples, then train and test.

    ``checkpoint_dir``, ``checkpoint_every``, ``checkpoint_every_steps`` and ``resume`` are
    :func:`fit`'s. The learning rate schedule spans ``epochs``: a resumed run matches an
    uninterrupted one bit for bit when ``epochs`` is the same for both parts, and continues on
    the new schedule otherwise. ``optimizer`` names a registered optimizer (``"adam"``: the
    recipe's; ``"lbfgs"``: L-BFGS on the whole training set, one iteration per epoch; the
    conjugate-gradient ones of :mod:`funcnet.optim.train_options` likewise).

    Raises:
      ValueError: an unknown dataset, model or optimizer, a pair without a recipe, epochs < 1.
      funcnet.verify.VerificationError: the manual gradients disagree with autodiff or finite
        differences (training does not start).
      funcnet.train.checkpoint.CheckpointError: see :func:`fit`.
    """
    check_backward(backward, "funcnet train")
    check_run(dataset, model, optimizer, epochs)
    check_checkpoint_options(
        checkpoint_dir, resume, checkpoint_every, checkpoint_every_steps=checkpoint_every_steps
    )
    recipe, data_spec, model_spec = recipe_for(dataset, model), DATASETS[dataset], MODELS[model]
    opt_spec = OPTIMIZERS[optimizer]
    if model_spec.train is not None:  # a model trained by its own loop saves no checkpoints
        check_no_checkpoints(model, checkpoint_dir, resume)
    epochs = recipe.epochs if epochs is None else epochs
    train, test = (shaped(data_spec, model_spec.structured, d) for d in data_spec.load())
    if model_spec.encode is not None:  # spike trains for a spiking model, say
        train, test = model_spec.encode(recipe, train), model_spec.encode(recipe, test)
    num_classes = int(max(train.y.max(), test.y.max())) + 1
    if model_spec.train is not None:  # trained by its own loop
        return model_spec.train(
            recipe, train, test, dataset=dataset, optimizer=opt_spec, epochs=epochs,
            seed=seed, backward=backward, progress=progress, log=log,
        )  # fmt: skip
    net = model_spec.build(recipe, data_spec, num_classes)
    loss = LOSSES[recipe.loss]()
    batch_size = len(train) if opt_spec.full_batch else min(recipe.batch_size, len(train))
    steps_per_epoch = num_batches(len(train), batch_size, drop_remainder=True)
    init_key, fit_key = jax.random.split(jax.random.key(seed))
    _, params, state = net.init(init_key, (batch_size, *train.x.shape[1:]))

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
        opt_spec.make(recipe, epochs, steps_per_epoch),
        params,
        state,
        train,
        key=fit_key,
        epochs=epochs,
        batch_size=batch_size,
        eval_data=test,
        backward=backward,
        progress=progress,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        checkpoint_every_steps=checkpoint_every_steps,
        resume=resume,
        full_batch=opt_spec.full_batch,
    )
    return train_result(
        dataset=dataset, model=model, optimizer=optimizer, backward=backward, epochs=epochs,
        seed=seed, data=(train, test), history=result.history,
        train_seconds=time.perf_counter() - start, params=result.params, check=check,
        resumed_from_epoch=result.resumed_from_epoch, resumed_from_step=result.resumed_from_step,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the built-in datasets, models, losses, optimizers and recipes


def _truth_table(table: Dataset) -> tuple[Dataset, Dataset]:
    return table, table  # the four rows are their own test set


register_dataset("digits", datasets.digits, example_shape=(8, 8, 1))
register_dataset("mnist1d", datasets.mnist1d, example_shape=(40, 1))
register_dataset("iris", datasets.iris)
register_dataset("xor", lambda: _truth_table(datasets.xor()))
register_dataset("and", lambda: _truth_table(datasets.and_()))
register_dataset("yin_yang", lambda: (datasets.yin_yang("train"), datasets.yin_yang("test")))

register_model(
    "mlp",
    lambda r, d, n: mlp(r.hidden_features, n, activation=ACTIVATIONS[r.activation]),
)
register_model(
    "cnn",
    lambda r, d, n: cnn(len(d.example_shape) - 1, n, channels=r.channels,
                        kernel_size=r.kernel_size, hidden_features=r.hidden_features[0]),
    structured=True,
)  # fmt: skip
register_model("gru", lambda r, d, n: gru_classifier(r.hidden_features[0], n), structured=True)

register_loss("softmax_cross_entropy", softmax_cross_entropy_with_integer_labels)

register_optimizer("adam", adam, help="the recipe's Adam with a cosine schedule")
register_optimizer(
    "lbfgs",
    lambda r, epochs, steps: optax.lbfgs(),
    full_batch=True,
    help="optax's L-BFGS on the whole training set, one iteration per epoch",
)
from funcnet.optim import train_options  # noqa: E402, F401  (cg-fr, cg-pr, cg-pb, scg)

# The truth tables use tanh: with zero-initialised biases the input (0, 0) puts every hidden
# pre-activation exactly on relu's kink, where finite differences cannot check a gradient.
register_recipe("digits", "mlp", Recipe((256, 256), learning_rate=2e-3, epochs=40, batch_size=32))
register_recipe("digits", "cnn", Recipe((128,), 2e-3, epochs=30, batch_size=32, channels=(32, 64)))
register_recipe(
    "mnist1d", "mlp", Recipe((512, 512), 2e-3, epochs=100, batch_size=64, weight_decay=0.1)
)
register_recipe(
    "mnist1d",
    "cnn",
    Recipe((128,), 2e-3, epochs=40, batch_size=64, weight_decay=0.1, channels=(64, 64, 64),
           kernel_size=5),
)  # fmt: skip
register_recipe(
    "mnist1d",
    "gru",
    Recipe((64,), 1e-2, epochs=30, batch_size=64, weight_decay=1e-4, clip_norm=1.0),
)
register_recipe("iris", "mlp", Recipe((32,), learning_rate=1e-2, epochs=100, batch_size=16))
register_recipe("xor", "mlp", Recipe((8,), 5e-2, epochs=300, batch_size=4, activation="tanh"))
register_recipe("and", "mlp", Recipe((8,), 5e-2, epochs=300, batch_size=4, activation="tanh"))

from funcnet.models import binary_recipes  # noqa: E402, F401  (bnn, binaryconnect, bop)

register_decoupled_recipes()  # dni and cdni on the digits
register_spiking_recipes()  # lif on yin_yang and digits, eventprop on yin_yang

__all__ = [
    "RECIPES",
    "Recipe",
    "adam",
    "check_run",
    "load",
    "optimizer",
    "recipe_for",
    "run",
]
