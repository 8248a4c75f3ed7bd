"""MNIST-1D (Greydanus, 2020), generated procedurally by the ``mnist1d`` package.

Only ``mnist1d.data.make_dataset`` is used: the data set is built from its templates on the
spot, with the package's default arguments (4,000 train and 1,000 test sequences of length 40,
10 classes, seed 42). The package's download and pickle paths are never touched.
"""

from __future__ import annotations

import numpy as np

from funcnet.data.dataset import Dataset


def mnist1d() -> tuple[Dataset, Dataset]:
    """``(train, test)``: ``x [n, 40]`` float32 sequences, ``y [n]`` int32 labels."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise ImportError(
            "funcnet.data: the mnist1d package is needed for MNIST-1D; "
            "install it with `pip install 'funcnet[data]'`."
        ) from e
    raw = make_dataset(get_dataset_args())
    as_set = lambda x, y: Dataset(np.asarray(x, np.float32), np.asarray(y, np.int32))  # noqa: E731
    return as_set(raw["x"], raw["y"]), as_set(raw["x_test"], raw["y_test"])
