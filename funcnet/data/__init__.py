"""Datasets that need no download (and MNIST from IDX files already on disk), and a mini-batch
iterator."""

from funcnet.data.bundled import digits, iris
from funcnet.data.dataset import Dataset, batches, make_dataset, num_batches
from funcnet.data.docstrings import (
    DEFAULT_MODULES,
    Vocab,
    build_vocab,
    encode,
    stdlib_docstrings,
    word_tokens,
)
from funcnet.data.mnist1d import mnist1d
from funcnet.data.mnist_idx import mnist_idx, read_idx
from funcnet.data.toy import and_, xor
from funcnet.data.yin_yang import latency_code, rate_code, spike_time_code, yin_yang

__all__ = [
    "DEFAULT_MODULES",
    "Dataset",
    "Vocab",
    "and_",
    "batches",
    "build_vocab",
    "digits",
    "encode",
    "iris",
    "latency_code",
    "make_dataset",
    "mnist1d",
    "mnist_idx",
    "num_batches",
    "rate_code",
    "read_idx",
    "spike_time_code",
    "stdlib_docstrings",
    "word_tokens",
    "xor",
    "yin_yang",
]
