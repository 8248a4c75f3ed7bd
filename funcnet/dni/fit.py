"""Training a decoupled network on its one-grad objective (every module and predictor at once).

Each step takes the gradient of :func:`~funcnet.dni.model.decoupled_objective` and applies one
optimizer update to all parameters: numerically the DNI update of every module and predictor
(with ``bp_lambda = 0``), computed in one program. :mod:`funcnet.dni.unlocked` runs the same
updates module by module, unlocked.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import optax

from funcnet.core.op import Backward
from funcnet.data.dataset import Dataset
from funcnet.dni.agreement import gradient_cosines
from funcnet.dni.model import DecoupledModel, DecoupledParams, decoupled_objective
from funcnet.train.epochs import run_epochs


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

    def evaluate(params: DecoupledParams) -> dict[str, float]:
        return evaluate_decoupled(model, params, eval_data)

    def cosines(params: DecoupledParams) -> dict[str, float]:
        x, labels = train.x[:cosine_examples], train.y[:cosine_examples]
        return {f"cosine_{k}": c for k, c in enumerate(gradient_cosines(model, params, x, labels))}

    params, _, history = run_epochs(
        step, params, opt_state, train, key=key, epochs=epochs, batch_size=batch_size,
        evaluate=evaluate if eval_data is not None else None,
        diagnose=cosines if cosine_examples else None, progress=progress,
    )  # fmt: skip
    return params, history
