"""Layer families, one per module; importing this package registers their ops."""

from funcnet.layers.dense import DenseParams, dense, dense_op

__all__ = ["DenseParams", "dense", "dense_op"]
