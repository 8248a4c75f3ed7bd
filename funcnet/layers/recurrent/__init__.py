"""Recurrent networks: cells, sequence ops with hand-written BPTT, sequence layers and
bidirectional wrappers; derivations: docs/recurrent.md.
"""

from funcnet.layers.recurrent.bidirectional import bidirectional, concat_op, flip_op
from funcnet.layers.recurrent.cells import (
    GRUParams,
    LSTMParams,
    LSTMState,
    RNNParams,
    gru_cell,
    gru_cell_op,
    lstm_cell,
    lstm_cell_op,
    rnn_cell,
    rnn_cell_op,
)
from funcnet.layers.recurrent.layers import (
    RecurrentInput,
    gru,
    lstm,
    rnn,
    sequence_layer,
)
from funcnet.layers.recurrent.sequence import gru_op, lstm_op, rnn_op

__all__ = [
    "GRUParams",
    "LSTMParams",
    "LSTMState",
    "RNNParams",
    "RecurrentInput",
    "bidirectional",
    "concat_op",
    "flip_op",
    "gru",
    "gru_cell",
    "gru_cell_op",
    "gru_op",
    "lstm",
    "lstm_cell",
    "lstm_cell_op",
    "lstm_op",
    "rnn",
    "rnn_cell",
    "rnn_cell_op",
    "rnn_op",
    "sequence_layer",
]
