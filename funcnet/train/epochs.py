"""Epochs of shuffled mini-batches through a compiled step of one's own: the loop of a model
that ``fit`` cannot train (its step does more than a gradient update, or reads its outputs
differently), with ``fit``'s history rows."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
from tqdm.auto import tqdm

from funcnet.data.dataset import Dataset, batches, num_batches

Step = Callable[..., tuple[Any, Any, Any, Any]]  # (params, opt_state, x, labels) -> (p, s, l, a)


def run_epochs(
    step: Step,
    params: Any,
    opt_state: Any,
    train: Dataset,
    *,
    key: jax.Array,
    epochs: int,
    batch_size: int,
    evaluate: Callable[[Any], dict[str, float]] | None = None,
    diagnose: Callable[[Any], dict[str, float]] | None = None,
    progress: bool = False,
) -> tuple[Any, Any, list[dict[str, float]]]:
    """Run ``step(params, opt_state, x, labels) -> (params, opt_state, loss, accuracy)`` over
    ``epochs`` shuffled passes of full batches (the order drawn from ``key``).

    Returns:
      ``(params, opt_state, history)``, one history row per epoch: ``epoch``, ``train_loss`` and
      ``train_accuracy`` (means over the epoch's steps), ``evaluate(params)``'s metrics as
      ``eval_<name>``, ``diagnose(params)``'s under their own names, ``seconds``.
    """
    steps = num_batches(len(train), batch_size, drop_remainder=True)
    bar = tqdm(total=epochs * steps, disable=not progress, unit="step", leave=False)
    history = []
    for epoch in range(epochs):
        key, order_key = jax.random.split(key)
        start, sums = time.perf_counter(), [0.0, 0.0]
        for x, labels in batches(train, batch_size, key=order_key, drop_remainder=True):
            params, opt_state, loss, accuracy = step(params, opt_state, x, labels)
            sums = [sums[0] + loss, sums[1] + accuracy]  # device values: no wait per step
            bar.update()
        row = {"epoch": epoch + 1, "train_loss": float(sums[0]) / steps,
               "train_accuracy": float(sums[1]) / steps}  # fmt: skip
        if evaluate is not None:
            row.update({f"eval_{k}": v for k, v in evaluate(params).items()})
        if diagnose is not None:
            row.update(diagnose(params))
        row["seconds"] = time.perf_counter() - start
        history.append(row)
    bar.close()
    return params, opt_state, history
