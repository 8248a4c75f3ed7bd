"""Central differences: converged estimates on smooth functions, kinks within the step avoided."""

import math

import pytest

from funcnet.verify.finite_differences import central_difference, rounding_noise

H = 1e-3


def test_a_smooth_function_gets_its_derivative():
    assert central_difference(math.sin, H) == pytest.approx(1.0, abs=1e-9)
    assert central_difference(lambda s: math.exp(2 + 3 * s), H) == pytest.approx(
        3 * math.exp(2), rel=1e-8
    )


def test_a_kink_within_the_first_step_is_stepped_out_of():
    # Slope 1 at 0; a kink at h/2 adds slope 3 beyond it. The first step straddles the kink
    # and estimates (h + 1.5h + h) / 2h = 1.75; h/4 and h/16 do not reach it and agree on 1.
    def kinked(s):
        return s + 3 * max(s - H / 2, 0.0)

    assert (kinked(H) - kinked(-H)) / (2 * H) == pytest.approx(1.75)
    assert central_difference(kinked, H) == pytest.approx(1.0, abs=1e-12)
    assert central_difference(kinked, H, refinements=0) == pytest.approx(1.75)


def test_a_kink_at_the_point_itself_is_not_smoothed_away():
    # |s| has no derivative at 0: every step gives 0, the average of the one-sided slopes.
    assert central_difference(abs, H) == 0.0


def test_rounding_noise_reads_the_spread_about_a_smooth_curve():
    # A smooth cubic plus a deterministic ±1e-12 pattern: the cubic is taken up, the noise read.
    noise = {k: 1e-12 * (-1) ** k for k in range(-4, 5)}

    def f(s):
        return 3.0 + 2.0 * s - s**2 + 5.0 * s**3 + noise[round(s / 0.25e-3)]

    assert 0.9e-12 < rounding_noise(f, 1e-3) < 1.6e-12
    assert rounding_noise(lambda s: 3.0 + 2.0 * s - s**2, 1e-3) < 4e-15  # f's own rounding
