"""Bjontegaard delta rate (BD-rate) with piecewise cubic Hermite interpolation.

Numpy only (scipy is not a dependency).  For each curve, the natural log of
the rate is interpolated as a function of the quality metric with a
shape-preserving PCHIP interpolant (Fritsch-Carlson derivatives, the same
scheme as ``scipy.interpolate.PchipInterpolator``); both interpolants are
integrated exactly over the overlapping metric interval ``[lo, hi]`` and

    BD-rate = exp((int test - int anchor) / (hi - lo)) - 1      (in percent)

i.e. the average relative rate difference at equal quality.  Negative
values mean the *test* codec needs fewer bits than the *anchor*.  This is
the piecewise-cubic variant of VCEG-M33 / VCEG-AM91 that JVET and AOM
common test conditions use instead of the original cubic polynomial fit.

Monotone handling: a rate-distortion curve must be a function
rate -> metric that increases with rate, so before interpolation points
are sorted by rate and every point that is *dominated* (a point with the
same or higher rate and a metric not above that of a cheaper point) is
dropped, which leaves the upper (Pareto) frontier, strictly increasing in
both rate and metric.  With ``strict=True`` such points raise instead.
Non-finite values and non-positive rates are always dropped.  Curves with
fewer than two usable points, or whose metric ranges do not overlap,
raise :class:`BDRateError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["BDRateError", "bd_rate", "monotone_frontier", "pchip_derivatives", "pchip_eval", "pchip_integral"]


class BDRateError(ValueError):
    """The two curves cannot be compared (too few points, no overlap, ...)."""


def monotone_frontier(rate: Sequence[float], metric: Sequence[float], strict: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (rate, metric) of the points on the increasing frontier.

    Both returned arrays are strictly increasing.  With ``strict`` a
    dominated point raises :class:`BDRateError` instead of being dropped.
    """
    r = np.asarray(rate, dtype=np.float64).ravel()
    m = np.asarray(metric, dtype=np.float64).ravel()
    if r.shape != m.shape:
        raise BDRateError(f"rate and metric lengths differ ({r.size} vs {m.size})")
    ok = np.isfinite(r) & np.isfinite(m) & (r > 0)
    r, m = r[ok], m[ok]
    order = np.lexsort((-m, r))  # by rate, best metric first among equal rates
    r, m = r[order], m[order]
    keep = np.zeros(r.size, dtype=bool)
    best = -np.inf
    for i, value in enumerate(m):
        if value > best:
            keep[i] = True
            best = value
        elif strict:
            raise BDRateError(
                f"curve is not monotone: rate {r[i]:g} has metric {value:g}, not above {best:g} at a lower rate"
            )
    return r[keep], m[keep]


def pchip_derivatives(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Shape-preserving (Fritsch-Carlson) node derivatives, as scipy's PCHIP."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    h = np.diff(x)
    if x.size < 2 or np.any(h <= 0):
        raise BDRateError("PCHIP needs at least two points with strictly increasing x")
    delta = np.diff(y) / h
    if x.size == 2:
        return np.array([delta[0], delta[0]])
    d = np.zeros_like(x)
    w1 = 2 * h[1:] + h[:-1]
    w2 = h[1:] + 2 * h[:-1]
    same = delta[:-1] * delta[1:] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        hm = (w1 + w2) / (w1 / delta[:-1] + w2 / delta[1:])
    d[1:-1] = np.where(same, hm, 0.0)
    d[0] = _edge(h[0], h[1], delta[0], delta[1])
    d[-1] = _edge(h[-1], h[-2], delta[-1], delta[-2])
    return d


def _edge(h0: float, h1: float, m0: float, m1: float) -> float:
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if np.sign(d) != np.sign(m0):
        return 0.0
    if np.sign(m0) != np.sign(m1) and abs(d) > abs(3 * m0):
        return 3 * m0
    return float(d)


def _coefficients(x: np.ndarray, y: np.ndarray, d: np.ndarray) -> np.ndarray:
    """(n-1, 4) polynomial coefficients c0..c3 of each segment in t = x - x_k."""
    h = np.diff(x)
    delta = np.diff(y) / h
    c2 = (3 * delta - 2 * d[:-1] - d[1:]) / h
    c3 = (d[:-1] + d[1:] - 2 * delta) / h**2
    return np.stack([y[:-1], d[:-1], c2, c3], axis=1)


def pchip_eval(x: Sequence[float], y: Sequence[float], xq: Sequence[float] | float) -> np.ndarray:
    """Evaluate the PCHIP interpolant of (x, y) at ``xq`` (clamped to the data range)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    c = _coefficients(x, y, pchip_derivatives(x, y))
    xq = np.clip(np.asarray(xq, dtype=np.float64), x[0], x[-1])
    k = np.clip(np.searchsorted(x, xq, side="right") - 1, 0, x.size - 2)
    t = xq - x[k]
    return c[k, 0] + t * (c[k, 1] + t * (c[k, 2] + t * c[k, 3]))


def pchip_integral(x: Sequence[float], y: Sequence[float], lo: float, hi: float) -> float:
    """Exact integral of the PCHIP interpolant of (x, y) over [lo, hi] within [x0, xn]."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if lo < x[0] - 1e-12 * max(1.0, abs(x[0])) or hi > x[-1] + 1e-12 * max(1.0, abs(x[-1])):
        raise BDRateError(f"integration range [{lo:g}, {hi:g}] outside data range [{x[0]:g}, {x[-1]:g}]")
    c = _coefficients(x, y, pchip_derivatives(x, y))
    total = 0.0
    for k in range(x.size - 1):
        a = max(lo, x[k]) - x[k]
        b = min(hi, x[k + 1]) - x[k]
        if b <= a:
            continue
        c0, c1, c2, c3 = c[k]
        total += (
            c0 * (b - a) + c1 * (b**2 - a**2) / 2 + c2 * (b**3 - a**3) / 3 + c3 * (b**4 - a**4) / 4
        )
    return float(total)


def bd_rate(
    anchor_rate: Sequence[float],
    anchor_metric: Sequence[float],
    test_rate: Sequence[float],
    test_metric: Sequence[float],
    strict: bool = False,
) -> float:
    """BD-rate of *test* against *anchor*, in percent (negative = test saves bits).

    Rates may be bytes or bpp (only ratios matter); the metric is any
    higher-is-better quality (PSNR in dB, MS-SSIM, MS-SSIM in dB, ...).
    Raises :class:`BDRateError` if a curve has fewer than two usable
    points or the metric ranges do not overlap.
    """
    ra, ma = monotone_frontier(anchor_rate, anchor_metric, strict=strict)
    rt, mt = monotone_frontier(test_rate, test_metric, strict=strict)
    for label, r in (("anchor", ra), ("test", rt)):
        if r.size < 2:
            raise BDRateError(f"{label} curve has {r.size} usable point(s); BD-rate needs at least 2")
    lo = max(ma[0], mt[0])
    hi = min(ma[-1], mt[-1])
    if not hi > lo:
        raise BDRateError(
            "metric ranges do not overlap: anchor [%.6g, %.6g], test [%.6g, %.6g]" % (ma[0], ma[-1], mt[0], mt[-1])
        )
    ia = pchip_integral(ma, np.log(ra), lo, hi)
    it = pchip_integral(mt, np.log(rt), lo, hi)
    return float((np.exp((it - ia) / (hi - lo)) - 1.0) * 100.0)
