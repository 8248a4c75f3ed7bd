"""The Yin-Yang generator: the published splits' seeds, balance, geometry, the input code."""

import numpy as np
import pytest

from funcnet.data import latency_code, yin_yang
from funcnet.data.yin_yang import yin_yang_class


def test_a_split_is_seeded_balanced_mirrored_and_inside_the_circle():
    data = yin_yang("test", size=600)
    again = yin_yang("test", size=600)
    np.testing.assert_array_equal(data.x, again.x)
    assert not np.array_equal(data.x, yin_yang("train", size=600).x)
    assert data.x.shape == (600, 4) and data.x.dtype == np.float32
    np.testing.assert_allclose(data.x[:, :2] + data.x[:, 2:], 1.0, rtol=1e-6)
    assert np.all(np.hypot(data.x[:, 0] - 0.5, data.x[:, 1] - 0.5) <= 0.5)
    counts = np.bincount(data.y, minlength=3)
    assert counts.min() > 150  # a third each, within sampling noise
    labels = [yin_yang_class(float(a), float(b)) for a, b in data.x[:, :2]]
    np.testing.assert_array_equal(labels, data.y)
    assert yin_yang("train", size=3, bias=True).x.shape == (3, 5)


def test_the_classes_are_where_the_symbol_puts_them():
    assert yin_yang_class(0.75, 0.5) == 2 and yin_yang_class(0.25, 0.5) == 2  # the dots
    # label 1: the upper half's outer part and the ring around the left dot; label 0 the rest
    assert yin_yang_class(0.25, 0.35) == 1 and yin_yang_class(0.75, 0.35) == 0
    assert yin_yang_class(0.5, 0.95) == 1 and yin_yang_class(0.5, 0.05) == 0


def test_latency_code_fires_once_early_for_small_values():
    trains = latency_code(np.array([[0.0, 1.0, 0.5]]), 5)
    np.testing.assert_array_equal(trains.sum(1), 1.0)
    np.testing.assert_array_equal(np.argmax(trains[0], 0), [0, 4, 2])
    with pytest.raises(ValueError, match="latency_code: expected inputs in"):
        latency_code(np.array([[1.5]]), 5)


def test_bad_split_or_size_is_named():
    with pytest.raises(ValueError, match="yin_yang: expected split in"):
        yin_yang("dev")
    with pytest.raises(ValueError, match=r"yin_yang: expected a positive integer size, got 0\."):
        yin_yang(size=0)
