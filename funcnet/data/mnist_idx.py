"""MNIST (or Fashion-MNIST) from the IDX files a user already has on disk; nothing is downloaded.

An IDX file is a big-endian header — two zero bytes, a type code (``0x08``: unsigned bytes), the
number of dimensions ``d`` — then ``d`` 32-bit sizes, then the values. The loader reads the four
standard files, each plain or gzipped::

    train-images-idx3-ubyte   train-labels-idx1-ubyte
    t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte

and checks each header, the file's length against it, and that images and labels agree in
number; every problem is a ValueError naming the file (a missing file, a FileNotFoundError).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from funcnet.data.dataset import Dataset

FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
UNSIGNED_BYTE = 0x08


def find_idx(directory: Path, name: str) -> Path:
    """``directory/name`` or ``directory/name.gz``, whichever exists (a FileNotFoundError
    naming both when neither does)."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"mnist_idx: expected {name} or {name}.gz in {directory}, got neither.")


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """The array stored in an IDX file of unsigned bytes (gzipped when its name ends in .gz).

    Args:
      path: the file.
      ndim: the number of dimensions the file must have (any when None).

    Raises:
      ValueError: the header is not an IDX header of unsigned bytes (of ``ndim`` dimensions), or
        the file is shorter or longer than its header says.
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"mnist_idx: expected {path} to be a readable gzip file, got {e}.") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"mnist_idx: expected {path} to start with the IDX magic 00 00 <type> <ndim>, got "
            f"{raw[:4].hex(' ') or 'an empty file'}."
        )
    dims = raw[3]
    if raw[2] != UNSIGNED_BYTE or (ndim is not None and dims != ndim):
        expected = f"08 {ndim:02x}" if ndim is not None else "08 <ndim>"
        raise ValueError(
            f"mnist_idx: expected {path} to hold unsigned bytes (magic 00 00 {expected}), got "
            f"magic {raw[:4].hex(' ')}."
        )
    header = 4 + 4 * dims
    if len(raw) < header:
        raise ValueError(
            f"mnist_idx: expected {path} to hold a {header}-byte header, got {len(raw)} bytes."
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", dims, offset=4))
    expected_size = header + int(np.prod(shape))
    if len(raw) != expected_size:
        raise ValueError(
            f"mnist_idx: expected {path} to be {expected_size} bytes long (a {header}-byte header "
            f"and {'×'.join(map(str, shape))} values), got {len(raw)} bytes."
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _split(directory: Path, split: str, images: bool) -> Dataset:
    x_path = find_idx(directory, FILES[split, "images"])
    y_path = find_idx(directory, FILES[split, "labels"])
    x, y = read_idx(x_path, ndim=3), read_idx(y_path, ndim=1)
    if len(x) != len(y):
        raise ValueError(
            f"mnist_idx: expected as many labels as images, got {len(y)} in {y_path.name} and "
            f"{len(x)} in {x_path.name}."
        )
    if y.size and y.max() > 9:
        raise ValueError(f"mnist_idx: expected labels 0-9 in {y_path.name}, got {int(y.max())}.")
    x = x.astype(np.float32) / 255.0
    x = x[..., None] if images else x.reshape(len(x), -1)
    return Dataset(x, y.astype(np.int32))


def mnist_idx(directory: str | os.PathLike, *, images: bool = False) -> tuple[Dataset, Dataset]:
    """``(train, test)`` from MNIST's four IDX files in ``directory`` (plain or ``.gz``).

    Pixels are scaled from 0-255 to [0, 1]; the image size is read from the files (28×28 for
    MNIST and Fashion-MNIST).

    Args:
      directory: the folder holding the files.
      images: each example as an ``H×W×1`` image; a flat vector of ``H·W`` pixels otherwise.

    Shapes:
      ``x [n, H·W]`` float32 (``x [n, H, W, 1]`` with ``images=True``), ``y [n]`` int32.

    Raises:
      FileNotFoundError: a file is in ``directory`` neither plain nor gzipped.
      ValueError: a file is not an IDX file of unsigned bytes of the expected rank, its length
        disagrees with its header, images and labels differ in number, or a label exceeds 9.
    """
    if not isinstance(images, bool):
        raise TypeError(f"mnist_idx: expected images to be a bool, got {images!r}.")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"mnist_idx: expected a directory, got {str(directory)!r}.")
    return _split(directory, "train", images), _split(directory, "test", images)


__all__ = ["FILES", "find_idx", "mnist_idx", "read_idx"]
