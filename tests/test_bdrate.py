"""Bjontegaard delta rate (numpy PCHIP implementation in pillow_nnc.bench.bdrate)."""

import numpy as np
import pytest

from pillow_nnc.bench.bdrate import (
    BDRateError,
    bd_rate,
    monotone_frontier,
    pchip_eval,
    pchip_integral,
)

# a JPEG-like curve: bpp and PSNR, concave in log-rate
RATE = np.array([0.12, 0.25, 0.45, 0.8, 1.3, 2.1])
PSNR = np.array([24.1, 27.0, 29.6, 32.4, 35.0, 37.9])


def test_curve_against_itself_is_zero():
    assert bd_rate(RATE, PSNR, RATE, PSNR) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("factor", [0.8, 1.25, 0.5])
def test_scaled_rates(factor):
    expected = (factor - 1) * 100
    assert bd_rate(RATE, PSNR, RATE * factor, PSNR) == pytest.approx(expected, abs=0.5)
    assert bd_rate(RATE, PSNR, RATE * factor, PSNR) == pytest.approx(expected, abs=1e-9)


def test_x08_is_minus_20_percent_within_half_percent():
    value = bd_rate(RATE, PSNR, RATE * 0.8, PSNR)
    assert abs(value - -20.0) <= 0.5


def test_different_sample_points_and_partial_overlap():
    # log R linear in the metric: PCHIP reproduces it exactly, so the answer is exact
    anchor_d = np.linspace(30, 40, 6)
    test_d = np.array([31.3, 33.0, 36.2, 41.0, 44.0])
    anchor_r = np.exp(0.2 * anchor_d)
    test_r = 0.8 * np.exp(0.2 * test_d)
    assert bd_rate(anchor_r, anchor_d, test_r, test_d) == pytest.approx(-20.0, abs=1e-9)


def test_order_of_points_does_not_matter():
    perm = np.array([3, 0, 5, 1, 4, 2])
    a = bd_rate(RATE, PSNR, RATE * 0.9, PSNR + 0.3)
    b = bd_rate(RATE[perm], PSNR[perm], (RATE * 0.9)[::-1], (PSNR + 0.3)[::-1])
    assert a == pytest.approx(b, abs=1e-12)


def test_dominated_points_are_dropped():
    # an extra point that costs more bits for less quality (non-monotone curve)
    rate = np.append(RATE, 0.9)
    psnr = np.append(PSNR, 31.0)
    r, m = monotone_frontier(rate, psnr)
    assert np.all(np.diff(r) > 0) and np.all(np.diff(m) > 0)
    assert 0.9 not in r
    assert bd_rate(rate, psnr, RATE * 0.8, PSNR) == pytest.approx(bd_rate(RATE, PSNR, RATE * 0.8, PSNR))
    # equal rate, different metric: keep the better one
    r, m = monotone_frontier([1.0, 1.0, 2.0], [30.0, 31.0, 33.0])
    assert list(r) == [1.0, 2.0] and list(m) == [31.0, 33.0]


def test_strict_mode_rejects_non_monotone():
    with pytest.raises(BDRateError, match="not monotone"):
        bd_rate(np.append(RATE, 0.9), np.append(PSNR, 31.0), RATE, PSNR, strict=True)


def test_non_finite_and_nonpositive_rates_are_ignored():
    rate = np.append(RATE, [0.0, np.nan])
    psnr = np.append(PSNR, [20.0, 30.0])
    assert bd_rate(rate, psnr, RATE * 0.8, PSNR) == pytest.approx(-20.0, abs=1e-9)


def test_non_overlapping_curves_raise_clear_error():
    with pytest.raises(BDRateError, match="do not overlap"):
        bd_rate(RATE, PSNR, RATE, PSNR + 20)
    with pytest.raises(ValueError, match="anchor \\[24.1, 37.9\\], test"):
        bd_rate(RATE, PSNR, RATE, PSNR + 20)


def test_touching_curves_raise():
    with pytest.raises(BDRateError, match="do not overlap"):
        bd_rate([0.1, 0.2], [20.0, 30.0], [0.3, 0.4], [30.0, 40.0])


def test_too_few_points_raise():
    with pytest.raises(BDRateError, match="at least 2"):
        bd_rate([0.5], [30.0], RATE, PSNR)
    with pytest.raises(BDRateError, match="lengths differ"):
        bd_rate([0.5, 1.0], [30.0], RATE, PSNR)


def test_two_point_curves_are_linear():
    # two points: linear interpolation of log-rate
    assert bd_rate([1.0, 2.0], [30.0, 34.0], [0.8, 1.6], [30.0, 34.0]) == pytest.approx(-20.0, abs=1e-9)


def test_pchip_interpolates_and_preserves_monotonicity():
    x = PSNR
    y = np.log(RATE)
    assert np.allclose(pchip_eval(x, y, x), y)
    xs = np.linspace(x[0], x[-1], 2001)
    ys = pchip_eval(x, y, xs)
    assert np.all(np.diff(ys) >= -1e-12)  # no overshoot between monotone data
    assert ys.min() >= y.min() - 1e-12 and ys.max() <= y.max() + 1e-12
    # the exact integral matches dense numerical integration, also on a sub-interval
    dense = np.trapezoid(ys, xs)
    assert pchip_integral(x, y, x[0], x[-1]) == pytest.approx(dense, rel=1e-6)
    xsub = np.linspace(26.0, 33.3, 4001)
    assert pchip_integral(x, y, 26.0, 33.3) == pytest.approx(np.trapezoid(pchip_eval(x, y, xsub), xsub), rel=1e-6)


def test_pchip_reproduces_linear_data_exactly():
    x = np.array([0.0, 1.0, 3.0, 4.5])
    y = 2 * x + 1
    assert pchip_integral(x, y, 0.5, 4.0) == pytest.approx((4.0**2 + 4.0) - (0.5**2 + 0.5))
