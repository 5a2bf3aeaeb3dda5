"""Context model for the recurrent codec's binary codes.

The probability that a code is +1 depends only on integers already known to
the decoder (spec section 7.2, coding 1):

* the iteration ``t`` (iterations from ``ITERATION_CONTEXTS - 1`` on share),
* the code channel ``c``,
* the same code in the previous iteration (none / -1 / +1),
* the code of channel ``c - 1`` at the same block in this iteration
  (none / -1 / +1): channels are coded one after the other.

Each context has an integer frequency of "+1" out of 2**16, counted on
training photos at export and shipped with the model, so the coder never
sees a floating-point network output. Every channel of an iteration is one
vectorised call per context value present (at most 9), not a loop over bits.
"""

from __future__ import annotations

import numpy as np

from .coder import Reader, Writer
from .tables import PRECISION

ITERATION_CONTEXTS = 8
NONE = 2  # "no previous code" state of a context input


def context_count(channels: int) -> int:
    return ITERATION_CONTEXTS * channels * 9


def _contexts(t: int, c: int, channels: int, prev: np.ndarray | None, last_channel: np.ndarray | None, size: int) -> np.ndarray:
    """Context index of every block of channel ``c`` in iteration ``t``;
    ``prev`` / ``last_channel`` are 0/1 codes of (t-1, c) and (t, c-1), or None."""
    base = (min(t, ITERATION_CONTEXTS - 1) * channels + c) * 9
    p = np.full(size, NONE, np.int64) if prev is None else prev.astype(np.int64)
    q = np.full(size, NONE, np.int64) if last_channel is None else last_channel.astype(np.int64)
    return base + p * 3 + q


def _table(p1: int) -> np.ndarray:
    return np.array([(1 << PRECISION) - p1, p1], np.int32)


def encode_iteration(writer: Writer, codes: np.ndarray, prev: np.ndarray | None, t: int, freqs: np.ndarray) -> None:
    """Code one iteration's 0/1 codes ``(C, h*w)``; ``prev`` is the previous iteration's."""
    channels = codes.shape[0]
    for c in range(channels):
        ctx = _contexts(t, c, channels, None if prev is None else prev[c], codes[c - 1] if c else None, codes.shape[1])
        for k in np.unique(ctx):
            writer.encode(codes[c][ctx == k], _table(int(freqs[k])))


def decode_iteration(reader: Reader, shape: tuple[int, int], prev: np.ndarray | None, t: int, freqs: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_iteration`: 0/1 codes ``(C, h*w)``."""
    channels, size = shape
    codes = np.zeros(shape, np.int64)
    for c in range(channels):
        ctx = _contexts(t, c, channels, None if prev is None else prev[c], codes[c - 1] if c else None, size)
        for k in np.unique(ctx):
            where = ctx == k
            codes[c][where] = reader.decode(int(where.sum()), _table(int(freqs[k])))
    return codes


def count_frequencies(iterations: list[list[np.ndarray]], channels: int) -> np.ndarray:
    """Integer P(+1) per context, from the 0/1 codes ``(C, h*w)`` of each
    iteration of each training image; 1..2**16-1, so both symbols stay codable."""
    ones = np.zeros(context_count(channels))
    total = np.zeros(context_count(channels))
    for image in iterations:
        for t, codes in enumerate(image):
            prev = image[t - 1] if t else None
            for c in range(channels):
                ctx = _contexts(t, c, channels, None if prev is None else prev[c], codes[c - 1] if c else None, codes.shape[1])
                ones += np.bincount(ctx, weights=codes[c], minlength=len(ones))
                total += np.bincount(ctx, minlength=len(total))
    p1 = (ones + 0.5) / (total + 1)
    scale = 1 << PRECISION
    return np.clip(np.round(p1 * scale), 1, scale - 1).astype(np.int32)
