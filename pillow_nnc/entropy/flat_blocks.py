"""The FLAT_BLOCKS chunk of a recurrent file: which blocks the decoder
paints flat, and their colours (spec section 7.2).

A flat block's pixels come from its colour and its flat neighbours' colours
(bilinear between block centres), not from the network; its codes (the rate
map says how many iterations) only give the network context for the coded
blocks beside it. The chunk is one zlib stream (RFC 1950, DEFLATE, as the
RATE_MAP): ``h * w`` mask bytes in raster order (1: flat, 0: coded), then
3 bytes (R, G, B) per flat block in raster order, each stored as its
difference (mod 256) from the previous flat block's colour, the first from
(0, 0, 0). A flat area repeats one mask byte and one difference, which zlib
codes in a few bits, and an independent decoder needs only the standard
library. Decompression is bounded by the size the grid allows.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..container import inflate_bounded
from ..errors import NncError


def encode_flat(flat: np.ndarray, colours: np.ndarray) -> bytes:
    """Chunk payload for the ``(h, w)`` mask ``flat`` and the ``(h, w, 3)``
    uint8 ``colours`` (only those of flat blocks are stored)."""
    stored = np.asarray(colours, np.uint8)[flat].reshape(-1, 3)
    diffs = np.diff(stored, axis=0, prepend=np.zeros((1, 3), np.uint8))  # uint8 arithmetic is mod 256
    return zlib.compress(flat.astype(np.uint8).tobytes() + diffs.tobytes(), 9)


def decode_flat(data: bytes, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``(h, w)`` mask and ``(h, w, 3)`` uint8 colours (0 at coded
    blocks); ``NncError`` for a stream of the wrong length, a mask byte
    other than 0 or 1, or no flat block at all."""
    holds = f"a {h}x{w} mask of 0/1 marking some blocks and one colour per marked block"
    raw = inflate_bounded(data, 4 * h * w, "flat blocks chunk", holds)
    mask = np.frombuffer(raw[: h * w], np.uint8)
    n = int(mask.sum()) if len(mask) == h * w and mask.max(initial=0) <= 1 else -1
    if n < 1 or len(raw) != h * w + 3 * n:
        msg = f"nnc: flat blocks chunk does not hold {holds}"
        raise NncError(msg)
    colours = np.zeros((h * w, 3), np.uint8)
    colours[mask == 1] = np.cumsum(np.frombuffer(raw[h * w :], np.uint8).reshape(n, 3), axis=0, dtype=np.uint8)
    return mask.reshape(h, w) == 1, colours.reshape(h, w, 3)
