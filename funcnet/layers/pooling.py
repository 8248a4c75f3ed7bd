"""Max pooling, and the window geometry it shares with average pooling (channels-last).

Shapes: ``x [N, *spatial, C]`` -> ``y [N, *out, C]``. Per spatial axis, with input size ``n``,
window ``w``, stride ``s`` and padding ``(lo, hi)``, window ``o`` covers the padded positions
``o·s + i`` for the offsets ``i = 0, …, w − 1``, and there are ``m = ⌊(n + lo + hi − w)/s⌋ + 1``
windows. ``"SAME"`` pads ``t = max((⌈n/s⌉ − 1)·s + w − n, 0)``, ``⌊t/2⌋`` before (as
``lax.padtype_to_pads``); explicit pads must be below ``w``, so every window holds an input
element. Offsets are numbered ``k`` in the row-major scan of the window (:func:`window_offsets`).

Max pool: with the input padded by ``−∞``, ``y[o, c] = max_k x[o·s + offset_k − lo, c]``.
Writing ``a(o, c)`` for the position of that maximum, ``y = S x`` with ``S`` the 0/1 matrix
with one 1 per row, at ``((o, c), a(o, c))``; the VJP is::

    dx = Sᵀ dy          (each window's dy goes to its arg-max; overlapping windows add up)

Ties go to the *first* maximal element of the scan, as ``jax.grad`` of ``lax.reduce_window``
max (its transpose ``select_and_scatter_add`` keeps the current element while
``current ≥ next``). Residuals: the arg-max offset ``k`` of every window (``int32
[N, *out, C]``) and the input's shape — not the input. With ``stride == window`` (the fast
path) the backward is one compare-and-select on the windows laid out as axes and a reshape;
otherwise it adds one strided ``lax.pad`` per offset. Neither scatters. Average pools:
avg_pool.py. Derivations and timings: docs/pooling.md; tests: tests/layers/test_pooling.py.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from funcnet.core.layer import Layer, Shape, check_floating, check_input_shape
from funcnet.core.op import Op, check_backward, make_op
from funcnet.core.registry import Arg, Case, add_cases, op_factory
from funcnet.layers.conv_shapes import Pads, check_padding, resolve_padding, spatial_tuple

LAYOUTS = {1: "[N, W, C]", 2: "[N, H, W, C]", 3: "[N, D, H, W, C]"}


def _check_padding(name: str, padding: Any, window: tuple[int, ...]) -> str | Pads:
    pads = check_padding(name, padding, len(window))
    if isinstance(pads, str):
        return pads
    for axis, ((lo, hi), w) in enumerate(zip(pads, window, strict=True)):
        if max(lo, hi) >= w:
            raise ValueError(
                f"{name}: expected padding below the window size {w} on spatial axis {axis} "
                f"(so that every window holds an input element), got {(lo, hi)}."
            )
    return pads


class PoolGeometry(NamedTuple):
    """The static window geometry of a pool over ``len(window)`` spatial axes."""

    name: str
    window: tuple[int, ...]
    stride: tuple[int, ...]
    padding: str | Pads

    @property
    def ndim(self) -> int:
        return len(self.window)

    @property
    def size(self) -> int:
        """Elements per window, ``K = Π w``."""
        return math.prod(self.window)

    @property
    def tiles(self) -> bool:
        """``stride == window``: the windows tile the padded input (the fast path)."""
        return self.stride == self.window

    @property
    def overlapping(self) -> bool:
        """Some input element lies in more than one window."""
        return any(s < w for s, w in zip(self.stride, self.window, strict=True))

    def pads(self, spatial: Sequence[int]) -> Pads:
        ones = (1,) * self.ndim
        return resolve_padding(self.name, self.padding, spatial, self.window, self.stride, ones)

    def check(self, shape: Sequence[int]) -> tuple[Pads, tuple[int, ...]]:
        """The pads and output spatial sizes for an input of ``shape``; raises if it is wrong."""
        shape = tuple(shape)
        if len(shape) != self.ndim + 2:
            raise ValueError(
                f"{self.name}: expected an input of rank {self.ndim + 2} "
                f"({LAYOUTS.get(self.ndim, '[N, *spatial, C]')}), got shape {shape}."
            )
        spatial = shape[1:-1]
        pads = self.pads(spatial)
        padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads, strict=True))
        if any(w > p for w, p in zip(self.window, padded, strict=True)):
            raise ValueError(
                f"{self.name}: expected a window {self.window} no larger than the padded "
                f"spatial shape, got padded spatial shape {padded} for input shape {shape}."
            )
        out = tuple(
            (p - w) // s + 1 for p, w, s in zip(padded, self.window, self.stride, strict=True)
        )
        return pads, out

    def output_shape(self, shape: Sequence[int]) -> Shape:
        _, out = self.check(shape)
        return (shape[0], *out, shape[-1])

    def lax_config(self, pads: Pads) -> tuple[tuple[int, ...], tuple[int, ...], Pads]:
        """``(window_dimensions, window_strides, padding)`` for ``lax.reduce_window``."""
        return (1, *self.window, 1), (1, *self.stride, 1), ((0, 0), *pads, (0, 0))


def pool_geometry(name: str, ndim: int, window: Any, stride: Any, padding: Any) -> PoolGeometry:
    """Validate a pool's hyperparameters; ``stride=None`` means ``stride = window``."""
    window = spatial_tuple(name, "window", window, ndim)
    stride = window if stride is None else spatial_tuple(name, "stride", stride, ndim)
    return PoolGeometry(name, window, stride, _check_padding(name, padding, window))


def window_offsets(window: Sequence[int]) -> list[tuple[int, ...]]:
    """Every offset inside a window, in the row-major scan order (offset ``k`` is item ``k``)."""
    return list(itertools.product(*(range(w) for w in window)))


def window_slices(x: jax.Array, geom: PoolGeometry, pads: Pads, fill: float) -> list[jax.Array]:
    """For each offset ``k`` (scan order), the element at ``offset_k`` of every window.

    ``x [N, *spatial, C]`` is padded with ``fill``; item ``k`` is ``xp[:, o·s + offset_k, :]``
    over all windows ``o``, a strided slice ``[N, *out, C]``.
    """
    _, out = geom.check(x.shape)
    config = [(0, 0, 0), *((lo, hi, 0) for lo, hi in pads), (0, 0, 0)]
    xp = lax.pad(x, jnp.asarray(fill, x.dtype), config)
    slices = []
    for offset in window_offsets(geom.window):
        ends = [i + (m - 1) * s + 1 for i, m, s in zip(offset, out, geom.stride, strict=True)]
        limit = (xp.shape[0], *ends, xp.shape[-1])
        slices.append(lax.slice(xp, (0, *offset, 0), limit, (1, *geom.stride, 1)))
    return slices


def window_scatter(
    g: jax.Array, offset: Sequence[int], geom: PoolGeometry, pads: Pads, spatial: Sequence[int]
) -> jax.Array:
    """The transpose of one item of :func:`window_slices`: ``g [N, *out, C]`` placed at input
    positions ``o·s + offset − lo`` of a zero ``[N, *spatial, C]`` (what lands in the padding is
    cropped): one ``lax.pad`` with ``s − 1`` interior zeros and negative edges."""
    config = [(0, 0, 0)]
    for i, s, (lo, _), n, m in zip(offset, geom.stride, pads, spatial, g.shape[1:-1], strict=True):
        first = i - lo  # where window 0's element lands
        config.append((first, n - first - ((m - 1) * s + 1), s - 1))
    config.append((0, 0, 0))
    return lax.pad(g, jnp.zeros((), g.dtype), config)


def spread_windows(
    parts: Sequence[jax.Array], geom: PoolGeometry, pads: Pads, spatial: Sequence[int]
) -> jax.Array:
    """The transpose of :func:`window_slices`: ``Σ_k window_scatter(parts[k], offset_k)``."""
    offsets = window_offsets(geom.window)
    spread = [
        window_scatter(p, o, geom, pads, spatial) for p, o in zip(parts, offsets, strict=True)
    ]
    return functools.reduce(jnp.add, spread)


def window_axes(ndim: int) -> tuple[int, ...]:
    """The window axes of the tiled layout ``[N, o_1, w_1, …, o_d, w_d, C]``."""
    return tuple(2 + 2 * d for d in range(ndim))


def offset_grid(geom: PoolGeometry) -> np.ndarray:
    """Offset numbers ``k`` on the window axes of the tiled layout: ``[1, 1, w_1, …, 1]``."""
    tiled = [1, *(d for w in geom.window for d in (1, w)), 1]
    return np.arange(geom.size, dtype=np.int32).reshape(tiled)


def untile_windows(
    dxt: jax.Array, geom: PoolGeometry, pads: Pads, spatial: Sequence[int]
) -> jax.Array:
    """``[N, o_1, w_1, …, C]`` -> ``[N, *spatial, C]`` when ``stride == window`` (the fast path).

    Merging each ``(o, w)`` pair of axes gives the padded input's first ``o·w`` positions; the
    ``lo`` padding is cropped, and the tail that no window reaches (or the ``hi`` padding) is
    zero-filled or cropped: one ``lax.pad`` with possibly negative edges, no scatter.
    """
    out = dxt.shape[1:-1:2]
    fine = [m * w for m, w in zip(out, geom.window, strict=True)]
    merged = dxt.reshape(dxt.shape[0], *fine, dxt.shape[-1])
    crop = [(-lo, n + lo - f, 0) for (lo, _), n, f in zip(pads, spatial, fine, strict=True)]
    return lax.pad(merged, jnp.zeros((), dxt.dtype), [(0, 0, 0), *crop, (0, 0, 0)])


def computed_once(a: jax.Array) -> jax.Array:
    """``a`` unchanged, but computed once and stored rather than fused into its consumers.

    XLA:CPU fuses cheap elementwise producers into each consumer and recomputes them per read.
    The general max-pool backward reads the arg-max index at ``K`` shifted positions, so a fused
    index (``K`` compares each) would cost ``K²`` per element: 3×3 stride-1 pooling measured
    ~10× slower. XLA:CPU does not fuse a reduction into its consumers, so ``a`` goes through
    an identity minimum with its dtype's maximum, written as a reduction over the pair.
    """
    return jnp.min(jnp.stack([a, jnp.full_like(a, jnp.iinfo(a.dtype).max)]), axis=0)


def shape_witness(shape: Sequence[int]) -> jax.Array:
    """An empty array whose shape records ``shape`` (a residual carrying only static shapes)."""
    return jnp.zeros((0, *shape), jnp.bool_)


def pool_layer(op: Op, geom: PoolGeometry) -> Layer:
    """A parameter-free layer applying the pool ``op`` of geometry ``geom``."""

    def init(key: jax.Array, input_shape: Shape) -> tuple[Shape, tuple, tuple]:
        del key
        return geom.output_shape(check_input_shape(op.name, input_shape)), (), ()

    def apply(params, state, x, *, key=None, train=False, backward="manual"):
        del params, key, train
        check_backward(backward, op.name)
        geom.check(jnp.shape(x))
        check_floating(op.name, x)
        return op(x, backward=backward), state

    return Layer(op.name, init, apply)


def _max_pool_op(
    name: str, ndim: int, window: Any, stride: Any, padding: Any, *, fast: bool = True
) -> Op:
    """The max-pool op; ``fast=False`` uses the general backward even where windows tile."""
    geom = pool_geometry(name, ndim, window, stride, padding)

    def forward(x):
        pads, _ = geom.check(jnp.shape(x))
        dims, strides, padding = geom.lax_config(pads)
        return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, padding)

    def fwd(x):
        pads, _ = geom.check(x.shape)
        slices = window_slices(x, geom, pads, -jnp.inf)
        y = functools.reduce(jnp.maximum, slices)
        idx = jnp.full(y.shape, geom.size - 1, jnp.int32)
        for k in reversed(range(geom.size)):  # the smallest k holding the max wins
            idx = jnp.where(slices[k] == y, k, idx)
        if geom.overlapping:
            idx = computed_once(idx)
        return y, (idx, shape_witness(x.shape))

    def bwd(res, dy):
        # dx = Sᵀ dy: window (o, c) sends dy[o, c] to its arg-max x[o·s + offset_idx − lo, c]
        idx, witness = res
        shape = witness.shape[1:]
        pads, _ = geom.check(shape)
        zero = jnp.zeros((), dy.dtype)
        if fast and geom.tiles:  # one select on the windows laid out as axes, and a reshape
            axes = window_axes(geom.ndim)
            hit = jnp.expand_dims(idx, axes) == offset_grid(geom)
            dxt = jnp.where(hit, jnp.expand_dims(dy, axes), zero)
            return (untile_windows(dxt, geom, pads, shape[1:-1]),)
        parts = [jnp.where(idx == k, dy, zero) for k in range(geom.size)]
        return (spread_windows(parts, geom, pads, shape[1:-1]),)

    return make_op(name, forward, jax.jit(fwd), jax.jit(bwd))


@op_factory("max_pool1d")
def max_pool1d_op(window: Any, stride: Any = None, padding: Any = "VALID") -> Op:
    """The 1-d max-pool op ``x [N, W, C] -> y [N, W_out, C]``."""
    return _max_pool_op("max_pool1d", 1, window, stride, padding)


@op_factory("max_pool2d")
def max_pool2d_op(window: Any, stride: Any = None, padding: Any = "VALID") -> Op:
    """The 2-d max-pool op ``x [N, H, W, C] -> y [N, H_out, W_out, C]``."""
    return _max_pool_op("max_pool2d", 2, window, stride, padding)


def max_pool1d(window: Any, stride: Any = None, padding: Any = "VALID") -> Layer:
    """A layer taking the maximum over windows along the one spatial axis of ``[N, W, C]``.

    Args:
      window: the window length (a positive int, or a 1-tuple).
      stride: the step between windows; ``None`` (the default) means ``window``.
      padding: ``"VALID"`` (no padding), ``"SAME"`` (``W_out = ⌈W / stride⌉``), an int ``p``
        for ``(p, p)``, or an explicit ``(lo, hi)`` pair (or ``((lo, hi),)``), each below the
        window. Padding never wins a max.

    Shapes:
      x: ``[N, W, C]`` -> y: ``[N, W_out, C]``, ``W_out = ⌊(W + lo + hi − window) / stride⌋ + 1``.

    Examples:
      >>> import jax.numpy as jnp
      >>> y, _ = max_pool1d(2).apply((), (), jnp.array([[[1.0], [3.0], [2.0], [0.0]]]))
      >>> y[..., 0].tolist()
      [[3.0, 2.0]]
    """
    op = max_pool1d_op(window, stride, padding)
    return pool_layer(op, pool_geometry("max_pool1d", 1, window, stride, padding))


def max_pool2d(window: Any, stride: Any = None, padding: Any = "VALID") -> Layer:
    """A layer taking the maximum over ``window`` patches of ``[N, H, W, C]``.

    Args:
      window: the window, an int for a square one or an ``(h, w)`` pair.
      stride: the steps between windows (int or pair); ``None`` (the default) means ``window``.
      padding: ``"VALID"``, ``"SAME"``, an int ``p`` for ``(p, p)`` on both axes, or
        ``((lo_h, hi_h), (lo_w, hi_w))``, each below the window. Padding never wins a max.

    Shapes:
      x: ``[N, H, W, C]`` -> y: ``[N, H_out, W_out, C]``, per axis
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
