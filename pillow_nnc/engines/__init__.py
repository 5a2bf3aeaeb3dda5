"""Model engines: pixels <-> codec parameters and segments, one per model
family (``transform``, ``recurrent``). :mod:`pillow_nnc.zoo` loads them."""

from __future__ import annotations

from typing import NamedTuple

# Below this many pixels the whole payload is one segment: each segment
# costs 3 bytes of framing plus the range coder's flush (about 2 bytes), a
# lot beside a thumbnail's payload of a few dozen bytes.
SINGLE_SEGMENT_PIXELS = 256 * 256
# Pixels per tile side for the convolution stacks of large images (bounds memory).
TILE = 1024


class Payload(NamedTuple):
    """What an engine contributes to a file: codec parameters, segments and,
    for spatially adaptive recurrent files, the RATE_MAP chunk and, when
    some blocks are flat, the FLAT_BLOCKS chunk."""

    params: bytes
    segments: list[bytes]
    rate_map: bytes | None = None
    flat_blocks: bytes | None = None
