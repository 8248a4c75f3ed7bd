"""The ``fit`` loop: epochs of shuffled mini-batches, evaluation, a progress bar, history."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from tqdm.auto import tqdm

from funcnet.core.layer import Layer
from funcnet.core.op import Backward, Op
from funcnet.data.dataset import Dataset, batches, num_batches
from funcnet.train.step import make_eval_step, make_train_step


class FitResult(NamedTuple):
    params: Any
    state: Any
    opt_state: Any
    history: list[dict[str, float]]  # one row per epoch


def evaluate(eval_step, params: Any, state: Any, data: Dataset, batch_size: int) -> dict:
    """Example-weighted means of ``eval_step``'s metrics over ``data``."""
    totals: dict[str, float] = {}
    for x, y in batches(data, batch_size):
        for name, value in eval_step(params, state, (x, y)).items():
            totals[name] = totals.get(name, 0.0) + float(value) * len(x)
    return {name: total / len(data) for name, total in totals.items()}


def fit(
    model: Layer,
    loss: Op,
    optimizer: optax.GradientTransformation,
    params: Any,
    state: Any,
    train: Dataset,
    *,
    key: jax.Array,
    epochs: int,
    batch_size: int,
    eval_data: Dataset | None = None,
    backward: Backward = "manual",
    progress: bool = True,
) -> FitResult:
    """Train ``model`` for ``epochs`` passes over ``train`` in shuffled mini-batches.

    The order of each epoch and the per-step keys are drawn from ``key``, so a run is fully
    determined by its arguments. Batches are full (the remainder of a shuffled epoch is
    dropped, so one compiled step serves every batch); ``batch_size`` larger than the dataset
    is reduced to its size. ``params`` and ``state`` are copied, so the caller's stay valid.

    Returns:
      A :class:`FitResult` whose ``history`` holds, per epoch, the mean training loss (and
      accuracy), the evaluation metrics when ``eval_data`` is given, and the seconds taken.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: expected epochs to be a non-negative integer, got {epochs!r}.")
    batch_size = min(batch_size, len(train))
    step = make_train_step(model, loss, optimizer, backward=backward)
    eval_step = make_eval_step(model, loss)
    params, state = jax.tree.map(jnp.copy, (params, state))
    opt_state = optimizer.init(params)
    history: list[dict[str, float]] = []
    steps_per_epoch = num_batches(len(train), batch_size, drop_remainder=True)
    bar = tqdm(total=epochs * steps_per_epoch, disable=not progress, unit="step", leave=False)
    for epoch in range(epochs):
        key, order_key, step_key = jax.random.split(key, 3)
        start = time.perf_counter()
        sums: dict[str, jax.Array] = {}
        step_keys = jax.random.split(step_key, steps_per_epoch)
        for i, batch in enumerate(batches(train, batch_size, key=order_key, drop_remainder=True)):
            params, state, opt_state, metrics = step(params, state, opt_state, batch, step_keys[i])
            sums = {k: sums.get(k, 0.0) + v for k, v in metrics.items()}
            bar.update()
        row = {"epoch": epoch + 1}
        row.update({f"train_{k}": float(v) / steps_per_epoch for k, v in sums.items()})
        if eval_data is not None:
            metrics = evaluate(eval_step, params, state, eval_data, batch_size)
            row.update({f"eval_{k}": v for k, v in metrics.items()})
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k.endswith(("loss", "accuracy"))})
    bar.close()
    return FitResult(params, state, opt_state, history)


__all__ = ["FitResult", "evaluate", "fit"]
