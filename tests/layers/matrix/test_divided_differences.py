"""Divided differences without cancellation, against 50-digit decimal arithmetic, and the
Daleckii–Krein matrix of a clamped function."""

import decimal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from funcnet.layers.matrix._divided_differences import (
    daleckii_krein,
    log_divided_difference,
    power_divided_difference,
    sqrt_divided_difference,
)

GAPS = [10.0**-k for k in range(1, 15)]
FUNCTIONS = {
    "log": (log_divided_difference, lambda d: d.ln(), lambda x: 1 / x),
    "sqrt": (sqrt_divided_difference, lambda d: d.sqrt(), lambda x: 0.5 / np.sqrt(x)),
    "power-0.5": (power_divided_difference(-0.5), lambda d: d ** decimal.Decimal("-0.5"),
                  lambda x: -0.5 * x**-1.5),
    "power2.5": (power_divided_difference(2.5), lambda d: d ** decimal.Decimal("2.5"),
                 lambda x: 2.5 * x**1.5),
}  # fmt: skip


def exact_divided_difference(f_decimal, a: float, b: float) -> float:
    """``(f(a) − f(b))/(a − b)`` at the exact binary values of a and b, in 50 digits."""
    with decimal.localcontext() as ctx:
        ctx.prec = 50
        da, db = decimal.Decimal(a), decimal.Decimal(b)
        return float((f_decimal(da) - f_decimal(db)) / (da - db))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_accurate_to_a_few_ulps_at_every_gap_in_float64(name, x64):
    dd, f_decimal, _ = FUNCTIONS[name]
    b = np.full(len(GAPS), 0.7)
    a = b * (1 + np.array(GAPS))
    got = np.asarray(dd(jnp.asarray(a), jnp.asarray(b)))
    exact = np.array([exact_divided_difference(f_decimal, x, y) for x, y in zip(a, b, strict=True)])
    rel = np.abs(got - exact) / np.abs(exact)
    assert rel.max() < 8 * np.finfo(np.float64).eps, rel
    # The naive quotient loses up to all digits at the smallest gaps (why the forms exist).
    naive = np.asarray([(float(f_decimal(decimal.Decimal(x))) - float(f_decimal(
        decimal.Decimal(y)))) / (x - y) for x, y in zip(a, b, strict=True)])  # fmt: skip
    assert (np.abs(naive - exact) / np.abs(exact)).max() > 1e-6


@pytest.mark.parametrize("name", FUNCTIONS)
def test_accurate_in_float32_and_symmetric_in_its_arguments(name):
    dd, f_decimal, _ = FUNCTIONS[name]
    b = np.full(6, 1.3, np.float32)
    a = (b * (1 + np.array([1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6]))).astype(np.float32)
    got = np.asarray(dd(jnp.asarray(a), jnp.asarray(b)))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.asarray(dd(jnp.asarray(b), jnp.asarray(a))))
    exact = np.array(
        [exact_divided_difference(f_decimal, float(x), float(y)) for x, y in zip(a, b, strict=True)]
    )
    assert (np.abs(got - exact) / np.abs(exact)).max() < 8 * np.finfo(np.float32).eps


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_derivative_where_the_arguments_are_equal(name, x64):
    dd, _, derivative = FUNCTIONS[name]
    x = jnp.array([0.3, 1.0, 7.5])
    np.testing.assert_allclose(dd(x, x), derivative(np.asarray(x)), rtol=4e-16)


def test_nan_in_gives_nan_out():
    nan = jnp.array([jnp.nan, 1.0])
    for dd, _, _ in FUNCTIONS.values():
        got = dd(nan, jnp.array([1.0, jnp.nan]))
        assert bool(jnp.all(jnp.isnan(got)))


def test_daleckii_krein_of_a_clamped_function(x64):
    # h = log(max(λ, 0.5)): flat below 0.5, so pairs of clamped values get 0 and a mixed pair
    # the quotient (h(a) − h(b))/(a − b) with h(b) = log 0.5.
    lam = jnp.array([0.1, 0.2, 0.2, 2.0, 2.0])
    got = np.asarray(daleckii_krein(log_divided_difference, lam, 0.5))
    h = np.log(np.maximum(np.asarray(lam), 0.5))
    for i in range(5):
        for j in range(5):
            if lam[i] == lam[j]:
                expected = 1 / lam[i] if lam[i] >= 0.5 else 0.0
            else:
                expected = (h[i] - h[j]) / (lam[i] - lam[j])
            np.testing.assert_allclose(got[i, j], expected, rtol=1e-15, err_msg=f"{i},{j}")
    assert got.shape == (5, 5) and jax.numpy.all(got == got.T)
