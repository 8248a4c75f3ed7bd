"""The fields of a ``funcnet train`` result, the same for every model (trained by ``fit`` or
by a loop of its own): what ran, the accuracies and losses of the last epoch, the gradient
check, the history."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from funcnet.data.dataset import Dataset
from funcnet.verify.report import CaseReport


def grad_check_fields(check: CaseReport) -> dict[str, Any]:
    """The gradient-check fields of a :func:`~funcnet.verify.verify_model` case: the largest
    errors against autodiff and finite differences (NaN where finite differences do not apply:
    a surrogate), whether it passed, which gradient it holds the model to, and the notes."""
    ran_fd = any(e.check == "finite_differences" for e in check.errors)
    return {
        "grad_check_max_rel_err": check.max_rel_err("autodiff"),
        "grad_check_max_rel_err_fd": check.max_rel_err("finite_differences")
        if ran_fd or check.crash is not None
        else float("nan"),
        "grad_check_passed": check.passed,
        "grad_check_gradient": check.gradient,
        "grad_check_notes": list(check.notes),
    }


def train_result(
    *,
    dataset: str,
    model: str,
    optimizer: str,
    backward: str,
    epochs: int,
    seed: int,
    data: tuple[Dataset, Dataset],
    history: list[dict[str, Any]],
    train_seconds: float,
    params: Any,
    check: CaseReport,
    resumed_from_epoch: int = 0,
    resumed_from_step: int = 0,
) -> dict[str, Any]:
    """``funcnet train``'s result: ``data`` is ``(train, test)``, ``history`` one row per epoch
    (the last row's ``eval_accuracy``, ``eval_loss``, ``train_loss``, ``train_accuracy`` are
    reported, NaN where missing), ``check`` the gradient check's case."""
    last = history[-1]
    return {
        "dataset": dataset,
        "model": model,
        "optimizer": optimizer,
        "backward": backward,
        "epochs": epochs,
        "seed": seed,
        "train_examples": len(data[0]),
        "test_examples": len(data[1]),
        "test_accuracy": last.get("eval_accuracy", float("nan")),
        "test_loss": last.get("eval_loss", float("nan")),
        "train_loss": last.get("train_loss", float("nan")),
        "train_accuracy": last.get("train_accuracy", float("nan")),
        "train_seconds": train_seconds,
        **grad_check_fields(check),
        "history": history,
        "resumed_from_epoch": resumed_from_epoch,
        "resumed_from_step": resumed_from_step,
        "parameter_count": int(sum(np.size(p) for p in jax.tree.leaves(params))),
    }
