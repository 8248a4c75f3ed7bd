"""Global average and max pooling over every spatial axis, and flatten.

Shapes: ``x [N, *spatial, C]`` -> ``y [N, C]`` for the pools, with ``P = Π spatial`` positions
per channel; ``x [N, ...]`` -> ``y [N, Π ...]`` for flatten. Per example and channel, with ``x``
seen as the column of its ``P`` values::

    global_avg_pool:  y = (1/P) 1ᵀ x          dx = (1/P) 1 dy      (dy spread evenly)
    global_max_pool:  y = e_aᵀ x              dx = e_a dy          (a = argmax x)
    flatten:          y = x (a reshape)       dx = dy reshaped back

``e_a`` is the one-hot column of the arg-max ``a``. Ties go to the *first* maximum in row-major
order of the spatial axes, as ``jnp.argmax``: the reference forward is
``take_along_axis(x, argmax x)``, whose autodiff sends ``dy`` to that one element. (``jnp.max``'s
autodiff would instead split ``dy`` equally among the ties; routing it to one element matches
the windowed max pools, whose autodiff does the same.) Residuals: the arg-max index
``int32 [N, C]`` for global max, and otherwise nothing but the input's shape.
Derivations: docs/pooling.md; tests: tests/layers/test_global_pool.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from funcnet.core.layer import (
    Layer,
    Shape,
    check_floating,
    check_input_shape,
    check_shape_rank,
)
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.pool_geometry import shape_witness


def _check_pool_input(name: str, shape: tuple[int, ...]) -> None:
    check_shape_rank(name, shape, 3, "input [N, *spatial, C]")


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


@op_factory("flatten")
def flatten_op() -> Op:
    """The op ``x [N, ...] -> y [N, Π ...]`` (row-major)."""

    def forward(x):
        check_shape_rank("flatten", jnp.shape(x), 1)
        return jnp.reshape(x, (x.shape[0], math.prod(x.shape[1:])))

    def fwd(x):
        return forward(x), (shape_witness(x.shape),)

    def bwd(res, dy):
        # dx = dy reshaped to x's shape (the Jacobian is the identity)
        return (dy.reshape(res[0].shape[1:]),)

    return make_op("flatten", forward, fwd, bwd)


def _layer(op: Op, min_rank: int, what: str, output_shape: Callable[[Shape], Shape]) -> Layer:
    """A parameter-free layer applying ``op`` to inputs of rank at least ``min_rank``."""

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple, tuple]:
        del key
        shape = check_input_shape(op.name, input_shape)
        check_shape_rank(op.name, shape, min_rank, what)
        return output_shape(shape), (), ()

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        del params, key, train
        check_backward(backward, op.name)
        check_shape_rank(op.name, jnp.shape(x), min_rank, what)
        check_floating(op.name, x)
        return op(x, backward=backward), state

    return Layer(op.name, init, apply)


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
    return _layer(op, 3, "input [N, *spatial, C]", lambda s: (s[0], s[-1]))


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
    return _layer(op, 3, "input [N, *spatial, C]", lambda s: (s[0], s[-1]))


def flatten() -> Layer:
    """A layer flattening every axis after the batch axis (row-major, as ``reshape``).

    Shapes:
      x: ``[N, ...]`` -> y: ``[N, Π ...]`` (``[N]`` becomes ``[N, 1]``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> out_shape, params, state = flatten().init(jax.random.key(0), (8, 7, 7, 64))
      >>> out_shape
      (8, 3136)
    """
    op = flatten_op()
    return _layer(op, 1, "input", lambda s: (s[0], math.prod(s[1:])))


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


def _flatten_cases() -> list[Case]:
    return [
        Case("flatten_4d", flatten_op(), (Arg((2, 3, 4, 2)),), second_order=True),
        Case("flatten_2d", flatten_op(), (Arg((3, 5)),)),
    ]


add_cases("global_avg_pool", _avg_cases)
add_cases("global_max_pool", _max_cases)
add_cases("flatten", _flatten_cases)
