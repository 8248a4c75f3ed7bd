"""scikit-learn's bundled datasets (no download): digits and iris, with a fixed split.

The split is stratified with a fixed seed, so every run, every backward mode and every
machine sees the same train and test examples.
"""

from __future__ import annotations

import numpy as np

from funcnet.data.dataset import Dataset

SPLIT_SEED = 0


def _sklearn():
    try:
        import sklearn.datasets
        import sklearn.model_selection
    except ImportError as e:
        raise ImportError(
            "funcnet.data: scikit-learn is needed for the bundled datasets; "
            "install it with `pip install 'funcnet[data]'`."
        ) from e
    return sklearn


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float) -> tuple[Dataset, Dataset]:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"funcnet.data: expected 0 < test_fraction < 1, got {test_fraction}.")
    x_tr, x_te, y_tr, y_te = _sklearn().model_selection.train_test_split(
        x, y, test_size=test_fraction, random_state=SPLIT_SEED, stratify=y
    )
    return Dataset(x_tr, y_tr), Dataset(x_te, y_te)


def digits(test_fraction: float = 0.2, *, images: bool = False) -> tuple[Dataset, Dataset]:
    """The 8×8 handwritten digits (1,797 images, 10 classes), pixels scaled to [0, 1].

    Args:
      test_fraction: the share of the examples held out for testing.
      images: each example as an ``8×8×1`` image (rows, columns, one channel), ready for a
        convolutional model; a flat vector of 64 pixels otherwise.

    Shapes:
      ``x [n, 64]`` float32 (``x [n, 8, 8, 1]`` with ``images=True``), ``y [n]`` int32.

    Examples:
      >>> train, test = digits(images=True)
      >>> train.x.shape, len(test)
      ((1437, 8, 8, 1), 360)
    """
    if not isinstance(images, bool):
        raise TypeError(f"digits: expected images to be a bool, got {images!r}.")
    raw = _sklearn().datasets.load_digits()
    x = (raw.data / 16.0).astype(np.float32)
    train, test = _split(x, raw.target.astype(np.int32), test_fraction)
    if images:
        train, test = (Dataset(d.x.reshape(-1, 8, 8, 1), d.y) for d in (train, test))
    return train, test


def iris(test_fraction: float = 0.2) -> tuple[Dataset, Dataset]:
    """Fisher's iris (150 flowers, 4 features, 3 classes), standardised with train statistics.

    Shapes: ``x [n, 4]`` float32, ``y [n]`` int32.
    """
    raw = _sklearn().datasets.load_iris()
    train, test = _split(raw.data.astype(np.float64), raw.target.astype(np.int32), test_fraction)
    mean, std = train.x.mean(axis=0), train.x.std(axis=0)
    standardise = lambda d: Dataset(((d.x - mean) / std).astype(np.float32), d.y)  # noqa: E731
    return standardise(train), standardise(test)
