"""Recurrent classifiers for sequences ``[N, L, F]``: the last hidden state → dense logits."""

from __future__ import annotations

from funcnet.core.layer import Layer, check_positive_int
from funcnet.layers.combinators import serial
from funcnet.layers.dense import dense
from funcnet.layers.recurrent_layers import gru, lstm, rnn

CELLS = {"rnn": rnn, "lstm": lstm, "gru": gru}


def recurrent_classifier(kind: str, hidden: int, outputs: int) -> Layer:
    """``kind(hidden, return_sequences=False) → dense(outputs)``; the output is logits.

    Args:
      kind: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``.
      hidden: the recurrent state width.
      outputs: width of the output layer.

    Shapes:
      x: ``[N, L, F]`` (or a :class:`~funcnet.layers.RecurrentInput` with a mask) ->
      ``[N, outputs]``.
    """
    if kind not in CELLS:
        raise ValueError(f"recurrent_classifier: expected kind in {tuple(CELLS)}, got {kind!r}.")
    check_positive_int("recurrent_classifier", "hidden", hidden)
    check_positive_int("recurrent_classifier", "outputs", outputs)
    return serial(CELLS[kind](hidden, return_sequences=False), dense(outputs))


def gru_classifier(hidden: int, outputs: int) -> Layer:
    """A GRU over the sequence, its last hidden state → dense logits.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> model = gru_classifier(8, 10)
      >>> shape, params, state = model.init(jax.random.key(0), (4, 40, 1))
      >>> shape
      (4, 10)
    """
    return recurrent_classifier("gru", hidden, outputs)


def lstm_classifier(hidden: int, outputs: int) -> Layer:
    """An LSTM over the sequence, its last hidden state → dense logits."""
    return recurrent_classifier("lstm", hidden, outputs)
