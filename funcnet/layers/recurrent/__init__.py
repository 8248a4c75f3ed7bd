"""Recurrent networks: each cell (Elman RNN, LSTM, GRU) is one description (:class:`Cell`) that
one generic sequence op (forward scan, hand-written reverse-scan BPTT) and one generic cell op
consume; sequence layers, cell layers and bidirectional wrappers on top. Derivations:
docs/recurrent.md.
"""

from funcnet.layers.recurrent.bidirectional import bidirectional, concat_op, flip_op
from funcnet.layers.recurrent.cell import Cell
from funcnet.layers.recurrent.elman import RNNParams, rnn, rnn_cell, rnn_cell_op, rnn_op
from funcnet.layers.recurrent.gated_recurrent_unit import (
    GRUParams,
    gru,
    gru_cell,
    gru_cell_op,
    gru_op,
)
from funcnet.layers.recurrent.long_short_term_memory import (
    LSTMParams,
    LSTMState,
    lstm,
    lstm_cell,
    lstm_cell_op,
    lstm_op,
)
from funcnet.layers.recurrent.scan import sequence_op
from funcnet.layers.recurrent.sequence import RecurrentInput, sequence_layer
from funcnet.layers.recurrent.step import cell_layer, cell_op

__all__ = [
    "Cell",
    "GRUParams",
    "LSTMParams",
    "LSTMState",
    "RNNParams",
    "RecurrentInput",
    "bidirectional",
    "cell_layer",
    "cell_op",
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
    "sequence_op",
]
