"""Lossless coding of the alpha plane (the payload of the ALPHA chunk).

Alpha is usually flat or made of large flat regions with sharp edges, which a
learned lossy codec handles badly and DEFLATE handles well once neighbouring
pixels are differenced. Decoding is bounded by the image size, so a tiny
hostile stream cannot inflate into gigabytes.
"""

from __future__ import annotations

import zlib

import numpy as np

from .container import inflate_exact
from .errors import NncError

CONSTANT = 0
LEFT_DIFF_DEFLATE = 1


def encode_alpha(plane: np.ndarray) -> bytes:
    """Code a uint8 (H, W) alpha plane; a constant plane takes two bytes."""
    if plane.dtype != np.uint8 or plane.ndim != 2 or not plane.size:
        msg = f"alpha plane must be a non-empty uint8 (H, W) array, not {plane.dtype} {plane.shape}"
        raise ValueError(msg)
    first = plane.flat[0]
    if (plane == first).all():
        return bytes([CONSTANT, first])
    residual = plane.copy()
    residual[:, 1:] -= plane[:, :-1]  # uint8 arithmetic wraps mod 256
    residual[1:, 0] -= plane[:-1, 0]
    return bytes([LEFT_DIFF_DEFLATE]) + zlib.compress(residual.tobytes(), 9)


def decode_alpha(data: bytes, width: int, height: int) -> np.ndarray:
    """Inverse of :func:`encode_alpha`; any malformed input raises NncError."""
    size = width * height
    if not data:
        msg = "nnc: empty alpha chunk"
        raise NncError(msg)
    method, body = data[0], data[1:]
    if method == CONSTANT:
        if len(body) != 1:
            msg = f"nnc: constant alpha chunk must be 2 bytes, not {len(data)}"
            raise NncError(msg)
        return np.full((height, width), body[0], np.uint8)
    if method != LEFT_DIFF_DEFLATE:
        msg = f"nnc: unknown alpha coding method {method}"
        raise NncError(msg)

    raw = inflate_exact(body, size, "alpha chunk", f"{width}x{height} pixels")
    residual = np.frombuffer(raw, np.uint8).reshape(height, width).copy()
    residual[:, 0] = np.cumsum(residual[:, 0], dtype=np.uint8)  # wraps mod 256
    return np.cumsum(residual, axis=1, dtype=np.uint8)
