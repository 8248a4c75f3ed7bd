"""Pooling over windows (max, average) and over every spatial axis (global); derivations:
docs/pooling.md.
"""

from funcnet.layers.pool.avg_pool import (
    avg_pool1d,
    avg_pool1d_op,
    avg_pool2d,
    avg_pool2d_op,
)
from funcnet.layers.pool.global_pool import (
    global_avg_pool,
    global_avg_pool_op,
    global_max_pool,
    global_max_pool_op,
)
from funcnet.layers.pool.max_pool import (
    max_pool1d,
    max_pool1d_op,
    max_pool2d,
    max_pool2d_op,
)

__all__ = [
    "avg_pool1d",
    "avg_pool1d_op",
    "avg_pool2d",
    "avg_pool2d_op",
    "global_avg_pool",
    "global_avg_pool_op",
    "global_max_pool",
    "global_max_pool_op",
    "max_pool1d",
    "max_pool1d_op",
    "max_pool2d",
    "max_pool2d_op",
]
