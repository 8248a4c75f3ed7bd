"""Embedding lookup: integer ids ``[...]`` -> rows of a table ``W [V, D]``, ``y [..., D]``.

With the ids flattened into ``n`` positions and ``S ∈ {0,1}^{n×V}`` their one-hot rows, the
forward is a gather ``Y = S W`` and the VJP a scatter-add::

    dW = Sᵀ dY        (row v of dW sums dY over every position whose id is v)

Ids get no cotangent (``None``: integers are not differentiable). An id outside ``[0, V)``
(negative ids included) and the ``padding_idx`` id give a zero vector, so they add nothing to
``dW``. Residuals: the looked-up rows (``int32`` ids) and the table's static shape — never the
table or the output. Derivation: docs/embedding.md.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from funcnet.core.jvp_rules import linear_in_floats_jvp
from funcnet.core.layer import (
    Layer,
    Shape,
    check_float_dtype,
    check_input_shape,
    check_positive_int,
)
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.per_example_norms import leading_rows
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.initializers import Initializer, normal

NAME = "embedding"


class EmbeddingParams(NamedTuple):
    table: jax.Array  # [vocab_size, features]


def _check_padding_idx(padding_idx: Any, vocab_size: int | None = None) -> None:
    if padding_idx is None:
        return
    bound = "a non-negative integer" if vocab_size is None else f"an integer in [0, {vocab_size})"
    message = f"{NAME}: expected padding_idx to be None or {bound}, got {padding_idx!r}."
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, int):
        raise TypeError(message)
    if padding_idx < 0 or (vocab_size is not None and padding_idx >= vocab_size):
        raise ValueError(message)


def _check_args(ids: Any, table: Any, padding_idx: int | None) -> None:
    ids_dtype, table_dtype = jnp.result_type(ids), jnp.result_type(table)
    if not jnp.issubdtype(ids_dtype, jnp.integer):
        raise ValueError(f"{NAME}: expected integer ids, got dtype {ids_dtype}.")
    if jnp.ndim(table) != 2 or not jnp.issubdtype(table_dtype, jnp.floating):
        raise ValueError(
            f"{NAME}: expected a floating-point table [vocab_size, features], got shape "
            f"{jnp.shape(table)} and dtype {table_dtype}."
        )
    _check_padding_idx(padding_idx, jnp.shape(table)[0])


def _lookup_rows(ids: jax.Array, vocab_size: int, padding_idx: int | None) -> jax.Array:
    """``ids`` as int32 with out-of-range ids (and ``padding_idx``) replaced by ``V``.

    ``V`` is out of range for the gather (``mode="fill"``: a zero row) and for the scatter
    (``mode="drop"``: nothing added). Mapping negatives explicitly matters: JAX's indexing
    would otherwise wrap ``-1`` to the last row. The comparisons run in the ids' own dtype
    (a bound it cannot hold is skipped), so no id wraps around in a cast.
    """
    largest = int(jnp.iinfo(ids.dtype).max)
    looked_up = ids >= 0
    if vocab_size <= largest:
        looked_up &= ids < vocab_size
    if padding_idx is not None and padding_idx <= largest:
        looked_up &= ids != padding_idx
    return jnp.where(looked_up, ids.astype(jnp.int32), vocab_size)


@op_factory(NAME)
def embedding_op(padding_idx: int | None = None) -> Op:
    """The op ``(ids, table) -> table[ids]`` (zero vectors for out-of-range and padding ids).

    Args:
      padding_idx: an id that maps to a zero vector, so its row gets no gradient (``None``:
        none).

    Shapes:
      ids: ``[...]`` integers; table: ``[V, D]`` floating point -> ``[..., D]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> table = jnp.arange(6.0).reshape(3, 2)
      >>> embedding_op()(jnp.array([2, 0, 5]), table).tolist()  # 5 is out of range
      [[4.0, 5.0], [0.0, 1.0], [0.0, 0.0]]
    """
    _check_padding_idx(padding_idx)

    def forward(ids, table):
        _check_args(ids, table, padding_idx)
        rows = _lookup_rows(ids, table.shape[0], padding_idx)
        return jnp.take(table, rows, axis=0, mode="fill", fill_value=0)

    def fwd(ids, table):
        _check_args(ids, table, padding_idx)
        rows = _lookup_rows(ids, table.shape[0], padding_idx)
        y = jnp.take(table, rows, axis=0, mode="fill", fill_value=0)
        return y, (rows, jnp.zeros((0, *table.shape), table.dtype))

    def bwd(res, dy):
        # dW = Sᵀ dY: a scatter-add of dY's rows into their ids' rows (repeats accumulate,
        # out-of-range and padding ids are dropped); the integer ids get None
        rows, table_witness = res
        vocab_size, features = table_witness.shape[1:]
        dtable = jnp.zeros((vocab_size, features), dy.dtype)
        return None, dtable.at[rows.reshape(-1)].add(dy.reshape(-1, features), mode="drop")

    def per_example_norms(res, dy):
        # ‖dWᵢ‖² = ‖Sᵢᵀ dYᵢ‖² = Σ_{t,s} [idₜ = idₛ ≠ dropped] dyₜ·dyₛ  (SᵢSᵢᵀ: equal ids)
        rows, table_witness = res
        ids = leading_rows(rows[..., None], rows.ndim)[..., 0]  # [B, T]
        valid = ids < table_witness.shape[1]
        same = (ids[:, :, None] == ids[:, None, :]) & valid[:, :, None] & valid[:, None, :]
        dys = leading_rows(dy, dy.ndim - 1)
        return None, jnp.sum(jnp.where(same, jnp.einsum("btd,bsd->bts", dys, dys), 0), (1, 2))

    # Ẏ = S Ẇ: the tangent table's rows gathered at the same ids
    jvp = linear_in_floats_jvp(forward)
    return make_op(NAME, forward, fwd, bwd, per_example_norms=per_example_norms, jvp=jvp)


@layer_factory("embedding")
def embedding(
    vocab_size: int,
    features: int,
    *,
    padding_idx: int | None = None,
    table_init: Initializer | None = None,
    dtype: jnp.dtype = jnp.float32,
) -> Layer:
    """A learned lookup table mapping integer ids to ``features``-dimensional vectors.

    Ids outside ``[0, vocab_size)`` (negative ones included) map to a zero vector and get no
    gradient: they cannot be checked at trace time under ``jit``, so they have a defined,
    harmless result instead of an error.

    Args:
      vocab_size: number of rows ``V`` of the table.
      features: size ``D`` of each vector.
      padding_idx: an id that maps to a zero vector and so never sends a gradient to its row;
        the row is initialised to zeros and is otherwise unused. ``None``: no padding id.
      table_init: initialiser of the table; defaults to ``normal(1/√features)``, vectors of
        expected squared norm 1.
      dtype: dtype of the table, and of the output.

    Shapes:
      ids: ``[...]`` integers -> y: ``[..., features]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = embedding(10, 4, padding_idx=0)
      >>> out_shape, params, state = layer.init(jax.random.key(0), (2, 3))
      >>> out_shape, params.table.shape
      ((2, 3, 4), (10, 4))
      >>> y, _ = layer.apply(params, state, jnp.array([[0, 1, 2], [9, 9, 0]]))
      >>> y.shape, float(jnp.abs(y[0, 0]).sum())  # the padding row starts at zero
      ((2, 3, 4), 0.0)
    """
    check_positive_int(NAME, "vocab_size", vocab_size)
    check_positive_int(NAME, "features", features)
    _check_padding_idx(padding_idx, vocab_size)
    check_float_dtype(NAME, dtype)
    op = embedding_op(padding_idx)
    table_init = table_init or normal(stddev=features**-0.5)

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, EmbeddingParams, tuple]:
        shape = check_input_shape(NAME, input_shape)
        table = table_init(key, (vocab_size, features), dtype)
        if padding_idx is not None:
            table = table.at[padding_idx].set(0)
        return (*shape, features), EmbeddingParams(table), ()

    def apply(params: EmbeddingParams, state, x, *, key=None, train=False, backward="manual"):
        del key, train
        check_backward(backward, NAME)
        return op(x, params.table, backward=backward), state

    return Layer(NAME, init, apply)


def _cases() -> list[Case]:
    def ids(shape: tuple[int, ...], high: int) -> Arg:
        return Arg(shape, kind="int", high=high)

    return [
        Case("repeated_ids", embedding_op(), (ids((3, 4), 5), Arg((5, 3))), second_order=True),
        Case("padding", embedding_op(padding_idx=2), (ids((2, 5), 6), Arg((6, 3)))),
        Case("out_of_range", embedding_op(), (ids((8,), 9), Arg((6, 4)))),
    ]


add_cases(NAME, _cases)
add_layer_cases(
    NAME, lambda: [LayerCase("padding", embedding(5, 3, padding_idx=0), Arg((2, 4), "int", high=6))]
)
