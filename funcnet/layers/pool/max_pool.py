"""Max pooling over windows of channels-last input (geometry: _geometry.py).

Shapes: ``x [..., *spatial, C]`` -> ``y [..., *out, C]``, any leading batch axes (flattened into
one axis ``N`` by the manual path). With the input padded by ``−∞``,
``y[o, c] = max_k x[o·s + offset_k − lo, c]``. Writing ``a(o, c)`` for the position of that
maximum, ``y = S x`` with ``S`` the 0/1 matrix with one 1 per row, at ``((o, c), a(o, c))``;
the VJP is::

    dx = Sᵀ dy          (each window's dy goes to its arg-max; overlapping windows add up)

Ties go to the *first* maximal element of the scan, as ``jax.grad`` of ``lax.reduce_window``
max (its transpose ``select_and_scatter_add`` keeps the current element while
``current ≥ next``). Residuals: the arg-max offset ``k`` of every window (``int32
[N, *out, C]``) and the input's shape — not the input. With ``stride == window`` (the fast
path) the backward is one compare-and-select on the windows laid out as axes and a reshape;
otherwise it adds one strided ``lax.pad`` per offset. Neither scatters. Average pools:
avg_pool.py. Derivations and timings: docs/pooling.md; tests: tests/layers/pool/test_pooling.py.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from funcnet.core.layer import Layer
from funcnet.core.layer_registry import LayerCase, add_layer_cases, layer_factory
from funcnet.core.op import Op, make_op, shape_witness
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers._windows import flatten_batch, unflatten_batch
from funcnet.layers.pool._geometry import (
    computed_once,
    offset_grid,
    pool_geometry,
    pool_layer,
    spread_windows,
    untile_windows,
    window_axes,
    window_slices,
)


def _max_pool_op(
    name: str, ndim: int, window: Any, stride: Any, padding: Any, *, fast: bool = True
) -> Op:
    """The max-pool op; ``fast=False`` uses the general backward even where windows tile."""
    geom = pool_geometry(name, ndim, window, stride, padding)

    def forward(x):
        pads, _ = geom.check(jnp.shape(x))
        dims, strides, padding = geom.lax_config(pads, x.ndim)
        return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, padding)

    def window_max(x):
        """The padding, the max ``y [N, *out, C]`` and its first arg-max offset ``idx``."""
        pads, _ = geom.check(x.shape)
        slices = window_slices(flatten_batch(x, geom.ndim), geom, pads, -jnp.inf)
        y = functools.reduce(jnp.maximum, slices)
        idx = jnp.full(y.shape, geom.size - 1, jnp.int32)
        for k in reversed(range(geom.size)):  # the smallest k holding the max wins
            idx = jnp.where(slices[k] == y, k, idx)
        return pads, y, idx

    def fwd(x):
        _, y, idx = window_max(x)
        if geom.overlapping:
            idx = computed_once(idx)
        return unflatten_batch(y, x.shape, geom.ndim), (idx, shape_witness(x.shape))

    def bwd(res, dy):
        # dx = Sᵀ dy: window (o, c) sends dy[o, c] to its arg-max x[o·s + offset_idx − lo, c]
        idx, witness = res
        shape = witness.shape[1:]
        pads, _ = geom.check(shape)
        spatial, zero = shape[-geom.ndim - 1 : -1], jnp.zeros((), dy.dtype)
        dy = flatten_batch(dy, geom.ndim)
        if fast and geom.tiles:  # one select on the windows laid out as axes, and a reshape
            axes = window_axes(geom.ndim)
            hit = jnp.expand_dims(idx, axes) == offset_grid(geom)
            dxt = jnp.where(hit, jnp.expand_dims(dy, axes), zero)
            return (untile_windows(dxt, geom, pads, spatial).reshape(shape),)
        parts = [jnp.where(idx == k, dy, zero) for k in range(geom.size)]
        return (spread_windows(parts, geom, pads, spatial).reshape(shape),)

    def jvp(primals, tangents):
        # ẏ = S ẋ: each window's tangent at its first arg-max, the element the bwd routes dy to
        (x,), (dx,) = primals, tangents
        pads, y, idx = window_max(x)
        parts = window_slices(flatten_batch(dx, geom.ndim), geom, pads, 0.0)
        dy = parts[-1]
        for k in reversed(range(geom.size - 1)):
            dy = jnp.where(idx == k, parts[k], dy)
        return unflatten_batch(y, x.shape, geom.ndim), unflatten_batch(dy, x.shape, geom.ndim)

    return make_op(name, forward, jax.jit(fwd), jax.jit(bwd), jvp=jvp)


@op_factory("max_pool1d")
def max_pool1d_op(window: Any, stride: Any = None, padding: Any = "VALID") -> Op:
    """The 1-d max-pool op ``x [..., W, C] -> y [..., W_out, C]``."""
    return _max_pool_op("max_pool1d", 1, window, stride, padding)


@op_factory("max_pool2d")
def max_pool2d_op(window: Any, stride: Any = None, padding: Any = "VALID") -> Op:
    """The 2-d max-pool op ``x [..., H, W, C] -> y [..., H_out, W_out, C]``."""
    return _max_pool_op("max_pool2d", 2, window, stride, padding)


@layer_factory("max_pool1d")
def max_pool1d(window: Any, stride: Any = None, padding: Any = "VALID") -> Layer:
    """A layer taking the maximum over windows along the one spatial axis of ``[..., W, C]``.

    Args:
      window: the window length (a positive int, or a 1-tuple).
      stride: the step between windows; ``None`` (the default) means ``window``.
      padding: ``"VALID"`` (no padding), ``"SAME"`` (``W_out = ⌈W / stride⌉``), an int ``p``
        for ``(p, p)``, or an explicit ``(lo, hi)`` pair (or ``((lo, hi),)``), each below the
        window. Padding never wins a max.

    Shapes:
      x: ``[..., W, C]`` -> y: ``[..., W_out, C]``,
      ``W_out = ⌊(W + lo + hi − window) / stride⌋ + 1``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = max_pool1d(2).apply((), (), jnp.array([[[1.0], [3.0], [2.0], [0.0]]]))
      >>> y[..., 0].tolist()
      [[3.0, 2.0]]
    """
    op = max_pool1d_op(window, stride, padding)
    return pool_layer(op, pool_geometry("max_pool1d", 1, window, stride, padding))


@layer_factory("max_pool2d")
def max_pool2d(window: Any, stride: Any = None, padding: Any = "VALID") -> Layer:
    """A layer taking the maximum over ``window`` patches of ``[..., H, W, C]``.

    Args:
      window: the window, an int for a square one or an ``(h, w)`` pair.
      stride: the steps between windows (int or pair); ``None`` (the default) means ``window``.
      padding: ``"VALID"``, ``"SAME"``, an int ``p`` for ``(p, p)`` on both axes, or
        ``((lo_h, hi_h), (lo_w, hi_w))``, each below the window. Padding never wins a max.

    Shapes:
      x: ``[..., H, W, C]`` -> y: ``[..., H_out, W_out, C]``, per axis
      ``⌊(n + lo + hi − window) / stride⌋ + 1``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = max_pool2d(2)
      >>> out_shape, params, state = layer.init(jax.random.key(0), (8, 28, 28, 16))
      >>> out_shape
      (8, 14, 14, 16)
      >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1)
      >>> y, _ = layer.apply(params, state, x)
      >>> y[0, :, :, 0].tolist()
      [[5.0, 7.0], [13.0, 15.0]]
    """
    op = max_pool2d_op(window, stride, padding)
    return pool_layer(op, pool_geometry("max_pool2d", 2, window, stride, padding))


def _cases_1d() -> list[Case]:
    return [
        Case("window2", max_pool1d_op(2), (Arg((2, 6, 3)),)),
        Case("overlap3_stride1", max_pool1d_op(3, 1), (Arg((2, 7, 2)),), second_order=True),
        Case("same3_stride2", max_pool1d_op(3, 2, "SAME"), (Arg((2, 7, 2)),)),
        Case("window2_pad_non_divisible", max_pool1d_op(2, padding=(1, 0)), (Arg((2, 6, 3)),)),
    ]


def _cases_2d() -> list[Case]:
    return [
        Case("window2", max_pool2d_op(2), (Arg((2, 4, 6, 3)),)),
        Case("overlap3_stride1", max_pool2d_op(3, 1), (Arg((2, 5, 5, 2)),), second_order=True),
        Case("same3_stride2", max_pool2d_op(3, 2, "SAME"), (Arg((2, 5, 6, 2)),)),
        Case("window2_non_divisible", max_pool2d_op(2), (Arg((2, 5, 7, 2)),)),
        Case(
            "explicit_pads", max_pool2d_op((2, 3), (2, 1), ((1, 0), (1, 2))), (Arg((2, 4, 5, 2)),)
        ),
    ]


add_cases("max_pool1d", _cases_1d)
add_cases("max_pool2d", _cases_2d)
add_layer_cases(
    "max_pool1d", lambda: [LayerCase("overlap3_stride1", max_pool1d(3, 1), Arg((2, 5, 2)))]
)
add_layer_cases(
    "max_pool2d", lambda: [LayerCase("same3_stride2", max_pool2d(3, 2, "SAME"), Arg((2, 4, 3, 2)))]
)
