"""An epoch's training metrics: per-step device values, read once, and non-finite steps.

The fit loop appends each step's metrics (device scalars, nothing read) and reads them all at
the end of the epoch, or at a mid-epoch checkpoint — where it reads the params anyway. That is
also where non-finite steps (:mod:`funcnet.train.nonfinite`) are acted on: ``"raise"`` stops
with a :class:`~funcnet.train.nonfinite.NonFiniteError` naming the first one, ``"warn"`` warns
and carries on, ``"skip"`` leaves the skipped steps out of the means and counts them.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import jax

from funcnet.train.nonfinite import NonFiniteError, NonFiniteWarning

FLAG = "nonfinite"  # the step's metric: 1.0 for a non-finite step
COUNTED = "_steps"  # in saved sums: the steps the sums are over


class Tally:
    """Metric sums over an epoch's steps, some restored from a checkpoint, some on the device.

    Args:
      on_nonfinite: ``"raise"``, ``"warn"`` or ``"skip"``.
      epoch: the epoch (counted from 1) in messages.
      steps_per_epoch: the epoch's number of steps, in messages.
      first: the step (from 0) the first pending record belongs to.
      restored: sums saved at a mid-epoch checkpoint (``{}`` for a fresh epoch).
    """

    def __init__(self, on_nonfinite: str, epoch: int, steps_per_epoch: int, first: int,
                 restored: dict[str, float] | None) -> None:  # fmt: skip
        self.on_nonfinite, self.epoch, self.steps_per_epoch = on_nonfinite, epoch, steps_per_epoch
        self.sums: dict[str, float] = dict(restored or {})
        self.sums.setdefault(COUNTED, float(first - self.sums.get(FLAG, 0.0)))
        self.next_step = first  # the step number of the first pending record
        self.pending: list[dict[str, Any]] = []

    def add(self, metrics: dict[str, Any]) -> None:
        """Record one step's metrics (device arrays; nothing is read)."""
        self.pending.append(metrics)

    def settle(self) -> dict[str, float]:
        """Read the pending steps, act on non-finite ones; return the sums (saved mid-epoch)."""
        for record in jax.device_get(self.pending):
            step, self.next_step = self.next_step, self.next_step + 1
            bad = float(record.pop(FLAG, 0.0)) > 0
            if bad:
                self._nonfinite(step, record)
                self.sums[FLAG] = self.sums.get(FLAG, 0.0) + 1
                if self.on_nonfinite == "skip":
                    continue
            self.sums[COUNTED] += 1
            for name, value in record.items():
                self.sums[name] = self.sums.get(name, 0.0) + float(value)
        self.pending = []
        return dict(self.sums)

    def _nonfinite(self, step: int, record: dict[str, Any]) -> None:
        values = ", ".join(
            f"{k} {float(record[k]):.4g}" for k in ("loss", "grad_norm") if k in record
        )
        where = f"epoch {self.epoch}, step {step + 1} of {self.steps_per_epoch} ({values})"
        if self.on_nonfinite == "raise":
            raise NonFiniteError(
                f"fit: expected a finite loss and gradient norm, got a non-finite one at {where}; "
                "look for NaN or inf in the data and for a learning rate that diverges, or pass "
                "on_nonfinite='skip' (leave such steps out) or 'warn'."
            )
        if self.on_nonfinite == "warn":
            warnings.warn(f"fit: non-finite loss or gradient norm at {where}.", NonFiniteWarning,
                          stacklevel=4)  # fmt: skip

    def means(self) -> dict[str, float]:
        """The epoch's row: ``train_<metric>`` means over the counted steps, and the count of
        non-finite steps."""
        sums = self.settle()
        counted = sums.pop(COUNTED)
        nonfinite = int(sums.pop(FLAG, 0))
        row = {f"train_{k}": (v / counted if counted else math.nan) for k, v in sums.items()}
        row["nonfinite_steps"] = nonfinite
        return row


__all__ = ["COUNTED", "FLAG", "Tally"]
