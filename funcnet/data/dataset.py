"""An in-memory dataset and a mini-batch iterator with explicit-key shuffling."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Inputs ``x [n, ...]`` (float32) and targets ``y [n, ...]`` (int32 labels or float).

    ``len(data)`` is the number of examples and ``x, y = data`` unpacks. (It is not a
    NamedTuple: a tuple whose ``len`` is not its field count breaks tuple machinery such as
    ``_replace``.)
    """

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.x, self.y))

    def _replace(self, **fields: Any) -> Dataset:
        return dataclasses.replace(self, **fields)


def make_dataset(x: np.ndarray, y: np.ndarray, name: str = "dataset") -> Dataset:
    """A :class:`Dataset`, checking that ``x`` and ``y`` have one example count."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{name}: expected x and y with the same number of examples, "
            f"got shapes {x.shape} and {y.shape}."
        )
    return Dataset(x, y)


def check_dataset(data: Any, where: str, name: str = "data") -> None:
    """Raise unless ``data`` is a :class:`Dataset` with as many targets as inputs (at least one).

    A wrong kind of object is a TypeError, mismatched lengths a ValueError, each naming
    ``where`` and the argument ``name``.
    """
    if not isinstance(data, Dataset):
        raise TypeError(
            f"{where}: expected {name} to be a funcnet.data.Dataset (make_dataset(x, y) builds "
            f"one), got {type(data).__name__}."
        )
    x_shape, y_shape = np.shape(data.x), np.shape(data.y)
    if not x_shape or not y_shape or x_shape[0] != y_shape[0] or x_shape[0] == 0:
        raise ValueError(
            f"{where}: expected {name}.x and {name}.y with the same number of examples (at "
            f"least one), got shapes {x_shape} and {y_shape}."
        )


def num_batches(n: int, batch_size: int, drop_remainder: bool) -> int:
    """How many batches :func:`batches` yields for ``n`` examples."""
    return n // batch_size if drop_remainder else -(-n // batch_size)


def batches(
    data: Dataset,
    batch_size: int,
    *,
    key: jax.Array | None = None,
    drop_remainder: bool = False,
    start: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(x, y)`` mini-batches, in an order drawn from ``key`` (in order without one),
    from batch number ``start`` on (the earlier ones are skipped, not gathered).

    Examples:
      >>> import numpy as np
      >>> data = make_dataset(np.arange(5.0)[:, None], np.arange(5))
      >>> [y.tolist() for _, y in batches(data, 2)]
      [[0, 1], [2, 3], [4]]
    """
    check_dataset(data, "batches")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batches: expected a positive integer batch_size, got {batch_size!r}.")
    n = len(data)
    if drop_remainder and batch_size > n:
        raise ValueError(
            f"batches: expected batch_size <= {n} (the dataset size) with drop_remainder, "
            f"got {batch_size}."
        )
    order = np.arange(n) if key is None else np.asarray(jax.random.permutation(key, n))
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ValueError(f"batches: expected a non-negative integer start, got {start!r}.")
    for b in range(start, num_batches(n, batch_size, drop_remainder)):
        idx = order[b * batch_size : (b + 1) * batch_size]
        yield data.x[idx], data.y[idx]
