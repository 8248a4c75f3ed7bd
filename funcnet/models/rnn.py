"""Recurrent classifiers for sequences ``[N, L, F]``: the last hidden state → dense logits."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from funcnet.core.layer import Layer, check_positive_int
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.registry import Arg
from funcnet.layers.combinators import serial
from funcnet.layers.dense import dense
from funcnet.layers.recurrent import gru, lstm, rnn

CELLS = {"rnn": rnn, "lstm": lstm, "gru": gru}


def recurrent_classifier(
    kind: str, hidden_features: int, features: int, *, dtype: Any = jnp.float32
) -> Layer:
    """``kind(hidden_features, return_sequences=False) → dense(features)``; the output is logits.

    Args:
      kind: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``.
      hidden_features: the recurrent state width.
      features: width of the output layer.
      dtype: the parameters' dtype (a floating dtype); the input must have it.

    Shapes:
      x: ``[N, L, F]`` (or a :class:`~funcnet.layers.RecurrentInput` with a mask) ->
      ``[N, features]``.
    """
    if not isinstance(kind, str):
        raise TypeError(f"recurrent_classifier: expected kind in {tuple(CELLS)}, got {kind!r}.")
    if kind not in CELLS:
        raise ValueError(f"recurrent_classifier: expected kind in {tuple(CELLS)}, got {kind!r}.")
    check_positive_int("recurrent_classifier", "hidden_features", hidden_features)
    check_positive_int("recurrent_classifier", "features", features)
    recurrent = CELLS[kind](hidden_features, return_sequences=False, dtype=dtype)
    return serial(recurrent, dense(features, dtype=dtype))._replace(name=f"{kind}_classifier")


@layer_factory("gru_classifier")
def gru_classifier(hidden_features: int, features: int, *, dtype: Any = jnp.float32) -> Layer:
    """A GRU over the sequence, its last hidden state → dense logits.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> model = gru_classifier(8, 10)
      >>> shape, params, state = model.init(jax.random.key(0), (4, 40, 1))
      >>> shape
      (4, 10)
    """
    return recurrent_classifier("gru", hidden_features, features, dtype=dtype)


@layer_factory("lstm_classifier")
def lstm_classifier(hidden_features: int, features: int, *, dtype: Any = jnp.float32) -> Layer:
    """An LSTM over the sequence, its last hidden state → dense logits."""
    return recurrent_classifier("lstm", hidden_features, features, dtype=dtype)


add_layer_cases(
    "gru_classifier", lambda: [LayerCase("short", gru_classifier(3, 2), Arg((2, 4, 2)))]
)
add_layer_cases(
    "lstm_classifier", lambda: [LayerCase("short", lstm_classifier(3, 2), Arg((2, 4, 2)))]
)
