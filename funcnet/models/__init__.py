"""Ready-made models built from funcnet layers."""

from funcnet.models.mlp import mlp

__all__ = ["mlp"]
