"""Packed-bit inference for binary layers: ±1 values stored as bits, 32 per ``uint32``, and dot
products computed as XOR + population count (the XNOR-popcount of XNOR-Net, counted as
mismatches): for ``a, b ∈ {−1, +1}ⁿ`` with bits ``[a ≥ 0]``, ``[b ≥ 0]``,

    a·b = n − 2 · popcount(bits(a) XOR bits(b))

exactly (integer arithmetic). Padding bits are 0 in both operands, so they never mismatch.
Inference only: nothing here is differentiated. Weights take 32× less memory than float32.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

WORD = 32


class PackedDense(NamedTuple):
    bits: jax.Array  # [⌈n_in/32⌉, n_out] uint32, bit i of word j = [w[32j + i, o] ≥ 0]
    scale: jax.Array | None  # [n_out] XNOR scale (mean|w| per output), or None
    b: jax.Array | None  # [n_out] bias, or None


def pack_bits(x: jax.Array) -> jax.Array:
    """``[..., n] -> [..., ⌈n/32⌉]`` uint32 holding ``[x ≥ 0]`` (the sign, zero as +1)."""
    n = x.shape[-1]
    pad = (-n) % WORD
    bits = (x >= 0).astype(jnp.uint32)
    bits = jnp.pad(bits, [(0, 0)] * (x.ndim - 1) + [(0, pad)])
    shifts = jnp.arange(WORD, dtype=jnp.uint32).reshape((1,) * x.ndim + (WORD,))
    words = bits.reshape(*x.shape[:-1], -1, WORD) << shifts
    return jnp.sum(words, axis=-1, dtype=jnp.uint32)  # distinct bits: the sum is their OR


def pack_dense(
    w: jax.Array, b: jax.Array | None = None, *, xnor_scale: bool = False
) -> PackedDense:
    """Pack a binary dense layer's latent weights ``w [n_in, n_out]`` (their signs)."""
    scale = jnp.mean(jnp.abs(w), axis=0) if xnor_scale else None
    return PackedDense(pack_bits(w.T).T, scale, b)


def xnor_popcount_dot(x_bits: jax.Array, w_bits: jax.Array, num_inputs: int) -> jax.Array:
    """``[B, words] × [words, n_out] -> [B, n_out]`` int32: the ±1 dot products.

    One word at a time, ``count += popcount(x[:, k] XOR w[k, :])`` over a ``[B, n_out]`` int32
    accumulator: XLA fuses each step into one vectorised loop over contiguous rows of ``w``
    (broadcasting all words at once instead materialises a ``[B, n_out, words]`` array and is
    ~100× slower on CPU; ``w`` stored ``[n_out, words]`` makes each step a strided gather,
    ~20× slower).
    """

    def step(k, count):
        xk = lax.dynamic_index_in_dim(x_bits, k, axis=1)  # [B, 1]
        wk = lax.dynamic_index_in_dim(w_bits, k, axis=0)  # [1, n_out]
        return count + lax.population_count(xk ^ wk).astype(jnp.int32)

    count = jnp.zeros((x_bits.shape[0], w_bits.shape[1]), jnp.int32)
    count = lax.fori_loop(0, x_bits.shape[1], step, count, unroll=8)
    return num_inputs - 2 * count


def packed_dense_apply(packed: PackedDense, x: jax.Array) -> jax.Array:
    """``sign(x) @ sign(w)`` (times the XNOR scale, plus the bias) by XOR-popcount, float32.

    Shapes:
      x: ``[B, n_in]`` -> y: ``[B, n_out]``.
    """
    if x.ndim != 2:
        raise ValueError(f"packed_dense_apply: expected an input [B, n_in], got shape {x.shape}.")
    n, words = x.shape[-1], packed.bits.shape[0]
    if -(-n // WORD) != words:
        raise ValueError(
            f"packed_dense_apply: expected inputs of size {WORD * (words - 1) + 1} to "
            f"{WORD * words} ({words} words), got shape {x.shape}."
        )
    y = xnor_popcount_dot(pack_bits(x), packed.bits, n).astype(jnp.float32)
    if packed.scale is not None:
        y = y * packed.scale[None, :]
    return y if packed.b is None else y + packed.b[None, :]
