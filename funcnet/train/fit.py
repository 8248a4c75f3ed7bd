"""The ``fit`` loop: epochs of shuffled mini-batches, evaluation, a progress bar, history.

With a ``checkpoint_dir`` the loop saves everything that determines the rest of the run
(params, state, optimizer state, the key, the position reached, the history) every few epochs
or steps, and ``resume=True`` continues from the newest checkpoint bit for bit, mid-epoch
included; see docs/checkpoints.md. With a ``mesh`` it runs data parallel (docs/distributed.md).
"""

from __future__ import annotations

import os
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh
from tqdm.auto import tqdm

from funcnet.core.layer import Layer
from funcnet.core.op import Backward, Op
from funcnet.data.dataset import Dataset, batches, check_dataset, num_batches
from funcnet.train.dp_sgd import dp_sgd_step
from funcnet.train.fit_checkpoints import (
    Position,
    check_checkpoint_options,
    check_positive,
    is_multiple,
    resume_run,
    save_run,
)
from funcnet.train.nonfinite import ON_NONFINITE, check_choice
from funcnet.train.privacy import DPSGD, dp_sgd_epsilon, poisson_batches
from funcnet.train.sharding import check_batch_size, check_mesh, data_devices, replicate
from funcnet.train.step import make_eval_step, make_train_step
from funcnet.train.tally import Tally


class FitResult(NamedTuple):
    params: Any
    state: Any
    opt_state: Any
    history: list[dict[str, float]]  # one row per epoch (restored rows included)
    resumed_from_epoch: int = 0  # epochs completed at the checkpoint resumed from
    resumed_from_step: int = 0  # steps taken at the checkpoint resumed from (0: a fresh start)


def evaluate(
    eval_step, params: Any, state: Any, data: Dataset, batch_size: int, remainder_step=None
) -> dict:
    """Example-weighted means of ``eval_step``'s metrics over ``data``.

    ``remainder_step`` (``eval_step`` when None) evaluates a last batch shorter than
    ``batch_size``: with a data-parallel ``eval_step`` it is an unsplit one, since the mesh's
    devices need not divide the remainder.
    """
    totals: dict[str, float] = {}
    for x, y in batches(data, batch_size):
        short = remainder_step is not None and len(x) < batch_size
        metrics = (remainder_step if short else eval_step)(params, state, (x, y))
        for name, value in metrics.items():
            totals[name] = totals.get(name, 0.0) + float(value) * len(x)
    return {name: total / len(data) for name, total in totals.items()}


def _check_mesh_batch(mesh: Mesh | None, batch_size: int) -> None:
    if mesh is None:
        return
    check_mesh(mesh, "fit")
    if jax.process_count() > 1:
        raise ValueError(
            f"fit: expected one process with a mesh, got {jax.process_count()}; on several "
            "hosts, write the loop with make_train_step and shard_batch (docs/distributed.md)."
        )
    check_batch_size(batch_size, data_devices(mesh), "fit")


def _full_batch_size(full_batch: Any, batch_size: Any, examples: int) -> int:
    """The batch size :func:`fit` runs with (a ValueError for one it cannot use)."""
    if not isinstance(full_batch, bool):
        raise TypeError(f"fit: expected full_batch to be a bool, got {full_batch!r}.")
    if not full_batch or batch_size is not None:
        check_positive("batch_size", batch_size)
    if full_batch and batch_size is not None and batch_size < examples:
        raise ValueError(
            f"fit: expected batch_size None or >= {examples} (the training set) with "
            f"full_batch=True, got {batch_size}."
        )
    return examples if batch_size is None else min(batch_size, examples)


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
    batch_size: int | None = None,
    eval_data: Dataset | None = None,
    backward: Backward = "manual",
    progress: bool = True,
    mesh: Mesh | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    checkpoint_every_steps: int | None = None,
    keep_checkpoints: int | None = 3,
    resume: bool = False,
    on_nonfinite: str = "raise",
    full_batch: bool = False,
    dp: DPSGD | None = None,
) -> FitResult:
    """Train ``model`` for ``epochs`` passes over ``train`` in shuffled mini-batches.

    The order of each epoch and the per-step keys are drawn from ``key``, so a run is fully
    determined by its arguments. Batches are full (the remainder of a shuffled epoch is
    dropped, so one compiled step serves every batch); ``batch_size`` larger than the dataset
    is reduced to its size. ``params`` and ``state`` are copied, so the caller's stay valid
    (the compiled step donates its own copies; nothing the caller passed is deleted).

    Full batch (``full_batch=True``, for line-search and conjugate-gradient optimizers such as
    ``optax.lbfgs`` and :func:`funcnet.optim.conjugate_gradient`): every step sees the whole
    training set in its stored order, placed on the device once, so an epoch is one iteration;
    ``batch_size`` must be None or at least ``len(train)``, and the step reuses the loss and
    gradient the line search left in the optimizer state. The optimizer's diagnostics (line
    search evaluations, failures, restarts) appear in the history as ``train_<name>``, their
    means over the epoch's steps.

    Non-finite steps: a step whose loss or gradient norm is inf or NaN stops the run with a
    :class:`~funcnet.train.nonfinite.NonFiniteError` naming the epoch and step
    (``on_nonfinite="raise"``, the default); ``"skip"`` leaves such steps out (params, state and
    optimizer state unchanged, as if the batch had not been drawn) and counts them in the
    history's ``nonfinite_steps``; ``"warn"`` applies them and warns
    (:class:`~funcnet.train.nonfinite.NonFiniteWarning`). The check runs on the device; the
    flags are read with the epoch's metrics (and before a mid-epoch checkpoint is written), so
    it costs no extra host round trip per step.

    With a ``mesh`` (:func:`~funcnet.train.sharding.data_mesh`) every batch is split over its
    ``"data"`` devices and params, state and optimizer state are replicated (one process; the
    batch size must be divisible by the number of devices).

    Checkpoints: with ``checkpoint_dir``, the params, state, optimizer state, key, position and
    history are saved after every ``checkpoint_every``-th epoch and after the last one, and
    also every ``checkpoint_every_steps`` steps when given, keeping the newest
    ``keep_checkpoints`` files (all when ``None``). With ``resume=True`` the run continues from
    the newest checkpoint there, mid-epoch included (or starts afresh when there is none), and
    ends with the same bits as a run that was never interrupted, given the same arguments;
    ``epochs`` counts from the start of the run, not from the checkpoint. Without ``resume``,
    ``checkpoint_dir`` must hold no checkpoints, so that one run never mixes with another.

    DP-SGD: with ``dp`` (:class:`~funcnet.train.privacy.DPSGD`), each step's batch is a Poisson
    sample at rate ``batch_size / len(train)`` (padded, with a mask), the step is
    :func:`~funcnet.train.dp_sgd.make_dp_sgd_train_step` (ghost clipping, Gaussian noise) and
    each history row adds ``epsilon``, the privacy spent so far at ``delta`` (RDP accountant).

    Returns:
      A :class:`FitResult` whose ``history`` holds, per epoch, the mean training loss (and
      accuracy), the evaluation metrics when ``eval_data`` is given, and the seconds taken.

    Raises:
      funcnet.train.nonfinite.NonFiniteError: a step had a non-finite loss or gradient norm
        (``on_nonfinite="raise"``).
      funcnet.train.checkpoint.CheckpointError: the checkpoint to resume from is damaged, does
        not match the model and optimizer, or comes from a run with another batch size or
        dataset size; or ``checkpoint_dir`` holds checkpoints and ``resume`` is false.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: expected epochs to be a non-negative integer, got {epochs!r}.")
    check_choice(on_nonfinite, ON_NONFINITE, "on_nonfinite", "fit")
    check_dataset(train, "fit", "train")
    batch_size = _full_batch_size(full_batch, batch_size, len(train))
    if dp is not None and full_batch:
        raise ValueError("fit: expected dp (Poisson-sampled batches) or full_batch, got both.")
    if eval_data is not None:
        check_dataset(eval_data, "fit", "eval_data")
    check_checkpoint_options(
        checkpoint_dir, resume, checkpoint_every, keep_checkpoints, checkpoint_every_steps
    )
    _check_mesh_batch(mesh, batch_size)
    nonfinite = "skip" if on_nonfinite == "skip" else "flag"
    if dp is None:
        step = make_train_step(model, loss, optimizer, backward=backward, mesh=mesh,
                               nonfinite=nonfinite, full_batch=full_batch)  # fmt: skip
    else:
        step = dp_sgd_step(model, loss, optimizer, dp, batch_size, backward, mesh, nonfinite)
    eval_step = make_eval_step(model, loss, mesh=mesh)
    remainder_step = None if mesh is None else make_eval_step(model, loss)
    params, state = jax.tree.map(jnp.copy, (params, state))
    saved = {"params": params, "state": state, "opt_state": optimizer.init(params), "key": key}
    history: list[dict[str, float]] = []
    position = Position()
    run = {"batch_size": batch_size, "train_examples": len(train)}
    if resume:
        saved, position, history = resume_run(checkpoint_dir, saved, run)
    if mesh is not None:
        saved = replicate(saved, mesh)
    params, state, opt_state, key = (saved[k] for k in ("params", "state", "opt_state", "key"))
    steps_per_epoch = num_batches(len(train), batch_size, drop_remainder=True)
    whole = (train.x, train.y)  # the full batch, on the device once (a mesh splits it per step)
    if full_batch and mesh is None:
        whole = jax.device_put(whole)
    done = position.epoch * steps_per_epoch + position.batch
    bar = tqdm(total=max(epochs * steps_per_epoch - done, 0), disable=not progress,
               unit="step", leave=False)  # fmt: skip
    saving = checkpoint_dir is not None

    def save(tree_key: jax.Array, at: Position) -> None:
        tree = {"params": params, "state": state, "opt_state": opt_state, "key": tree_key}
        save_run(checkpoint_dir, tree, at, steps_per_epoch, run, history, keep_checkpoints)

    for epoch in range(position.epoch, epochs):
        epoch_key = key  # a mid-epoch checkpoint stores it: the epoch's order is drawn from it
        key, order_key, step_key = jax.random.split(key, 3)
        start = time.perf_counter()
        first = position.batch if epoch == position.epoch else 0
        tally = Tally(on_nonfinite, epoch + 1, steps_per_epoch, first,
                      position.sums if first else None)  # fmt: skip
        step_keys = jax.random.split(step_key, steps_per_epoch)
        if full_batch:
            order = [whole] if first == 0 else []
        elif dp is None:
            order = batches(train, batch_size, key=order_key, drop_remainder=True, start=first)
        else:
            order = poisson_batches(train, batch_size / len(train), key=order_key,
                                    num_batches=steps_per_epoch, start=first)  # fmt: skip
        for i, batch in enumerate(order, start=first):
            params, state, opt_state, metrics = step(params, state, opt_state, batch, step_keys[i])
            tally.add(metrics)
            bar.update()
            if (
                saving
                and i + 1 < steps_per_epoch
                and is_multiple(epoch * steps_per_epoch + i + 1, checkpoint_every_steps)
            ):
                save(epoch_key, Position(epoch, i + 1, tally.settle()))
        row = {"epoch": epoch + 1}
        row.update(tally.means())
        if eval_data is not None:
            metrics = evaluate(eval_step, params, state, eval_data, batch_size, remainder_step)
            row.update({f"eval_{k}": v for k, v in metrics.items()})
        if dp is not None:
            rate, spent = batch_size / len(train), (epoch + 1) * steps_per_epoch
            row.update(epsilon=dp_sgd_epsilon(dp.noise_multiplier, rate, spent, dp.delta),
                       delta=dp.delta)  # fmt: skip
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k.endswith(("loss", "accuracy"))})
        if saving and (
            epoch + 1 == epochs
            or is_multiple(epoch + 1, checkpoint_every)
            or is_multiple((epoch + 1) * steps_per_epoch, checkpoint_every_steps)
        ):
            save(key, Position(epoch + 1))
    bar.close()
    return FitResult(params, state, opt_state, history, position.epoch, done)


__all__ = ["FitResult", "check_checkpoint_options", "evaluate", "fit"]
