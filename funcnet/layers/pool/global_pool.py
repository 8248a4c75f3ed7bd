"""Global average and max pooling over every spatial axis.

Shapes: ``x [N, *spatial, C]`` -> ``y [N, C]`` for the pools, with ``P = Π spatial`` positions
per channel. Per example and channel, with ``x`` seen as the column of its ``P`` values::

    global_avg_pool:  y = (1/P) 1ᵀ x          dx = (1/P) 1 dy      (dy spread evenly)
    global_max_pool:  y = e_aᵀ x              dx = e_a dy          (a = argmax x)

``e_a`` is the one-hot column of the arg-max ``a``. Ties go to the *first* maximum in row-major
order of the spatial axes, as ``jnp.argmax``: the reference forward is
``take_along_axis(x, argmax x)``, whose autodiff sends ``dy`` to that one element. (``jnp.max``'s
autodiff would instead split ``dy`` equally among the ties; routing it to one element matches
the windowed max pools, whose autodiff does the same.) Residuals: the arg-max index
``int32 [N, C]`` for global max, and otherwise nothing but the input's shape.
Derivations: docs/pooling.md; tests: tests/layers/pool/test_global_pool.py.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from funcnet.core.layer import Layer, Shape, check_shape_rank, op_layer
from funcnet.core.op import Op, make_op, shape_witness
from funcnet.core.registry import Arg, Case, add_cases, op_factory


def _check_pool_input(name: str, shape: tuple[int, ...]) -> None:
    check_shape_rank(name, shape, 3, "input [N, *spatial, C]")


def _pooled_shape(shape: Shape) -> Shape:
    return (shape[0], shape[-1])


def _positions_last(x: jax.Array) -> jax.Array:
    """``[N, *spatial, C]`` -> ``[N, P, C]``."""
    return x.reshape(x.shape[0], -1, x.shape[-1])


@op_factory("global_avg_pool")
def global_avg_pool_op() -> Op:
    """The op ``x [N, *spatial, C] -> mean over the spatial axes [N, C]``."""

    def forward(x):
        _check_pool_input("global_avg_pool", jnp.shape(x))
        return jnp.mean(x, axis=tuple(range(1, x.ndim - 1)))

    def fwd(x):
        return forward(x), (shape_witness(x.shape),)

    def bwd(res, dy):
        # dx = (1/P) 1 dy: every position of channel c gets dy[n, c] / P
        shape = res[0].shape[1:]
        g = dy / math.prod(shape[1:-1])
        return (jnp.broadcast_to(jnp.expand_dims(g, tuple(range(1, len(shape) - 1))), shape),)

    return make_op("global_avg_pool", forward, fwd, bwd)


@op_factory("global_max_pool")
def global_max_pool_op() -> Op:
    """The op ``x [N, *spatial, C] -> max over the spatial axes [N, C]`` (first max on ties)."""

    def forward(x):
        _check_pool_input("global_max_pool", jnp.shape(x))
        xr = _positions_last(x)
        a = jnp.argmax(xr, axis=1, keepdims=True)
        return jnp.take_along_axis(xr, a, axis=1)[:, 0, :]

    def fwd(x):
        _check_pool_input("global_max_pool", x.shape)
        xr = _positions_last(x)
        return jnp.max(xr, axis=1), (jnp.argmax(xr, axis=1), shape_witness(x.shape))

    def bwd(res, dy):
        # dx = e_a dy: dy[n, c] goes to position a[n, c], the first arg-max; 0 elsewhere
        a, witness = res
        shape = witness.shape[1:]
        positions = jnp.arange(math.prod(shape[1:-1]), dtype=a.dtype)[None, :, None]
        hit = positions == a[:, None, :]
        return (jnp.where(hit, dy[:, None, :], jnp.zeros((), dy.dtype)).reshape(shape),)

    return make_op("global_max_pool", forward, fwd, bwd)


def global_avg_pool() -> Layer:
    """A layer averaging every channel over all spatial axes.

    Shapes:
      x: ``[N, *spatial, C]`` with at least one spatial axis -> y: ``[N, C]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = global_avg_pool().apply((), (), jnp.arange(8.0).reshape(1, 2, 2, 2))
      >>> y.tolist()
      [[3.0, 4.0]]
    """
    op = global_avg_pool_op()
    return op_layer(op, min_rank=3, what="input [N, *spatial, C]", output_shape=_pooled_shape)


def global_max_pool() -> Layer:
    """A layer taking every channel's maximum over all spatial axes (first max on ties).

    Shapes:
      x: ``[N, *spatial, C]`` with at least one spatial axis -> y: ``[N, C]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = global_max_pool().apply((), (), jnp.arange(8.0).reshape(1, 2, 2, 2))
      >>> y.tolist()
      [[6.0, 7.0]]
    """
    op = global_max_pool_op()
    return op_layer(op, min_rank=3, what="input [N, *spatial, C]", output_shape=_pooled_shape)


def _avg_cases() -> list[Case]:
    return [
        Case("global_avg_2d", global_avg_pool_op(), (Arg((2, 4, 5, 3)),), second_order=True),
        Case("global_avg_1d", global_avg_pool_op(), (Arg((2, 6, 2)),)),
    ]


def _max_cases() -> list[Case]:
    return [
        Case("global_max_2d", global_max_pool_op(), (Arg((2, 4, 5, 3)),), second_order=True),
        Case("global_max_1d", global_max_pool_op(), (Arg((2, 6, 2)),)),
    ]


add_cases("global_avg_pool", _avg_cases)
add_cases("global_max_pool", _max_cases)
