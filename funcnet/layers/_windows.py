"""Shapes of windowed ops (convolution, transposed convolution, pooling): padding and sizes.

Also the layout helpers they share: flattening batch axes, adding a bias, lax dimension numbers.

Per spatial axis, with input size ``n``, window ``k``, dilation ``d``, stride ``s`` and padding
``(lo, hi)``, the dilated window spans ``K = d·(k − 1) + 1`` elements and the output has::

    m = ⌊(n + lo + hi − K) / s⌋ + 1          (needs n + lo + hi ≥ K)

``"VALID"`` is ``(0, 0)``; ``"SAME"`` pads ``t = max((⌈n/s⌉ − 1)·s + K − n, 0)`` in total,
``lo = ⌊t/2⌋`` before and the rest after, so that ``m = ⌈n/s⌉`` (as ``lax.padtype_to_pads``).
Every function takes the layer ``name`` so that its errors name the layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from funcnet.core.layer import Shape, check_shape_rank

Pads = tuple[tuple[int, int], ...]
PADDING_NAMES = ("SAME", "VALID")
SPATIAL_LETTERS = {1: "W", 2: "HW", 3: "DHW"}


def is_int(value: Any) -> bool:
    """A Python int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def spatial_tuple(name: str, what: str, value: Any, n: int) -> tuple[int, ...]:
    """``value`` (a positive int, or a tuple of ``n`` of them) as a tuple of ``n`` ints.

    Examples:
      >>> spatial_tuple("conv2d", "stride", 2, 2), spatial_tuple("conv2d", "stride", (1, 3), 2)
      ((2, 2), (1, 3))
    """
    values = (value,) * n if is_int(value) else value
    message = (
        f"{name}: expected {what} to be a positive integer or a tuple of {n} positive "
        f"integers, got {value!r}."
    )
    if not isinstance(values, (tuple, list)) or not all(is_int(v) for v in values):
        raise TypeError(message)
    if len(values) != n or not all(v > 0 for v in values):
        raise ValueError(message)
    return tuple(values)


def check_padding(name: str, padding: Any, n: int) -> str | Pads:
    """``"SAME"``, ``"VALID"``, or ``n`` explicit ``(lo, hi)`` pairs of non-negative ints.

    An int ``p`` stands for ``(p, p)`` on every axis; with one axis, a bare ``(lo, hi)`` pair
    may stand for ``((lo, hi),)``.

    Examples:
      >>> check_padding("conv1d", ((1, 2),), 1), check_padding("conv2d", 1, 2)
      (((1, 2),), ((1, 1), (1, 1)))
    """
    if isinstance(padding, str):
        if padding not in PADDING_NAMES:
            raise ValueError(
                f"{name}: expected padding to be 'VALID', 'SAME' or {n} (lo, hi) pairs, "
                f"got {padding!r}."
            )
        return padding
    message = (
        f"{name}: expected padding to be 'VALID', 'SAME' or {n} (lo, hi) pairs of "
        f"non-negative integers, got {padding!r}."
    )
    if is_int(padding):
        if padding < 0:
            raise ValueError(message)
        return ((padding, padding),) * n
    bare_pair = isinstance(padding, (tuple, list)) and len(padding) == 2
    if n == 1 and bare_pair and all(is_int(v) for v in padding):  # (lo, hi) for the one axis
        padding = (padding,)
    if not isinstance(padding, (tuple, list)) or not all(
        isinstance(p, (tuple, list)) and all(is_int(v) for v in p) for p in padding
    ):
        raise TypeError(message)
    if len(padding) != n or not all(len(p) == 2 and min(p) >= 0 for p in padding):
        raise ValueError(message)
    return tuple((int(lo), int(hi)) for lo, hi in padding)


def dilated_size(window: Sequence[int], dilation: Sequence[int]) -> tuple[int, ...]:
    """``K = d·(k − 1) + 1`` per axis: the extent of a dilated window."""
    return tuple(d * (k - 1) + 1 for k, d in zip(window, dilation, strict=True))


def resolve_padding(
    name: str,
    padding: Any,
    in_spatial: Sequence[int],
    window: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> Pads:
    """Explicit ``(lo, hi)`` pairs per spatial axis for ``"SAME"``, ``"VALID"`` or given pairs.

    Examples:
      >>> resolve_padding("conv2d", "SAME", (7, 6), (3, 3), (2, 2), (1, 1))
      ((1, 1), (0, 1))
      >>> resolve_padding("conv1d", "SAME", (5,), (3,), (1,), (2,))  # dilated window of 5
      ((2, 2),)
    """
    n = len(in_spatial)
    padding = check_padding(name, padding, n)
    if padding == "VALID":
        return ((0, 0),) * n
    if padding == "SAME":
        pads = []
        for size, k, s in zip(in_spatial, dilated_size(window, dilation), stride, strict=True):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    return padding


def conv_output_size(
    name: str,
    in_spatial: Sequence[int],
    window: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Pads,
) -> tuple[int, ...]:
    """``m = ⌊(n + lo + hi − K)/s⌋ + 1`` per axis; raises if the window exceeds the padded input.

    Examples:
      >>> conv_output_size("conv2d", (7, 6), (3, 3), (2, 2), (1, 1), ((1, 1), (0, 1)))
      (4, 3)
    """
    padded = tuple(size + lo + hi for size, (lo, hi) in zip(in_spatial, pads, strict=True))
    extent = dilated_size(window, dilation)
    if any(p < k for p, k in zip(padded, extent, strict=True)):
        raise ValueError(
            f"{name}: expected the dilated window {extent} to fit in the padded input "
            f"{padded}, got spatial input {tuple(in_spatial)} with padding {tuple(pads)}."
        )
    return tuple((p - k) // s + 1 for p, k, s in zip(padded, extent, stride, strict=True))


def grad_padding(
    in_spatial: Sequence[int],
    window: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Pads,
) -> tuple[Pads, Pads]:
    """The paddings of a convolution's two gradient convolutions (docs/conv.md).

    With ``r = (n + lo + hi − K) mod s``, the padded-input rows past the last window:

    * ``dx``: pad ``dilate_s(dy)`` by ``(K − 1 − lo, K − 1 − hi + r)`` and correlate it with the
      flipped kernel;
    * ``dw``: pad ``x`` by ``(lo, hi − r)`` (rows never read are cropped) and correlate it with
      ``dy``.

    Entries may be negative, meaning a crop.

    Examples:
      >>> grad_padding((7,), (3,), (2,), (1,), ((1, 1),))  # r = 6 mod 2 = 0
      (((1, 1),), ((1, 1),))
      >>> grad_padding((6,), (3,), (2,), (1,), ((0, 0),))  # r = 3 mod 2 = 1
      (((2, 3),), ((0, -1),))
    """
    geometry = zip(in_spatial, pads, dilated_size(window, dilation), stride, strict=True)
    rests = [(size, lo, hi, k, (size + lo + hi - k) % s) for size, (lo, hi), k, s in geometry]
    dx_pads = tuple((k - 1 - lo, k - 1 - hi + r) for _, lo, hi, k, r in rests)
    dw_pads = tuple((lo, hi - r) for _, lo, hi, _, r in rests)
    return dx_pads, dw_pads


def transpose_padding(
    padding: str | Pads, window: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> Pads:
    """The ``(a, b)`` padding of the stride-dilated input of a transposed convolution.

    As ``lax.conv_transpose`` resolves it: ``"SAME"`` pads ``K + s − 2`` in total (``a = K − 1``
    if ``s > K − 1`` else ``⌈total/2⌉``), so the output is ``n·s``; ``"VALID"`` pads
    ``a = K − 1`` and ``b = s − 1 + max(K − s, 0)``; explicit pairs are returned as given.

    Examples:
      >>> transpose_padding("SAME", (3,), (2,), (1,)), transpose_padding("VALID", (3,), (2,), (1,))
      (((2, 1),), ((2, 2),))
    """
    if not isinstance(padding, str):
        return tuple(padding)
    pads = []
    for k, s in zip(dilated_size(window, dilation), stride, strict=True):
        if padding == "SAME":
            total = k + s - 2
            a = k - 1 if s > k - 1 else -(-total // 2)
        else:  # VALID
            total, a = k + s - 2 + max(k - s, 0), k - 1
        pads.append((a, total - a))
    return tuple(pads)


def transpose_output_size(
    name: str,
    in_spatial: Sequence[int],
    window: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    pads: Pads,
) -> tuple[int, ...]:
    """``m = (n − 1)s + 1 + a + b − K + 1``; raises if the window exceeds the padded input."""
    dilated_in = tuple((size - 1) * s + 1 for size, s in zip(in_spatial, stride, strict=True))
    return conv_output_size(name, dilated_in, window, (1,) * len(window), dilation, pads)


def check_input_rank(name: str, shape: Shape, n: int) -> None:
    """Raise unless ``shape`` is ``[..., *spatial, C]`` with ``n`` spatial axes (any batch axes)."""
    check_shape_rank(name, shape, n + 1, f"input [..., {', '.join(SPATIAL_LETTERS[n])}, C]")


def check_conv_args(
    name: str, x_shape: Shape, w_shape: Shape, n: int, groups: int = 1, b_shape: Any = None
) -> None:
    """Raise unless ``x [..., *spatial, C_in]``, ``w [*window, C_in/groups, C_out]`` and
    ``b [C_out]`` (when given) agree."""
    check_input_rank(name, x_shape, n)
    if len(w_shape) != n + 2:
        raise ValueError(f"{name}: expected a kernel of rank {n + 2}, got shape {tuple(w_shape)}.")
    if x_shape[-1] != w_shape[-2] * groups:
        raise ValueError(
            f"{name}: expected {w_shape[-2] * groups} input channels (kernel input channels "
            f"{w_shape[-2]} × groups {groups}), got input shape {tuple(x_shape)}."
        )
    if w_shape[-1] % groups:
        raise ValueError(
            f"{name}: expected output channels divisible by groups={groups}, got kernel shape "
            f"{tuple(w_shape)}."
        )
    if b_shape is not None and tuple(b_shape) != (w_shape[-1],):
        raise ValueError(f"{name}: expected a bias of shape {w_shape[-1:]}, got {b_shape}.")


def flatten_batch(x: jax.Array, n: int) -> jax.Array:
    """``[..., *spatial, C] -> [N, *spatial, C]``: the leading batch axes of ``x`` (any number,
    none included) as one."""
    batch = x.shape[: x.ndim - n - 1]
    return x.reshape((math.prod(batch), *x.shape[x.ndim - n - 1 :]))


def unflatten_batch(y: jax.Array, x_shape: Shape, n: int) -> jax.Array:
    """``[N, ...] -> [*batch, ...]``: undoes :func:`flatten_batch` for ``x``'s batch axes."""
    return y.reshape((*x_shape[: len(x_shape) - n - 1], *y.shape[1:]))


def add_bias(y: jax.Array, b: jax.Array) -> jax.Array:
    """``y + b`` with ``b [C]`` broadcast explicitly over every other axis of ``y``."""
    return y + jnp.expand_dims(b, tuple(range(y.ndim - 1)))


def traced_output_shape(forward: Callable[..., Any], input_shape: Shape, params: Any) -> Shape:
    """The shape ``forward(x, *params)`` returns, traced (not run), ``None`` params skipped.

    A layer's ``init`` uses it so that its output shape comes from the op's own padding
    resolution and its own validation.
    """
    leaves = [p for p in params if p is not None]
    x = jax.ShapeDtypeStruct(tuple(input_shape), leaves[0].dtype)
    return tuple(jax.eval_shape(forward, x, *leaves).shape)


def dimension_numbers(n: int) -> tuple[str, str, str]:
    """Channels-last ``lax`` dimension numbers: ``("NHWC", "HWIO", "NHWC")`` for ``n = 2``."""
    sp = SPATIAL_LETTERS[n]
    return f"N{sp}C", f"{sp}IO", f"N{sp}C"


def weight_grad_dimension_numbers(n: int) -> tuple[str, str, str]:
    """Dimension numbers for a kernel gradient ``conv(x, dy)``: the batch axis is contracted.

    ``x [N, *sp, C_in]`` is read with ``N`` as its feature axis and ``C_in`` as its batch axis,
    ``dy [N, *sp', C_out]`` as a kernel with input axis ``N`` and output axis ``C_out``, and the
    result as ``[*window, C_in, C_out]``: ``("CHWN", "IHWO", "HWNC")`` for ``n = 2``.
    """
    sp = SPATIAL_LETTERS[n]
    return f"C{sp}N", f"I{sp}O", f"{sp}NC"
