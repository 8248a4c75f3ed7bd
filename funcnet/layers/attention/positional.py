"""Positional information for sequences ``x [..., T, D]``: a fixed sinusoidal table or a
learned one, added to the input.

* :func:`sinusoidal_table` — ``E[t, 2i] = sin(t/10000^(2i/D))``, ``E[t, 2i+1] = cos(...)``
  (a plain function); :func:`sinusoidal_positions` — the layer ``y = x + E[:T]``.
* :func:`learned_positions` — the layer ``y = x + P[:T]`` with a learned table ``P [L, D]``,
  through the op ``add_positions``: ``dx = dy``, ``dP[:T] = Σ_batch dy``, ``dP[T:] = 0``.

Docs: docs/attention.md (positional information).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from funcnet.core.jvp_rules import linear_jvp
from funcnet.core.layer import (
    Layer,
    Shape,
    check_floating,
    check_input_shape,
    check_positive_int,
    check_shape_rank,
)
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.per_example_norms import leading_rows
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.initializers import Initializer, normal
from funcnet.layers.add import add_op


def sinusoidal_table(length: int, features: int, dtype: Any = jnp.float32) -> jax.Array:
    """The ``[length, features]`` sinusoidal table of "Attention is all you need" (even
    ``features``).

    Examples:
      >>> sinusoidal_table(2, 4).tolist()[0]
      [0.0, 1.0, 0.0, 1.0]
    """
    check_positive_int("sinusoidal_table", "length", length)
    check_positive_int("sinusoidal_table", "features", features)
    if features % 2:
        raise ValueError(
            f"sinusoidal_table: expected features to be a positive even integer, got {features!r}."
        )
    t = np.arange(length)[:, None]
    freq = 10000.0 ** (-np.arange(0, features, 2) / features)
    table = np.zeros((length, features))
    table[:, 0::2], table[:, 1::2] = np.sin(t * freq), np.cos(t * freq)
    return jnp.asarray(table, dtype)


def _check_sequence(name: str, shape: tuple[int, ...], max_length: int | None) -> None:
    check_shape_rank(name, shape, 2, "input [..., T, D]")
    if max_length is not None and shape[-2] > max_length:
        raise ValueError(
            f"{name}: expected a sequence of length <= max_length={max_length} on axis -2, "
            f"got shape {tuple(shape)}."
        )


@layer_factory("sinusoidal_positions")
def sinusoidal_positions() -> Layer:
    """A parameter-free layer adding :func:`sinusoidal_table` to ``x [..., T, D]`` (even ``D``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> y, _ = sinusoidal_positions().apply((), (), jnp.zeros((1, 2, 2)))
      >>> [round(v, 4) for v in y[0, 1].tolist()]  # sin 1, cos 1
      [0.8415, 0.5403]
    """
    add = add_op()

    def check(shape: Shape) -> None:
        _check_sequence("sinusoidal_positions", shape, None)
        if shape[-1] % 2:  # the table pairs a sine and a cosine per frequency
            raise ValueError(
                f"sinusoidal_positions: expected an even number of features D on axis -1, "
                f"got shape {tuple(shape)}."
            )

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple, tuple]:
        del key
        shape = check_input_shape("sinusoidal_positions", input_shape)
        check(shape)
        return shape, (), ()

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        del params, key, train
        check_backward(backward, "sinusoidal_positions")
        check_floating("sinusoidal_positions", x)
        check(jnp.shape(x))
        table = sinusoidal_table(x.shape[-2], x.shape[-1], x.dtype)
        return add(x, jnp.broadcast_to(table, x.shape), backward=backward), state

    return Layer("sinusoidal_positions", init, apply)


@op_factory("add_positions")
def add_positions_op(max_length: int) -> Op:
    """The op ``(x [..., T, D], table [L, D]) -> x + table[:T]`` for ``T ≤ L = max_length``."""
    check_positive_int("add_positions", "max_length", max_length)

    def forward(x, table):
        if table.shape[0] != max_length or x.shape[-2] > max_length:
            raise ValueError(
                f"add_positions: expected a table of {max_length} rows and T <= {max_length}, "
                f"got table {table.shape} and x {x.shape}."
            )
        length = x.shape[-2]
        return x + table[:length].reshape((1,) * (x.ndim - 2) + (length, x.shape[-1]))

    def fwd(x, table):
        return forward(x, table), None

    def bwd(res, dy):
        # dx = dy, dtable = [Σ_batch dy; 0]  (rows past T get nothing)
        del res
        summed = jnp.sum(dy, axis=tuple(range(dy.ndim - 2)))
        return dy, jnp.pad(summed, ((0, max_length - summed.shape[0]), (0, 0)))

    def per_example_norms(res, dy):
        # ‖dtableᵢ‖² = ‖Σ_{batch axes within i} dyᵢ‖²  (the rows past T are zero)
        del res
        rows = leading_rows(dy, dy.ndim - 2)  # [B, inner, T, D]
        return None, jnp.sum(jnp.sum(rows, axis=1) ** 2, axis=(1, 2))

    jvp = linear_jvp(forward)  # ẏ = ẋ + ṫable[:T]
    return make_op("add_positions", forward, fwd, bwd, per_example_norms=per_example_norms,
                   jvp=jvp)  # fmt: skip


class PositionsParams(NamedTuple):
    table: jax.Array  # [max_length, D]


@layer_factory("learned_positions")
def learned_positions(
    max_length: int, *, table_init: Initializer | None = None, dtype: Any = jnp.float32
) -> Layer:
    """A layer adding a learned ``[max_length, D]`` table of position vectors to ``x [..., T, D]``.

    Args:
      max_length: the longest sequence the layer accepts.
      table_init: initialiser of the table (default ``normal(0.02)``).
      dtype: dtype of the table; the input must have the same dtype.

    Shapes:
      x: ``[..., T, D]`` with ``T ≤ max_length`` -> y: the same shape.
    """
    check_positive_int("learned_positions", "max_length", max_length)
    op, init_table = add_positions_op(max_length), table_init or normal(0.02)

    def layer_init(key: jax.Array, input_shape: Shape) -> tuple[Shape, PositionsParams, tuple]:
        shape = check_input_shape("learned_positions", input_shape)
        _check_sequence("learned_positions", shape, max_length)
        return shape, PositionsParams(init_table(key, (max_length, shape[-1]), dtype)), ()

    def apply(params: PositionsParams, state, x, *, key=None, train=False, backward="manual"):
        del key, train
        check_backward(backward, "learned_positions")
        _check_sequence("learned_positions", jnp.shape(x), max_length)
        if x.shape[-1] != params.table.shape[-1]:
            raise ValueError(
                f"learned_positions: expected input axis -1 of size {params.table.shape[-1]}, "
                f"got shape {tuple(x.shape)}."
            )
        check_floating("learned_positions", x, params.table.dtype)
        return op(x, params.table, backward=backward), state

    return Layer("learned_positions", layer_init, apply)


add_cases(
    "add_positions",
    lambda: [Case("batch", add_positions_op(5), (Arg((2, 3, 4)), Arg((5, 4))), second_order=True)],
)
add_layer_cases(
    "sinusoidal_positions", lambda: [LayerCase("batch", sinusoidal_positions(), Arg((2, 3, 4)))]
)
add_layer_cases(
    "learned_positions", lambda: [LayerCase("short", learned_positions(5), Arg((2, 3, 4)))]
)
