"""MNIST from IDX files on disk, on small IDX files written here (plain and gzipped)."""

import gzip
import struct

import numpy as np
import pytest

from funcnet.data import mnist_idx, read_idx


def _idx(values: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, values.ndim)
    return (
        header + struct.pack(f">{values.ndim}I", *values.shape) + values.astype(np.uint8).tobytes()
    )


def _write(directory, counts=(5, 3), side=4, gz=False, labels=None):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in zip(("train", "t10k"), counts, strict=True):
        arrays[f"{split}-images-idx3-ubyte"] = rng.integers(0, 256, (n, side, side))
        arrays[f"{split}-labels-idx1-ubyte"] = rng.integers(0, 10, n) if labels is None else labels
    for name, values in arrays.items():
        data = _idx(values)
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_reads_the_four_files_plain_or_gzipped(tmp_path, gz):
    arrays = _write(tmp_path, gz=gz)
    train, test = mnist_idx(tmp_path)
    assert train.x.shape == (5, 16) and test.x.shape == (3, 16) and train.x.dtype == np.float32
    np.testing.assert_allclose(train.x * 255, arrays["train-images-idx3-ubyte"].reshape(5, 16))
    np.testing.assert_array_equal(test.y, arrays["t10k-labels-idx1-ubyte"])
    assert test.y.dtype == np.int32
    images, _ = mnist_idx(tmp_path, images=True)
    assert images.x.shape == (5, 4, 4, 1)
    np.testing.assert_array_equal(images.x.reshape(5, 16), train.x)


def test_missing_file_names_both_spellings(tmp_path):
    _write(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte or t10k-labels-idx1-"
                       r"ubyte\.gz in .*, got neither"):  # fmt: skip
        mnist_idx(tmp_path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b"\x08\x03" + b[2:], r"to start with the IDX magic .*, got 08 03 08 03"),
        (lambda b: b[:2] + b"\x0d" + b[3:], r"to hold unsigned bytes \(magic 00 00 08 03\), "
                                            r"got magic 00 00 0d 03"),
        (lambda b: b[:-1], r"to be 96 bytes long \(a 16-byte header and 5×4×4 values\), got 95"),
        (lambda b: b + b"\x00", r"to be 96 bytes long .* got 97"),
        (lambda b: b"", r"to start with the IDX magic .*, got an empty file"),
    ],
    ids=["magic", "type", "short", "long", "empty"],
)  # fmt: skip
def test_damaged_headers_and_sizes_are_named(tmp_path, damage, message):
    _write(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(
        ValueError, match=rf"mnist_idx: expected .*train-images-idx3-ubyte {message}"
    ):
        mnist_idx(tmp_path)


def test_labels_must_match_images_and_be_digits(tmp_path):
    _write(tmp_path, labels=np.arange(4))
    with pytest.raises(ValueError, match=r"as many labels as images, got 4 in train-labels"):
        mnist_idx(tmp_path)
    _write(tmp_path, counts=(3, 3), labels=np.array([1, 12, 3]))
    with pytest.raises(ValueError, match=r"labels 0-9 in train-labels-idx1-ubyte, got 12"):
        mnist_idx(tmp_path)


def test_wrong_rank_and_bad_gzip(tmp_path):
    path = tmp_path / "one.idx"
    path.write_bytes(_idx(np.arange(6).reshape(2, 3)))
    assert read_idx(path).shape == (2, 3)
    with pytest.raises(ValueError, match=r"magic 00 00 08 01\), got magic 00 00 08 02"):
        read_idx(path, ndim=1)
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"expected .*bad\.gz to be a readable gzip file"):
        read_idx(bad)
