"""Per-example weight-gradient norms of convolutions, from the patch matrix (DP-SGD's norms).

In the im2col view a convolution is a dense op on the patch matrix ``X̃`` (one row per output
position), ``Y = X̃ W``, so example ``i``'s weight gradient is ``X̃ᵢᵀ dYᵢ`` and its squared norm
is the dense identity (docs/per_example.md). A transposed convolution is a stride-1 convolution
of the stride-dilated input, so the same holds with the patches of that input.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from funcnet.core.per_example_norms import gram_sq_norm, leading_rows


def patch_matrix(x, window, out_spatial, stride, dilation, pads) -> jax.Array:
    """The patch matrix ``X̃`` of ``x [N, *spatial, C]``: ``[N, *out, C·Π(window)]``, channel-major
    (each channel's window entries together), by strided slices of the padded input."""
    xp = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    slices = []
    for offset in itertools.product(*(range(k) for k in window)):
        start = [o * d for o, d in zip(offset, dilation, strict=True)]
        limit = [a + s * (m - 1) + 1 for a, s, m in zip(start, stride, out_spatial, strict=True)]
        slices.append(lax.slice(xp, (0, *start, 0), (x.shape[0], *limit, x.shape[-1]),
                                (1, *stride, 1)))  # fmt: skip
    stacked = jnp.stack(slices, axis=-1)  # [N, *out, C, Π(window)]
    return stacked.reshape((*stacked.shape[:-2], -1))


def dilate(x: jax.Array, stride: Sequence[int]) -> jax.Array:
    """``x [N, *spatial, C]`` with ``s − 1`` zeros between neighbours along each spatial axis."""
    interior = [(0, 0, 0), *((0, 0, s - 1) for s in stride), (0, 0, 0)]
    return lax.pad(x, jnp.zeros((), x.dtype), interior)


def patch_sq_norms(
    patches: jax.Array, dy: jax.Array, groups: int, use_bias: bool
) -> tuple[jax.Array, ...]:
    """``(‖dWᵢ‖², ‖dbᵢ‖²)`` per example (``‖dbᵢ‖²`` only with ``use_bias``) of a convolution
    with patches ``[N, *out, G·m]`` (``N`` the flattened batch axes of ``dy [*batch, *out, G·n]``,
    examples along the first): ``Σ_g ‖X̃ᵢ,gᵀ dYᵢ,g‖²`` over the groups and ``‖Σ_pos dYᵢ‖²``."""

    def by_group(a):  # [*batch, *out, G·m] -> [B·G, T, m]
        rows = leading_rows(a.reshape((*dy.shape[:-1], groups, -1)), dy.ndim - 1)
        return rows.transpose(0, 2, 1, 3).reshape(-1, rows.shape[1], rows.shape[3])

    dw = gram_sq_norm(by_group(patches), by_group(dy)).reshape(-1, groups).sum(axis=1)
    if not use_bias:
        return (dw,)
    return dw, jnp.sum(jnp.sum(leading_rows(dy, dy.ndim - 1), axis=1) ** 2, axis=-1)
