"""Model engines: pixels <-> codec parameters and segments, one per model
family (``transform``, ``recurrent``). :mod:`pillow_nnc.zoo` loads them."""

from __future__ import annotations

from typing import NamedTuple


class Payload(NamedTuple):
    """What an engine contributes to a file: codec parameters, segments and,
    for spatially adaptive recurrent files, the RATE_MAP chunk."""

    params: bytes
    segments: list[bytes]
    rate_map: bytes | None = None
