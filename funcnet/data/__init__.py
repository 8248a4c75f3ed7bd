"""Datasets that need no download, and a mini-batch iterator."""

from funcnet.data.bundled import digits, iris
from funcnet.data.dataset import Dataset, batches, make_dataset, num_batches
from funcnet.data.mnist1d import mnist1d
from funcnet.data.toy import and_, xor

__all__ = [
    "Dataset",
    "and_",
    "batches",
    "digits",
    "iris",
    "make_dataset",
    "mnist1d",
    "num_batches",
    "xor",
]
