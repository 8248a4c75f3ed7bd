"""The ``fit`` loop: epochs of shuffled mini-batches, evaluation, a progress bar, history.

With a ``checkpoint_dir`` the loop saves everything that determines the rest of the run
(params, state, optimizer state, the key, the epoch reached, the history) every few epochs, and
``resume=True`` continues from the newest checkpoint bit for bit; see docs/checkpoints.md.
"""

from __future__ import annotations

import os
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from tqdm.auto import tqdm

from funcnet.core.layer import Layer
from funcnet.core.op import Backward, Op
from funcnet.data.dataset import Dataset, batches, num_batches
from funcnet.train import checkpoint
from funcnet.train.step import make_eval_step, make_train_step


class FitResult(NamedTuple):
    params: Any
    state: Any
    opt_state: Any
    history: list[dict[str, float]]  # one row per epoch (restored rows included)
    resumed_from_epoch: int = 0  # the epoch of the checkpoint resumed from (0: a fresh start)


def evaluate(eval_step, params: Any, state: Any, data: Dataset, batch_size: int) -> dict:
    """Example-weighted means of ``eval_step``'s metrics over ``data``."""
    totals: dict[str, float] = {}
    for x, y in batches(data, batch_size):
        for name, value in eval_step(params, state, (x, y)).items():
            totals[name] = totals.get(name, 0.0) + float(value) * len(x)
    return {name: total / len(data) for name, total in totals.items()}


def _check_positive(name: str, value: Any, allow_none: bool = False) -> None:
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"fit: expected {name} to be a positive integer, got {value!r}.")


def check_checkpoint_options(
    checkpoint_dir: str | os.PathLike | None,
    resume: bool,
    checkpoint_every: int = 1,
    keep_checkpoints: int | None = 3,
) -> None:
    """Raise unless :func:`fit` can run with these checkpoint options (before any work)."""
    _check_positive("checkpoint_every", checkpoint_every)
    _check_positive("keep_checkpoints", keep_checkpoints, allow_none=True)
    if checkpoint_dir is None and resume:
        raise ValueError("fit: expected a checkpoint_dir to resume from, got None.")
    found = None if checkpoint_dir is None or resume else checkpoint.latest(checkpoint_dir)
    if found is not None:  # a fresh run would interleave its checkpoints with another run's
        raise checkpoint.CheckpointError(
            f"fit: expected a checkpoint_dir without checkpoints (or resume=True), got "
            f"{checkpoint_dir} holding {found.name}."
        )


def _resume(
    directory: str | os.PathLike, template: dict[str, Any], run: dict[str, int]
) -> tuple[dict[str, Any], int, list[dict[str, float]]]:
    """The saved tree, the epoch it reached and the history, from the newest checkpoint."""
    path = checkpoint.latest(directory)
    if path is None:
        return template, 0, []
    tree, meta = checkpoint.restore(path, template)
    saved_run = {k: meta.get(k) for k in run}
    if saved_run != run:  # another data order: the rest of the run would not be the same
        raise checkpoint.CheckpointError(
            f"checkpoint {path}: expected a run with {run}, got one with {saved_run}."
        )
    if meta.get("batch", 0) != 0:
        raise checkpoint.CheckpointError(
            f"checkpoint {path}: fit resumes at epoch boundaries, got a position "
            f"{meta['batch']} batches into epoch {meta['epoch'] + 1}."
        )
    return tree, int(meta["epoch"]), list(meta["history"])


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
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    keep_checkpoints: int | None = 3,
    resume: bool = False,
) -> FitResult:
    """Train ``model`` for ``epochs`` passes over ``train`` in shuffled mini-batches.

    The order of each epoch and the per-step keys are drawn from ``key``, so a run is fully
    determined by its arguments. Batches are full (the remainder of a shuffled epoch is
    dropped, so one compiled step serves every batch); ``batch_size`` larger than the dataset
    is reduced to its size. ``params`` and ``state`` are copied, so the caller's stay valid.

    Checkpoints: with ``checkpoint_dir``, the params, state, optimizer state, key and history
    are saved after every ``checkpoint_every``-th epoch and after the last one, keeping the
    newest ``keep_checkpoints`` files (all when ``None``). With ``resume=True`` the run
    continues from the newest checkpoint there (or starts afresh when there is none) and ends
    with the same bits as a run that was never interrupted, given the same arguments;
    ``epochs`` counts from the start of the run, not from the checkpoint. Without ``resume``,
    ``checkpoint_dir`` must hold no checkpoints, so that one run never mixes with another.

    Returns:
      A :class:`FitResult` whose ``history`` holds, per epoch, the mean training loss (and
      accuracy), the evaluation metrics when ``eval_data`` is given, and the seconds taken.

    Raises:
      funcnet.train.checkpoint.CheckpointError: the checkpoint to resume from is damaged, does
        not match the model and optimizer, or comes from a run with another batch size or
        dataset size; or ``checkpoint_dir`` holds checkpoints and ``resume`` is false.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: expected epochs to be a non-negative integer, got {epochs!r}.")
    check_checkpoint_options(checkpoint_dir, resume, checkpoint_every, keep_checkpoints)
    batch_size = min(batch_size, len(train))
    step = make_train_step(model, loss, optimizer, backward=backward)
    eval_step = make_eval_step(model, loss)
    params, state = jax.tree.map(jnp.copy, (params, state))
    saved = {"params": params, "state": state, "opt_state": optimizer.init(params), "key": key}
    history: list[dict[str, float]] = []
    start_epoch = 0
    run = {"batch_size": batch_size, "train_examples": len(train)}
    if resume:
        saved, start_epoch, history = _resume(checkpoint_dir, saved, run)
    params, state, opt_state, key = (saved[k] for k in ("params", "state", "opt_state", "key"))
    steps_per_epoch = num_batches(len(train), batch_size, drop_remainder=True)
    total = max(epochs - start_epoch, 0) * steps_per_epoch
    bar = tqdm(total=total, disable=not progress, unit="step", leave=False)
    for epoch in range(start_epoch, epochs):
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
        if checkpoint_dir is not None and (
            (epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs
        ):
            tree = {"params": params, "state": state, "opt_state": opt_state, "key": key}
            meta = {"epoch": epoch + 1, "batch": 0, "step": (epoch + 1) * steps_per_epoch,
                    **run, "history": history}  # fmt: skip
            checkpoint.save_step(checkpoint_dir, meta["step"], tree, meta, keep=keep_checkpoints)
    bar.close()
    return FitResult(params, state, opt_state, history, start_epoch)


__all__ = ["FitResult", "check_checkpoint_options", "evaluate", "fit"]
