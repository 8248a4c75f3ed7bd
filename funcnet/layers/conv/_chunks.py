"""Splitting a convolution's weight gradient into batch chunks (a CPU throughput measure)."""

from __future__ import annotations

# The weight gradient contracts the batch and output positions, a sum of K = N·Π(out) terms per
# entry. XLA:CPU runs one such convolution with a long K and a small result slowly on two cores
# (28–34 GFLOP/s for the 32→64, 14×14, batch-64 layer: K = 12,544, a 288×64 result) but a sum
# of 16 convolutions over batch chunks at 55–60: the chunks are independent thunks that run
# side by side. Short contractions lose to the extra thunks (MNIST-1D's CNN, K ≤ 2,560, was 30%
# slower chunked), so only K ≥ DW_CHUNKED_LENGTH is split. Each chunk is one more convolution
# to compile: with 16 chunks the CNN bench's step compiled in 1.59 s against 0.97 s for
# autodiff; 4 chunks compile in 0.93 s and step as fast (medians 33.2 vs 38.8 ms for 16, 42.6
# unchunked, 11 interleaved rounds on a loaded 2-core machine; 2 chunks: 0.59 s, 39.4 ms).
DW_CHUNKED_LENGTH = 8192
DW_CHUNKS = 4


def batch_chunks(n: int, length: int) -> list[tuple[int, int]]:
    """Contiguous ``[lo, hi)`` ranges covering ``range(n)`` (sizes within one): one range for a
    contraction ``length`` below ``DW_CHUNKED_LENGTH``, else ``min(n, DW_CHUNKS)``.

    Examples:
      >>> batch_chunks(64, 12544)[:3]
      [(0, 16), (16, 32), (32, 48)]
      >>> batch_chunks(64, 2560)
      [(0, 64)]
    """
    k = 1 if length < DW_CHUNKED_LENGTH else min(n, DW_CHUNKS)
    bounds = [i * n // k for i in range(k + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(k)]
