"""The RATE_MAP chunk: how many iterations each block of a recurrent file
carries (spatially adaptive bit rates, spec section 7.2).

The map is one byte per block in raster order, compressed with DEFLATE
(zlib format, RFC 1950). Maps are smooth (flat regions stop together) and
small beside the codes (measured on Kodak in ``bench/results/sabr``), and
zlib is in every language's standard library, so an independent decoder
needs nothing exotic. Decompression is bounded by the size the grid
declares, so a hostile chunk cannot inflate to gigabytes.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..container import inflate_exact
from ..errors import NncError


def encode_map(counts: np.ndarray) -> bytes:
    """Chunk payload for an (h, w) array of iteration counts in 1..255."""
    return zlib.compress(np.ascontiguousarray(counts, np.uint8).tobytes(), 9)


def decode_map(data: bytes, h: int, w: int, iterations: int) -> np.ndarray:
    """(h, w) iteration counts, each in 1..``iterations``; ``NncError`` for
    anything else (wrong size, trailing data, out-of-range counts)."""
    raw = inflate_exact(data, h * w, "rate map", f"{h}x{w} blocks")
    counts = np.frombuffer(raw, np.uint8).reshape(h, w)
    if counts.min() < 1 or counts.max() > iterations:
        msg = f"nnc: rate map counts must be in 1..{iterations}"
        raise NncError(msg)
    return counts.astype(np.int64)
