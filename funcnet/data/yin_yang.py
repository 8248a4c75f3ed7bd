"""The Yin-Yang dataset (Kriener, Göltz & Petrovici 2021), generated, no download.

Points ``(x, y)`` are drawn uniformly in the square ``[0, 2R]²`` and kept inside the circle
of radius ``R = 0.5``; each example first draws its class uniformly and then rejection-samples
a point of that class, so the classes are balanced. Labels are the published generator's: 2
the two dots, 1 the region its ``is_yin`` test selects (the upper half away from the right dot
and the ring around the left dot), 0 the rest. The input is
``(x, y, 1 − x, 1 − y)`` (the mirrored coordinates make every input carry the same total
"activity", which matters for spike-time codes), plus an optional constant bias input.
Drawing follows the published generator exactly (legacy NumPy ``RandomState`` seeded per
split: train 42, validation 41, test 40; sizes 5000/1000/1000), so the default splits are
the published ones. Its reference: a 4-120-3 ANN reaches 98.7 ± 0.3% test accuracy, a
shallow (linear) one 64.3 ± 0.2%.
"""

from __future__ import annotations

import numpy as np

from funcnet.data.dataset import Dataset

SPLITS = {"train": (42, 5000), "validation": (41, 1000), "test": (40, 1000)}
R_BIG, R_SMALL = 0.5, 0.1


def yin_yang_class(x: float, y: float) -> int:
    """The label of a point inside the big circle (the published generator's ``which_class``)."""
    d_right = np.hypot(x - 1.5 * R_BIG, y - R_BIG)
    d_left = np.hypot(x - 0.5 * R_BIG, y - R_BIG)
    if d_right < R_SMALL or d_left < R_SMALL:
        return 2
    is_yin = (
        d_right <= R_SMALL
        or R_SMALL < d_left <= 0.5 * R_BIG
        or (y > R_BIG and d_right > 0.5 * R_BIG)
    )
    return int(is_yin)


def _point(rng: np.random.RandomState, goal: int) -> tuple[float, float]:
    while True:
        x, y = rng.rand(2) * 2.0 * R_BIG
        if np.hypot(x - R_BIG, y - R_BIG) <= R_BIG and yin_yang_class(x, y) == goal:
            return float(x), float(y)


def yin_yang(
    split: str = "train", *, size: int | None = None, seed: int | None = None, bias: bool = False
) -> Dataset:
    """The Yin-Yang split ``split`` (``"train"``, ``"validation"``, ``"test"``).

    Args:
      split: which published split; it sets the default seed and size.
      size: the number of examples (default: the split's, 5000/1000/1000).
      seed: the generator's seed (default: the split's, 42/41/40).
      bias: append a constant input 1 (the paper's networks use one).

    Returns:
      A :class:`Dataset` with ``x [n, 4]`` (``[n, 5]`` with ``bias``) float32 in [0, 1] and
      ``y [n]`` int32 labels in {0, 1, 2}.

    Examples:
      >>> data = yin_yang("test", size=6)
      >>> data.x.shape, data.y.dtype.name
      ((6, 4), 'int32')
    """
    if split not in SPLITS:
        raise ValueError(f"yin_yang: expected split in {tuple(SPLITS)}, got {split!r}.")
    default_seed, default_size = SPLITS[split]
    size = default_size if size is None else size
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"yin_yang: expected a positive integer size, got {size!r}.")
    rng = np.random.RandomState(default_seed if seed is None else seed)
    points, labels = [], []
    for _ in range(size):
        goal = int(rng.randint(3))
        points.append(_point(rng, goal))
        labels.append(goal)
    xy = np.asarray(points)
    x = np.concatenate([xy, 1.0 - xy], axis=1)
    if bias:
        x = np.concatenate([x, np.ones((size, 1))], axis=1)
    return Dataset(x.astype(np.float32), np.asarray(labels, np.int32))


def latency_code(x: np.ndarray, num_steps: int, *, t_min: int = 0) -> np.ndarray:
    """Spike trains ``[n, num_steps, F]``: input ``v`` in [0, 1] fires once, at step
    ``t_min + round(v·(num_steps − 1 − t_min))`` (early for small values, as Kriener et al.
    map a value to a spike time in ``[t_early, t_late]``)."""
    x = np.asarray(x, np.float64)
    if np.any(~((x >= 0) & (x <= 1))):
        raise ValueError("latency_code: expected inputs in [0, 1], got values outside it.")
    if not 0 <= t_min < num_steps:
        raise ValueError(f"latency_code: expected 0 <= t_min < num_steps, got {t_min}.")
    steps = t_min + np.rint(x * (num_steps - 1 - t_min)).astype(np.int64)
    return (np.arange(num_steps)[None, :, None] == steps[:, None, :]).astype(np.float32)


def rate_code(x: np.ndarray, num_steps: int, *, seed: int = 0) -> np.ndarray:
    """Spike trains ``[n, num_steps, F]``: input ``v`` in [0, 1] fires at each step with
    probability ``v`` (Bernoulli, independently), drawn once from ``seed``: a fixed code."""
    x = np.asarray(x, np.float64)
    if np.any(~((x >= 0) & (x <= 1))):
        raise ValueError("rate_code: expected inputs in [0, 1], got values outside it.")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps <= 0:
        raise ValueError(f"rate_code: expected a positive integer num_steps, got {num_steps!r}.")
    draws = np.random.default_rng(seed).random((len(x), num_steps, *x.shape[1:]))
    return (draws < x[:, None]).astype(np.float32)


def spike_time_code(
    x: np.ndarray, *, t_early: float = 0.15, t_late: float = 2.0, bias: bool = True
) -> np.ndarray:
    """Spike times ``[n, F (+1), 1]`` for event-based neurons: input ``v`` in [0, 1] fires once,
    at ``t_early + v (t_late − t_early)`` (the EventProp paper's Yin-Yang code, times in units
    of ``τ_mem``); ``bias`` adds an input that fires at 0."""
    x = np.asarray(x, np.float64)
    if np.any(~((x >= 0) & (x <= 1))):
        raise ValueError("spike_time_code: expected inputs in [0, 1], got values outside it.")
    if not 0 <= t_early < t_late:
        raise ValueError(
            f"spike_time_code: expected 0 <= t_early < t_late, got {t_early!r}, {t_late!r}."
        )
    times = t_early + x * (t_late - t_early)
    if bias:
        times = np.concatenate([np.zeros((len(times), 1)), times], axis=1)
    return times[..., None].astype(np.float32)
