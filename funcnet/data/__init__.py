"""Datasets that need no download, and a mini-batch iterator."""

from funcnet.data.bundled import digits, iris
from funcnet.data.dataset import Dataset, batches, make_dataset, num_batches
from funcnet.data.toy import and_, xor

__all__ = ["Dataset", "and_", "batches", "digits", "iris", "make_dataset", "num_batches", "xor"]
