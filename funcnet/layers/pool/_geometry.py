"""Pool window geometry shared by max and average pooling (channels-last ``[..., *spatial, C]``).

Any number of leading batch axes (none included) is accepted: the ops flatten them into one
axis ``N`` (:func:`~funcnet.layers._windows.flatten_batch`) and work on ``[N, *spatial, C]``.

Per spatial axis, with input size ``n``, window ``w``, stride ``s`` and padding ``(lo, hi)``,
window ``o`` covers the padded positions ``o·s + i`` for the offsets ``i = 0, …, w − 1``, and
there are ``m = ⌊(n + lo + hi − w)/s⌋ + 1`` windows. ``"SAME"`` pads
``t = max((⌈n/s⌉ − 1)·s + w − n, 0)``, ``⌊t/2⌋`` before (as ``lax.padtype_to_pads``); explicit
pads must be below ``w``, so every window holds an input element. Offsets are numbered ``k``
in the row-major scan of the window (:func:`window_offsets`).

Two layouts of the windows serve the backward passes: strided slices, one per offset
(:func:`window_slices`, transposed by :func:`spread_windows`), and, when ``stride == window``,
the windows as axes of one reshape (:func:`untile_windows`). Derivations: docs/pooling.md.
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
from funcnet.core.op import Op, check_backward
from funcnet.layers._windows import Pads, check_padding, resolve_padding, spatial_tuple

LAYOUTS = {1: "[..., W, C]", 2: "[..., H, W, C]", 3: "[..., D, H, W, C]"}


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
        if len(shape) < self.ndim + 1:
            raise ValueError(
                f"{self.name}: expected an input of rank >= {self.ndim + 1} "
                f"({LAYOUTS.get(self.ndim, '[..., *spatial, C]')}), got shape {shape}."
            )
        spatial = shape[-self.ndim - 1 : -1]
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
        return (*shape[: len(shape) - self.ndim - 1], *out, shape[-1])

    def lax_config(self, pads: Pads, rank: int) -> tuple[tuple[int, ...], tuple[int, ...], Pads]:
        """``(window_dimensions, window_strides, padding)`` for ``lax.reduce_window`` on an input
        of rank ``rank`` (its leading batch axes untouched)."""
        batch = rank - self.ndim - 1
        return (
            (*(1,) * batch, *self.window, 1),
            (*(1,) * batch, *self.stride, 1),
            (*((0, 0),) * batch, *pads, (0, 0)),
        )


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
