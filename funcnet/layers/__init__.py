"""Layer families, one per module; importing this package registers their ops."""

from funcnet.layers.activations import (
    identity,
    identity_op,
    leaky_relu,
    leaky_relu_op,
    relu,
    relu_op,
    sigmoid,
    sigmoid_op,
    tanh,
    tanh_op,
)
from funcnet.layers.add import add_op
from funcnet.layers.attention import dot_product_attention_op
from funcnet.layers.attention_lean import dot_product_attention_lean_op
from funcnet.layers.avg_pool import avg_pool1d, avg_pool1d_op, avg_pool2d, avg_pool2d_op
from funcnet.layers.batch_norm import (
    BatchNormParams,
    BatchNormState,
    batch_norm,
    batch_norm_eval_op,
    batch_norm_op,
)
from funcnet.layers.bidirectional import bidirectional, concat_op, flip_op
from funcnet.layers.cast import cast_op
from funcnet.layers.combinators import parallel, residual, serial
from funcnet.layers.conv import (
    ConvParams,
    conv1d,
    conv1d_op,
    conv2d,
    conv2d_op,
    conv3d,
    conv3d_op,
)
from funcnet.layers.conv_transpose import (
    conv_transpose1d,
    conv_transpose1d_op,
    conv_transpose2d,
    conv_transpose2d_op,
)
from funcnet.layers.dense import DenseParams, dense, dense_op
from funcnet.layers.dropout import dropout, dropout_op
from funcnet.layers.embedding import EmbeddingParams, embedding, embedding_op
from funcnet.layers.global_pool import (
    flatten,
    flatten_op,
    global_avg_pool,
    global_avg_pool_op,
    global_max_pool,
    global_max_pool_op,
)
from funcnet.layers.group_norm import GroupNormParams, group_norm, group_norm_op
from funcnet.layers.heads import merge_heads_op, split_heads_op
from funcnet.layers.layer_norm import (
    LayerNormParams,
    layer_norm,
    layer_norm_op,
    rms_norm,
    rms_norm_op,
)
from funcnet.layers.max_pool import max_pool1d, max_pool1d_op, max_pool2d, max_pool2d_op
from funcnet.layers.multi_head_attention import MultiHeadAttentionParams, multi_head_attention
from funcnet.layers.positional import (
    PositionsParams,
    add_positions_op,
    learned_positions,
    sinusoidal_positions,
    sinusoidal_table,
)
from funcnet.layers.recurrent import gru_op, lstm_op, rnn_op
from funcnet.layers.recurrent_layers import RecurrentInput, gru, lstm, rnn, sequence_layer
from funcnet.layers.rnn_cells import (
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
from funcnet.layers.smooth_activations import elu, elu_op, gelu, gelu_op, softplus, softplus_op
from funcnet.layers.softmax import log_softmax, log_softmax_op, softmax, softmax_op
from funcnet.layers.transformer import transformer_block

__all__ = [
    "BatchNormParams",
    "BatchNormState",
    "ConvParams",
    "DenseParams",
    "EmbeddingParams",
    "GRUParams",
    "GroupNormParams",
    "LSTMParams",
    "LSTMState",
    "LayerNormParams",
    "MultiHeadAttentionParams",
    "PositionsParams",
    "RNNParams",
    "RecurrentInput",
    "add_op",
    "add_positions_op",
    "avg_pool1d",
    "avg_pool1d_op",
    "avg_pool2d",
    "avg_pool2d_op",
    "batch_norm",
    "batch_norm_eval_op",
    "batch_norm_op",
    "bidirectional",
    "cast_op",
    "concat_op",
    "conv1d",
    "conv1d_op",
    "conv2d",
    "conv2d_op",
    "conv3d",
    "conv3d_op",
    "conv_transpose1d",
    "conv_transpose1d_op",
    "conv_transpose2d",
    "conv_transpose2d_op",
    "dense",
    "dense_op",
    "dot_product_attention_lean_op",
    "dot_product_attention_op",
    "dropout",
    "dropout_op",
    "elu",
    "elu_op",
    "embedding",
    "embedding_op",
    "flatten",
    "flatten_op",
    "flip_op",
    "gelu",
    "gelu_op",
    "global_avg_pool",
    "global_avg_pool_op",
    "global_max_pool",
    "global_max_pool_op",
    "group_norm",
    "group_norm_op",
    "gru",
    "gru_cell",
    "gru_cell_op",
    "gru_op",
    "identity",
    "identity_op",
    "layer_norm",
    "layer_norm_op",
    "leaky_relu",
    "leaky_relu_op",
    "learned_positions",
    "log_softmax",
    "log_softmax_op",
    "lstm",
    "lstm_cell",
    "lstm_cell_op",
    "lstm_op",
    "max_pool1d",
    "max_pool1d_op",
    "max_pool2d",
    "max_pool2d_op",
    "merge_heads_op",
    "multi_head_attention",
    "parallel",
    "relu",
    "relu_op",
    "residual",
    "rms_norm",
    "rms_norm_op",
    "rnn",
    "rnn_cell",
    "rnn_cell_op",
    "rnn_op",
    "sequence_layer",
    "serial",
    "sigmoid",
    "sigmoid_op",
    "sinusoidal_positions",
    "sinusoidal_table",
    "softmax",
    "softmax_op",
    "softplus",
    "softplus_op",
    "split_heads_op",
    "tanh",
    "tanh_op",
    "transformer_block",
]
