"""Integer probability tables.

Tables are computed once, when a model is exported, and shipped inside its
weights file as integers; decoding never recomputes them, so no libm or
float difference between machines can change a table.
"""

from __future__ import annotations

import math

import numpy as np

from .scales import NUM_SCALES, scale_of

PRECISION = 16  # every table sums to 2**PRECISION


def quantize_pmf(pmf: np.ndarray) -> np.ndarray:
    """Integer frequencies summing to 2**PRECISION, none below 1."""
    total = 1 << PRECISION
    freq = np.maximum(1, np.floor(pmf / pmf.sum() * (total - len(pmf)))).astype(np.int64)
    freq[np.argmax(freq)] += total - freq.sum()
    return freq.astype(np.int32)


def uniform_table(n: int) -> np.ndarray:
    """The integer table of ``n`` equally likely symbols (spec 7.1): each
    frequency ``floor((2**16 - n) / n)``, the first taking the remainder."""
    freq = np.full(n, ((1 << PRECISION) - n) // n, np.int64)
    freq[0] += (1 << PRECISION) - freq.sum()
    return freq.astype(np.int32)


def gaussian_tables() -> tuple[np.ndarray, np.ndarray]:
    """Frequencies of a unit-binned zero-mean Gaussian for every ladder rung.

    Returns ``(freqs, radius)``: rung ``i`` covers symbols ``-r..r`` with
    ``r = radius[i]`` and its ``2r+1`` frequencies are the ``i``-th slice of
    the concatenated ``freqs``; tail mass is folded into the end bins.
    """
    chunks, radius = [], []
    for i in range(NUM_SCALES):
        s = scale_of(i)
        r = max(2, math.ceil(8 * s))
        k = np.arange(-r, r + 1, dtype=np.float64)
        cdf = np.array([0.5 * math.erfc(-v / (s * math.sqrt(2))) for v in np.append(k - 0.5, r + 0.5)])
        cdf[0], cdf[-1] = 0.0, 1.0
        chunks.append(quantize_pmf(np.diff(cdf)))
        radius.append(r)
    return np.concatenate(chunks), np.array(radius, dtype=np.int32)
