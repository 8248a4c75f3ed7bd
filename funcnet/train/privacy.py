"""Privacy accounting for DP-SGD: Poisson-sampled batches and ε from ``dp_accounting``.

The accountant's guarantee assumes each step's batch is a Poisson sample: every example joins
independently with probability ``q`` (the sampling rate), so a batch's size varies. Shuffled
partitions of the data (``funcnet.data.batches``) do not satisfy it. ``poisson_batches`` draws
such batches and pads them to a fixed size with a mask (one compiled step serves them all);
``dp_sgd_epsilon`` composes ``steps`` Poisson-subsampled Gaussian mechanisms of noise multiplier
``σ`` with Google's ``dp_accounting`` RDP accountant and converts to ``ε`` at a given ``δ``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import numpy as np

from funcnet.data.dataset import Dataset, check_dataset


class DPSGD(NamedTuple):
    """DP-SGD's settings for :func:`~funcnet.train.fit`.

    ``l2_clip`` is the per-example clipping norm ``C``, ``noise_multiplier`` the noise's standard
    deviation over ``C``, ``delta`` the ``δ`` at which ``ε`` is reported.
    """

    l2_clip: float
    noise_multiplier: float
    delta: float = 1e-5


def _check_rate(sampling_rate: float, where: str) -> None:
    if (
        isinstance(sampling_rate, bool)
        or not isinstance(sampling_rate, (int, float))
        or not (0 < sampling_rate <= 1)
    ):
        raise ValueError(f"{where}: expected a sampling_rate in (0, 1], got {sampling_rate!r}.")


def dp_sgd_epsilon(
    noise_multiplier: float, sampling_rate: float, steps: int, delta: float
) -> float:
    """``ε`` at ``δ`` after ``steps`` DP-SGD steps (Poisson sampling at ``sampling_rate``, Gaussian
    noise ``σ = noise_multiplier``), from the RDP accountant; ``inf`` without noise.

    Examples:
      >>> round(dp_sgd_epsilon(1.0, 0.01, 1000, 1e-5), 2)
      2.1
    """
    _check_rate(sampling_rate, "dp_sgd_epsilon")
    if not 0 < delta < 1:
        raise ValueError(f"dp_sgd_epsilon: expected a delta in (0, 1), got {delta!r}.")
    if steps == 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    import dp_accounting  # imported when first needed: it loads scipy

    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(
            sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier)
        ),
        steps,
    )
    accountant = dp_accounting.rdp.RdpAccountant()
    accountant.compose(event)
    return float(accountant.get_epsilon(delta))


def noise_for_epsilon(epsilon: float, sampling_rate: float, steps: int, delta: float) -> float:
    """The smallest noise multiplier whose :func:`dp_sgd_epsilon` is at most ``epsilon``
    (bisection by ``dp_accounting.calibrate_dp_mechanism``).

    Examples:
      >>> sigma = noise_for_epsilon(3.0, 0.01, 1000, 1e-5)
      >>> dp_sgd_epsilon(sigma, 0.01, 1000, 1e-5) <= 3.0
      True
    """
    _check_rate(sampling_rate, "noise_for_epsilon")
    import dp_accounting

    def event(sigma: float) -> Any:
        sampled = dp_accounting.PoissonSampledDpEvent(
            sampling_rate, dp_accounting.GaussianDpEvent(sigma)
        )
        return dp_accounting.SelfComposedDpEvent(sampled, steps)

    return float(
        dp_accounting.calibrate_dp_mechanism(
            dp_accounting.rdp.RdpAccountant,
            event,
            epsilon,
            delta,
            dp_accounting.LowerEndpointAndGuess(1e-3, 1.0),
        )
    )


def padded_size(expected: float) -> int:
    """A batch capacity that a Poisson batch of mean ``expected`` exceeds with probability below
    about 1e-6 (six standard deviations above the mean)."""
    return math.ceil(expected + 6 * math.sqrt(expected) + 1)


def poisson_batches(
    data: Dataset,
    sampling_rate: float,
    *,
    key: jax.Array,
    num_batches: int,
    start: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``num_batches`` Poisson-sampled batches ``(x, t, mask)`` from batch ``start`` on.

    Batch ``b`` holds each example independently with probability ``sampling_rate`` (drawn from
    ``jax.random.fold_in(key, b)``), padded with zeros to :func:`padded_size` of the expected
    size; ``mask [B]`` is true for the real examples. A batch larger than that (probability
    below about 1e-6) is yielded whole, at its own size (the step compiles once more); none is
    ever truncated, which would break the privacy guarantee.

    Shapes:
      x: ``[B, ...]``, t: ``[B, ...]``, mask: ``[B]`` bool.
    """
    check_dataset(data, "poisson_batches")
    _check_rate(sampling_rate, "poisson_batches")
    n = len(data)
    capacity = padded_size(sampling_rate * n)
    for b in range(start, num_batches):
        chosen = jax.random.bernoulli(jax.random.fold_in(key, b), sampling_rate, (n,))
        idx = np.flatnonzero(np.asarray(chosen))
        size = max(capacity, idx.size)
        x = np.zeros((size, *data.x.shape[1:]), data.x.dtype)
        t = np.zeros((size, *data.y.shape[1:]), data.y.dtype)
        x[: idx.size], t[: idx.size] = data.x[idx], data.y[idx]
        yield x, t, np.arange(size) < idx.size


__all__ = ["DPSGD", "dp_sgd_epsilon", "noise_for_epsilon", "padded_size", "poisson_batches"]
