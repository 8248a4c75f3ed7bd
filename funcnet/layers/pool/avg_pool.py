"""Average pooling over 1 or 2 spatial axes, channels-last (geometry: _geometry.py).

Shapes: ``x [..., *spatial, C]`` -> ``y [..., *out, C]``, any leading batch axes (flattened into
one axis ``N`` by the manual path). Padding is *not* counted: with ``W_o`` the
input positions inside window ``o`` (those falling in the padding left out) and ``|W_o|`` their
number, ``y[o, c] = (1/|W_o|) Σ_{p ∈ W_o} x[p, c]``. So ``y = A x`` with the averaging matrix
``A[(o, c), (p, c)] = 1/|W_o|`` for ``p ∈ W_o``, and the VJP is::

    dx = Aᵀ dy          (dx[p, c] = Σ_{o : p ∈ W_o} dy[o, c] / |W_o|)

The counts ``|W_o|`` depend on shapes only: the reference forward gets them by summing a ones
array with the same ``lax.reduce_window``; the manual path computes them in NumPy at trace
time (per axis ``min(o·s − lo + w, n) − max(o·s − lo, 0)``, multiplied across axes).
Residuals: none but the input's shape. The backward spreads ``g = dy / |W_o|`` back over each
window: with ``stride == window`` (the fast path) a repeat of ``g`` on the windows laid out as
axes and a reshape, otherwise one strided ``lax.pad`` of ``g`` per window offset, summed.
Derivations: docs/pooling.md; tests: tests/layers/pool/test_pooling.py.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from funcnet.core.jvp_rules import linear_jvp
from funcnet.core.layer import Layer
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, make_op, shape_witness
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers._windows import flatten_batch, unflatten_batch
from funcnet.layers.pool._geometry import (
    Pads,
    PoolGeometry,
    pool_geometry,
    pool_layer,
    spread_windows,
    untile_windows,
    window_axes,
    window_slices,
)


def window_counts(geom: PoolGeometry, pads: Pads, spatial: Sequence[int]) -> np.ndarray:
    """``|W_o|``, the number of input (non-padding) elements in each window, ``[1, *out, 1]``.

    Examples:
      >>> geom = pool_geometry("avg_pool1d", 1, 3, 2, "SAME")
      >>> window_counts(geom, geom.pads((6,)), (6,))[0, :, 0].tolist()
      [3, 3, 2]
    """
    per_axis = []
    for n, (lo, hi), w, s in zip(spatial, pads, geom.window, geom.stride, strict=True):
        m = (n + lo + hi - w) // s + 1
        starts = np.arange(m) * s - lo
        per_axis.append(np.minimum(starts + w, n) - np.maximum(starts, 0))
    counts = functools.reduce(np.multiply.outer, per_axis)
    return counts.reshape(1, *counts.shape, 1)


def _avg_pool_op(
    name: str, ndim: int, window: Any, stride: Any, padding: Any, *, fast: bool = True
) -> Op:
    """The average-pool op; ``fast=False`` uses the general backward even where windows tile."""
    geom = pool_geometry(name, ndim, window, stride, padding)

    def forward(x):
        pads, _ = geom.check(jnp.shape(x))
        dims, strides, padding = geom.lax_config(pads, x.ndim)
        total = lax.reduce_window(x, 0.0, lax.add, dims, strides, padding)
        spatial = x.shape[-geom.ndim - 1 : -1]
        ones = jnp.ones((*(1,) * (x.ndim - geom.ndim - 1), *spatial, 1), x.dtype)
        return total / lax.reduce_window(ones, 0.0, lax.add, dims, strides, padding)

    def fwd(x):
        pads, _ = geom.check(x.shape)
        spatial = x.shape[-geom.ndim - 1 : -1]
        slices = window_slices(flatten_batch(x, geom.ndim), geom, pads, 0.0)
        total = functools.reduce(jnp.add, slices)
        y = total / window_counts(geom, pads, spatial).astype(x.dtype)
        return unflatten_batch(y, x.shape, geom.ndim), (shape_witness(x.shape),)

    def bwd(res, dy):
        # dx = Aᵀ dy: each input element of window o gets dy[o] / |W_o|
        shape = res[0].shape[1:]
        pads, _ = geom.check(shape)
        spatial = shape[-geom.ndim - 1 : -1]
        g = flatten_batch(dy, geom.ndim) / window_counts(geom, pads, spatial).astype(dy.dtype)
        if fast and geom.tiles:  # a repeat of g over the windows laid out as axes
            axes = window_axes(geom.ndim)
            tiled = [d for m, w in zip(g.shape[1:-1], geom.window, strict=True) for d in (m, w)]
            dxt = jnp.broadcast_to(jnp.expand_dims(g, axes), (g.shape[0], *tiled, g.shape[-1]))
            return (untile_windows(dxt, geom, pads, spatial).reshape(shape),)
        return (spread_windows([g] * geom.size, geom, pads, spatial).reshape(shape),)

    # ẏ = A ẋ, the window means of the tangent
    return make_op(name, forward, jax.jit(fwd), jax.jit(bwd), jvp=linear_jvp(forward))


@op_factory("avg_pool1d")
def avg_pool1d_op(window: Any, stride: Any = None, padding: Any = "VALID") -> Op:
    """The 1-d average-pool op ``x [..., W, C] -> y [..., W_out, C]`` (padding not counted)."""
    return _avg_pool_op("avg_pool1d", 1, window, stride, padding)


@op_factory("avg_pool2d")
def avg_pool2d_op(window: Any, stride: Any = None, padding: Any = "VALID") -> Op:
    """The 2-d average-pool op ``x [..., H, W, C] -> y [..., H_out, W_out, C]`` (padding not
    counted)."""
    return _avg_pool_op("avg_pool2d", 2, window, stride, padding)


@layer_factory("avg_pool1d")
def avg_pool1d(window: Any, stride: Any = None, padding: Any = "VALID") -> Layer:
    """A layer averaging windows along the one spatial axis of ``[..., W, C]``.

    Padded positions are left out of both the sum and the divisor: a window hanging over the
    edge averages only the input elements it covers. The arguments and shapes are those of
    :func:`~funcnet.layers.pool.max_pool1d`.

    Examples:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[[1.0], [3.0], [2.0], [6.0], [4.0]]])
      >>> y, _ = avg_pool1d(2, padding="SAME").apply((), (), x)
      >>> y[..., 0].tolist()  # the last window holds only 4.0
      [[2.0, 4.0, 4.0]]
    """
    op = avg_pool1d_op(window, stride, padding)
    return pool_layer(op, pool_geometry("avg_pool1d", 1, window, stride, padding))


@layer_factory("avg_pool2d")
def avg_pool2d(window: Any, stride: Any = None, padding: Any = "VALID") -> Layer:
    """A layer averaging ``window`` patches of ``[..., H, W, C]`` (padding not counted).

    The arguments and shapes are those of :func:`~funcnet.layers.pool.max_pool2d`.

    Examples:
      >>> import jax.numpy as jnp
      >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1)
      >>> y, _ = avg_pool2d(2).apply((), (), x)
      >>> y[0, :, :, 0].tolist()
      [[2.5, 4.5], [10.5, 12.5]]
    """
    op = avg_pool2d_op(window, stride, padding)
    return pool_layer(op, pool_geometry("avg_pool2d", 2, window, stride, padding))


def _cases_1d() -> list[Case]:
    return [
        Case("window2", avg_pool1d_op(2), (Arg((2, 6, 3)),), second_order=True),
        Case("overlap3_stride1", avg_pool1d_op(3, 1), (Arg((2, 7, 2)),)),
        Case("same3_stride2", avg_pool1d_op(3, 2, "SAME"), (Arg((2, 7, 2)),)),
        Case("window2_pad_non_divisible", avg_pool1d_op(2, padding=(1, 0)), (Arg((2, 6, 3)),)),
    ]


def _cases_2d() -> list[Case]:
    return [
        Case("window2", avg_pool2d_op(2), (Arg((2, 4, 6, 3)),)),
        Case("overlap3_stride1", avg_pool2d_op(3, 1), (Arg((2, 5, 5, 2)),)),
        Case("same3_stride2", avg_pool2d_op(3, 2, "SAME"), (Arg((2, 5, 6, 2)),), second_order=True),
        Case("window2_non_divisible", avg_pool2d_op(2), (Arg((2, 5, 7, 2)),)),
        Case(
            "explicit_pads", avg_pool2d_op((2, 3), (2, 1), ((1, 0), (1, 2))), (Arg((2, 4, 5, 2)),)
        ),
    ]


add_cases("avg_pool1d", _cases_1d)
add_cases("avg_pool2d", _cases_2d)
add_layer_cases(
    "avg_pool1d", lambda: [LayerCase("same3_stride2", avg_pool1d(3, 2, "SAME"), Arg((2, 5, 2)))]
)
add_layer_cases("avg_pool2d", lambda: [LayerCase("window2", avg_pool2d(2), Arg((2, 4, 4, 2)))])
