"""Ready-made models built from funcnet layers."""

from funcnet.models.cnn import cnn
from funcnet.models.mlp import mlp

__all__ = ["cnn", "mlp"]
