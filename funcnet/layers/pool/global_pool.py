"""Global average and max pooling over every position axis.

Shapes: ``x [..., *positions, C]`` -> ``y [..., C]``, with ``k = num_position_axes`` position axes
(counted from the end, before the channels) and any leading batch axes. A layer cannot tell
batch axes from position axes, so the factory is told ``k``. With ``P`` the number of positions
per channel, per example and channel, with ``x`` seen as the column of its ``P`` values::

    global_avg_pool:  y = (1/P) 1ᵀ x          dx = (1/P) 1 dy      (dy spread evenly)
    global_max_pool:  y = e_aᵀ x              dx = e_a dy          (a = argmax x)

``e_a`` is the one-hot column of the arg-max ``a``. Ties go to the *first* maximum in row-major
order of the position axes, as ``jnp.argmax``: the reference forward is
``take_along_axis(x, argmax x)``, whose autodiff sends ``dy`` to that one element. (``jnp.max``'s
autodiff would instead split ``dy`` equally among the ties; routing it to one element matches
the windowed max pools, whose autodiff does the same.) Residuals: the arg-max index
``int32 [..., C]`` for global max, and otherwise nothing but the input's shape.
Derivations: docs/pooling.md; tests: tests/layers/pool/test_global_pool.py.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from funcnet.core.jvp_rules import linear_jvp
from funcnet.core.layer import Layer, Shape, check_int, check_shape_rank, op_layer
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, make_op, shape_witness
from funcnet.core.registry import Arg, Case, add_cases, op_factory

LAYOUT = "[..., *positions, C]"


def _position_axes(name: str, num_position_axes: int, shape: Shape) -> tuple[int, ...]:
    """The position axes of an input of ``shape`` (raising if it has too few axes)."""
    check_shape_rank(name, shape, num_position_axes + 1, f"input {LAYOUT}")
    return tuple(range(len(shape) - num_position_axes - 1, len(shape) - 1))


def _positions_last(x: jax.Array, num_position_axes: int) -> jax.Array:
    """``[..., *positions, C]`` -> ``[..., P, C]``."""
    return x.reshape(*x.shape[: x.ndim - num_position_axes - 1], -1, x.shape[-1])


@op_factory("global_avg_pool")
def global_avg_pool_op(*, num_position_axes: int) -> Op:
    """The op ``x [..., *positions, C] -> mean over the position axes [..., C]``."""
    k = check_int("global_avg_pool", "num_position_axes", num_position_axes)

    def forward(x):
        return jnp.mean(x, axis=_position_axes("global_avg_pool", k, jnp.shape(x)))

    def fwd(x):
        return forward(x), (shape_witness(x.shape),)

    def bwd(res, dy):
        # dx = (1/P) 1 dy: every position of channel c gets dy[..., c] / P
        shape = res[0].shape[1:]
        axes = _position_axes("global_avg_pool", k, shape)
        g = dy / math.prod(shape[axes[0] : -1])
        return (jnp.broadcast_to(jnp.expand_dims(g, axes), shape),)

    # ẏ = the mean of ẋ over the positions
    return make_op("global_avg_pool", forward, fwd, bwd, jvp=linear_jvp(forward))


@op_factory("global_max_pool")
def global_max_pool_op(*, num_position_axes: int) -> Op:
    """The op ``x [..., *positions, C] -> max over the position axes [..., C]`` (first max on
    ties)."""
    k = check_int("global_max_pool", "num_position_axes", num_position_axes)

    def first_max(x):
        """``x`` as ``[..., P, C]`` and the first arg-max position ``a [..., 1, C]``."""
        _position_axes("global_max_pool", k, jnp.shape(x))
        xr = _positions_last(x, k)
        return xr, jnp.argmax(xr, axis=-2, keepdims=True)

    def forward(x):
        xr, a = first_max(x)
        return jnp.take_along_axis(xr, a, axis=-2)[..., 0, :]

    def fwd(x):
        _position_axes("global_max_pool", k, x.shape)
        xr = _positions_last(x, k)
        return jnp.max(xr, axis=-2), (jnp.argmax(xr, axis=-2), shape_witness(x.shape))

    def bwd(res, dy):
        # dx = e_a dy: dy[..., c] goes to position a[..., c], the first arg-max; 0 elsewhere
        a, witness = res
        shape = witness.shape[1:]
        count = math.prod(shape[a.ndim - 1 : -1])
        positions = jnp.arange(count, dtype=a.dtype).reshape((*(1,) * (a.ndim - 1), count, 1))
        hit = positions == jnp.expand_dims(a, -2)
        dx = jnp.where(hit, jnp.expand_dims(dy, -2), jnp.zeros((), dy.dtype))
        return (dx.reshape(shape),)

    def jvp(primals, tangents):
        # ẏ = e_aᵀ ẋ: the tangent at the first arg-max a, where the bwd sends dy
        (x,), (dx,) = primals, tangents
        xr, a = first_max(x)
        pick = lambda v: jnp.take_along_axis(v, a, axis=-2)[..., 0, :]  # noqa: E731
        return pick(xr), pick(_positions_last(dx, k))

    return make_op("global_max_pool", forward, fwd, bwd, jvp=jvp)


def _pool_layer(op: Op, num_position_axes: int) -> Layer:
    k = num_position_axes
    return op_layer(
        op, min_rank=k + 1, what=f"input {LAYOUT}", output_shape=lambda s: (*s[: -k - 1], s[-1])
    )


@layer_factory("global_avg_pool")
def global_avg_pool(*, num_position_axes: int) -> Layer:
    """A layer averaging every channel over the ``num_position_axes`` axes before the channels.

    Args:
      num_position_axes: how many axes before the last (the channels) are position axes (1 for a
        sequence ``[..., L, C]``, 2 for an image ``[..., H, W, C]``); every axis before them
        is a batch axis.

    Shapes:
      x: ``[..., *positions, C]`` -> y: ``[..., C]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> layer = global_avg_pool(num_position_axes=2)
      >>> y, _ = layer.apply((), (), jnp.arange(8.0).reshape(1, 2, 2, 2))
      >>> y.tolist()
      [[3.0, 4.0]]
    """
    return _pool_layer(global_avg_pool_op(num_position_axes=num_position_axes), num_position_axes)


@layer_factory("global_max_pool")
def global_max_pool(*, num_position_axes: int) -> Layer:
    """A layer taking every channel's maximum over the ``num_position_axes`` axes before the
    channels (first max on ties); see :func:`global_avg_pool` for the arguments.

    Shapes:
      x: ``[..., *positions, C]`` -> y: ``[..., C]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> layer = global_max_pool(num_position_axes=2)
      >>> y, _ = layer.apply((), (), jnp.arange(8.0).reshape(1, 2, 2, 2))
      >>> y.tolist()
      [[6.0, 7.0]]
    """
    return _pool_layer(global_max_pool_op(num_position_axes=num_position_axes), num_position_axes)


def _op_cases(make) -> list[Case]:
    return [
        Case("image", make(num_position_axes=2), (Arg((2, 4, 5, 3)),), second_order=True),
        Case("sequence_two_batch_axes", make(num_position_axes=1), (Arg((2, 2, 6, 2)),)),
        Case("one_example", make(num_position_axes=1), (Arg((5, 2)),)),
    ]


def _layer_cases(make) -> list[LayerCase]:
    return [LayerCase("image", make(num_position_axes=2), Arg((2, 3, 3, 2)))]


add_cases("global_avg_pool", lambda: _op_cases(global_avg_pool_op))
add_cases("global_max_pool", lambda: _op_cases(global_max_pool_op))
add_layer_cases("global_avg_pool", lambda: _layer_cases(global_avg_pool))
add_layer_cases("global_max_pool", lambda: _layer_cases(global_max_pool))
