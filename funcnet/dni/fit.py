"""Training a decoupled network on its one-grad objective (every module and predictor at once).

Each step takes the gradient of :func:`~funcnet.dni.model.decoupled_objective` and applies one
optimizer update to all parameters: numerically the DNI update of every module and predictor
(with ``bp_lambda = 0``), computed in one program. :mod:`funcnet.dni.unlocked` runs the same
updates module by module, unlocked.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import jax
import optax
from tqdm.auto import tqdm

from funcnet.core.op import Backward
from funcnet.data.dataset import Dataset, batches, num_batches
from funcnet.dni.agreement import gradient_cosines
from funcnet.dni.model import DecoupledModel, DecoupledParams, decoupled_objective


def make_decoupled_step(model: DecoupledModel, optimizer: optax.GradientTransformation,
                        backward: Backward = "manual"):  # fmt: skip
    """``(params, opt_state, x, labels) -> (params, opt_state, loss, accuracy)``, compiled."""

    def step(params, opt_state, x, labels):
        def objective(p):
            return decoupled_objective(model, p, x, labels, backward=backward)

        (_, (loss, logits)), grads = jax.value_and_grad(objective, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        accuracy = (logits.argmax(-1) == labels).mean()
        return optax.apply_updates(params, updates), opt_state, loss, accuracy

    return jax.jit(step)


def evaluate_decoupled(model: DecoupledModel, params: DecoupledParams, data: Dataset) -> dict:
    """``{"loss", "accuracy"}`` of the network on ``data`` (the forward needs no predictor)."""
    loss, logits = _evaluate(model, params, data.x, data.y)
    return {"loss": float(loss), "accuracy": float((logits.argmax(-1) == data.y).mean())}


@functools.partial(jax.jit, static_argnums=0)  # compiled once per model and data shape
def _evaluate(model: DecoupledModel, params: DecoupledParams, x: Any, labels: Any) -> Any:
    return decoupled_objective(model, params, x, labels)[1]


def fit_decoupled(
    model: DecoupledModel,
    params: DecoupledParams,
    optimizer: optax.GradientTransformation,
    train: Dataset,
    *,
    key: jax.Array,
    epochs: int,
    batch_size: int,
    eval_data: Dataset | None = None,
    backward: Backward = "manual",
    progress: bool = False,
    cosine_examples: int = 0,
) -> tuple[DecoupledParams, list[dict[str, Any]]]:
    """Train for ``epochs`` of shuffled mini-batches; one history row per epoch (train and eval
    loss and accuracy; with ``cosine_examples``, each interface's synthetic-vs-true gradient
    cosine on that many training examples, ``cosine_<k>``)."""
    step = make_decoupled_step(model, optimizer, backward)
    opt_state = jax.jit(optimizer.init)(params)  # eagerly, each leaf would compile its own zeros
    steps = num_batches(len(train), batch_size, drop_remainder=True)
    bar = tqdm(total=epochs * steps, disable=not progress, unit="step", leave=False)
    history = []
    for epoch in range(epochs):
        key, order_key = jax.random.split(key)
        start, sums = time.perf_counter(), [0.0, 0.0]
        for x, labels in batches(train, batch_size, key=order_key, drop_remainder=True):
            params, opt_state, loss, accuracy = step(params, opt_state, x, labels)
            sums = [sums[0] + loss, sums[1] + accuracy]
            bar.update()
        row = {"epoch": epoch + 1, "train_loss": float(sums[0]) / steps}
        row["train_accuracy"] = float(sums[1]) / steps
        if eval_data is not None:
            metrics = evaluate_decoupled(model, params, eval_data)
            row.update({f"eval_{k}": v for k, v in metrics.items()})
        if cosine_examples:
            x, labels = train.x[:cosine_examples], train.y[:cosine_examples]
            for k, c in enumerate(gradient_cosines(model, params, x, labels)):
                row[f"cosine_{k}"] = c
        row["seconds"] = time.perf_counter() - start
        history.append(row)
    bar.close()
    return params, history
