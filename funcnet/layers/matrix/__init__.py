"""Structured matrix layers (matrix backpropagation): eigendecomposition, SVD, matrix functions,
the Newton–Schulz square root and covariance pooling; derivations: docs/matrix.md."""

from funcnet.layers.matrix.covariance_pool import (
    covariance_op,
    covariance_pool,
    upper_triangle_op,
)
from funcnet.layers.matrix.eigh import eigh_op, eigh_taylor_reference
from funcnet.layers.matrix.functions import matrix_log_op, matrix_power_op, matrix_sqrt_op
from funcnet.layers.matrix.newton_schulz import newton_schulz_sqrt_op
from funcnet.layers.matrix.svd import svd_op, svd_taylor_reference

__all__ = [
    "covariance_op",
    "covariance_pool",
    "eigh_op",
    "eigh_taylor_reference",
    "matrix_log_op",
    "matrix_power_op",
    "matrix_sqrt_op",
    "newton_schulz_sqrt_op",
    "svd_op",
    "svd_taylor_reference",
    "upper_triangle_op",
]
