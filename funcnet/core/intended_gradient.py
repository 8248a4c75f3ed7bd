"""Intended gradients: what an op declares when its backward is not its forward's derivative,
checked at ``make_op``, and which such ops a model calls (docs/design.md, "Intended gradients").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

EXACT = "exact"
SURROGATE = "surrogate: "

# The names of the ops with an intended gradient called while :func:`surrogates_called` records.
_SURROGATES: list[set[str]] = []


@contextlib.contextmanager
def surrogates_called() -> Iterator[set[str]]:
    """Record the names of the ops with an intended (surrogate) gradient that are called inside
    the block, e.g. while tracing a model, so that a model-level check can tell that its
    gradient is not the derivative of its loss."""
    seen: set[str] = set()
    _SURROGATES.append(seen)
    try:
        yield seen
    finally:
        _SURROGATES.remove(seen)


def record_surrogate(name: str) -> None:
    """Note that the op ``name``, which has an intended gradient, was called."""
    for seen in _SURROGATES:
        seen.add(name)


def check_intended_gradient(name: str, gradient: Any, reference: Any, fd: Any) -> None:
    """An exact op declares nothing more; an intended gradient declares all three parts."""
    where = f"make_op({name!r})"
    if not isinstance(gradient, str):
        raise TypeError(f"{where}: expected gradient to be a string, got {gradient!r}.")
    if reference is None:
        if gradient != EXACT:
            raise ValueError(
                f"{where}: expected gradient_reference for the intended gradient {gradient!r}, "
                "got None."
            )
        if fd is not None:
            raise ValueError(
                f"{where}: expected finite_differences only with a gradient_reference, got {fd!r}."
            )
        return
    if not callable(reference):
        raise TypeError(f"{where}: expected a callable gradient_reference, got {reference!r}.")
    if not gradient.startswith(SURROGATE) or not gradient[len(SURROGATE) :].strip():
        raise ValueError(
            f"{where}: expected gradient to read 'surrogate: <what it is>' for an op with a "
            f"gradient_reference, got {gradient!r}."
        )
    if not (callable(fd) or (isinstance(fd, str) and fd.strip())):
        raise ValueError(
            f"{where}: expected finite_differences to be a smooth function whose derivative is "
            f"the intended gradient, or the reason finite differences do not apply, got {fd!r}."
        )
