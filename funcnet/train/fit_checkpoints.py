"""Where :func:`~funcnet.train.fit.fit` keeps its place: checkpoint options, saving a run's
position (epoch, batch, metric sums, history) and resuming from the newest checkpoint."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from funcnet.train import checkpoint


def check_positive(name: str, value: Any, allow_none: bool = False) -> None:
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"fit: expected {name} to be a positive integer, got {value!r}.")


def check_checkpoint_options(
    checkpoint_dir: str | os.PathLike | None,
    resume: bool,
    checkpoint_every: int = 1,
    keep_checkpoints: int | None = 3,
    checkpoint_every_steps: int | None = None,
) -> None:
    """Raise unless :func:`fit` can run with these checkpoint options (before any work)."""
    check_positive("checkpoint_every", checkpoint_every)
    check_positive("checkpoint_every_steps", checkpoint_every_steps, allow_none=True)
    check_positive("keep_checkpoints", keep_checkpoints, allow_none=True)
    if checkpoint_dir is None and resume:
        raise ValueError("fit: expected a checkpoint_dir to resume from, got None.")
    found = None if checkpoint_dir is None or resume else checkpoint.latest(checkpoint_dir)
    if found is not None:  # a fresh run would interleave its checkpoints with another run's
        raise checkpoint.CheckpointError(
            f"fit: expected a checkpoint_dir without checkpoints (or resume=True), got "
            f"{checkpoint_dir} holding {found.name}."
        )


class Position(NamedTuple):
    """Where a run stands: epochs completed, batches done in the next one, their metric sums."""

    epoch: int = 0
    batch: int = 0
    sums: dict[str, Any] | None = None


def resume_run(
    directory: str | os.PathLike, template: dict[str, Any], run: dict[str, int]
) -> tuple[dict[str, Any], Position, list[dict[str, float]]]:
    """The saved tree, the position it reached and the history, from the newest checkpoint."""
    path = checkpoint.latest(directory)
    if path is None:
        return template, Position(), []
    tree, meta = checkpoint.restore(path, template)
    saved_run = {k: meta.get(k) for k in run}
    if saved_run != run:  # another data order: the rest of the run would not be the same
        raise checkpoint.CheckpointError(
            f"checkpoint {path}: expected a run with {run}, got one with {saved_run}."
        )
    position = Position(int(meta["epoch"]), int(meta.get("batch", 0)), meta.get("sums", {}))
    return tree, position, list(meta["history"])


def save_run(
    directory: str | os.PathLike,
    tree: dict[str, Any],
    position: Position,
    steps_per_epoch: int,
    run: dict[str, int],
    history: list[dict[str, float]],
    keep: int | None,
) -> None:
    """Save ``tree`` (its key is the one the epoch ``position.epoch`` starts from)."""
    step = position.epoch * steps_per_epoch + position.batch
    sums = dict(position.sums or {})
    meta = {"epoch": position.epoch, "batch": position.batch, "step": step, "sums": sums,
            **run, "history": history}  # fmt: skip
    checkpoint.save_step(directory, step, tree, meta, keep=keep)


def is_multiple(count: int, every: int | None) -> bool:
    return every is not None and count % every == 0
