"""Ready-made models built from funcnet layers."""

from funcnet.models.binary import binary_mlp
from funcnet.models.cnn import cnn
from funcnet.models.mlp import mlp
from funcnet.models.rnn import gru_classifier, lstm_classifier, recurrent_classifier
from funcnet.models.transformer import transformer_lm

__all__ = [
    "binary_mlp",
    "cnn",
    "gru_classifier",
    "lstm_classifier",
    "mlp",
    "recurrent_classifier",
    "transformer_lm",
]
