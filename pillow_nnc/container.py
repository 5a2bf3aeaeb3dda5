"""The ``.nnc`` v1 container: header, extension chunks and CRC-checked segments.

The container knows nothing about the codec. It frames an opaque model id,
opaque codec parameters and a list of opaque segments, and it makes sure a
reader never trusts a length it has not checked: every length is bounded
before anything is read, so a hostile file cannot force a large allocation.
``spec/nnc-format.md`` is the authoritative description of the layout.
"""

from __future__ import annotations

import binascii
import io
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from .errors import NncError, TruncatedFileError, UnsupportedFileError

MAGIC = b"\x89NNC"
VERSION = 1
MODES = ("L", "LA", "RGB", "RGBA")
MAX_SIDE = 65535
MAX_MODEL_ID = 2**21 - 1
MAX_CODEC_PARAMS = 64
MAX_CHUNK = 2**26
MAX_CHUNKS = 64
MAX_SEGMENT = 2**28

_FLAG_MODE = 0x03
_FLAG_EXTENSION = 0x04
_FLAG_RESERVED = 0xF8
_CRITICAL = 0x80
_READ_STEP = 1 << 20  # never ask a file object for more than this at once

# Known chunk types and the Header field each one fills, in writing order.
CHUNKS = {
    0x01: "exif",
    0x02: "icc_profile",
    0x03: "xmp",
    0x81: "alpha",
    0x82: "rate_map",
    0x83: "side_info",
    0x84: "flat_blocks",
}


@dataclass
class Header:
    """Everything before the first segment."""

    width: int
    height: int
    mode: str
    model_id: int
    codec_params: bytes = b""
    exif: bytes | None = None
    icc_profile: bytes | None = None
    xmp: bytes | None = None
    alpha: bytes | None = None
    rate_map: bytes | None = None
    side_info: bytes | None = None
    flat_blocks: bytes | None = None
    size: int = 0


@dataclass
class Segment:
    """One progressive unit of the codec, as stored in the file."""

    offset: int
    data: bytes


def accept(prefix: bytes) -> bool:
    """Magic check for Pillow's ``_accept``."""
    return prefix[:4] == MAGIC


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16/XMODEM (poly 0x1021, init 0), continued from ``crc``."""
    return binascii.crc_hqx(data, crc)


# -- writing -----------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _check(value: object, lo: int, hi: int, what: str) -> None:
    if not isinstance(value, int) or not lo <= value <= hi:
        msg = f"{what} must be an int in {lo}..{hi}, not {value!r}"
        raise ValueError(msg)


def _alpha_problem(header: Header) -> str | None:
    """Alpha modes need the ALPHA chunk and the others forbid it; say if not."""
    if (header.alpha is not None) == header.mode.endswith("A"):
        return None
    return f"mode {header.mode} {'needs' if header.alpha is None else 'forbids'} an alpha chunk"


def encode_header(header: Header) -> bytes:
    """Serialise ``header`` (and set ``header.size``); ValueError on bad fields."""
    _check(header.width, 1, MAX_SIDE, "width")
    _check(header.height, 1, MAX_SIDE, "height")
    _check(header.model_id, 0, MAX_MODEL_ID, "model_id")
    if header.mode not in MODES:
        msg = f"mode must be one of {MODES}, not {header.mode!r}"
        raise ValueError(msg)
    if len(header.codec_params) > MAX_CODEC_PARAMS:
        msg = f"codec_params longer than {MAX_CODEC_PARAMS} bytes"
        raise ValueError(msg)
    if problem := _alpha_problem(header):
        raise ValueError(problem)

    extension = bytearray()
    for kind, name in CHUNKS.items():
        data = getattr(header, name)
        if data is None:
            continue
        if len(data) > MAX_CHUNK:
            msg = f"{name} chunk longer than {MAX_CHUNK} bytes"
            raise ValueError(msg)
        extension += bytes([kind]) + _varint(len(data)) + data

    flags = MODES.index(header.mode) | (_FLAG_EXTENSION if extension else 0)
    out = bytearray(MAGIC + bytes([VERSION, flags]))
    out += _varint(header.width - 1) + _varint(header.height - 1)
    out += _varint(header.model_id)
    out += _varint(len(header.codec_params)) + header.codec_params
    if extension:
        out += extension + b"\x00"
        out += crc16(out).to_bytes(2, "big")
    header.size = len(out)
    return bytes(out)


def frame_segments(head: bytes, segments: Sequence[bytes]) -> list[bytes]:
    """Each segment framed as length + payload + running CRC, to follow ``head``.

    Kept as separate pieces so an encoder can cut a file at a segment
    boundary (``max_bytes``) without re-framing anything.
    """
    crc = crc16(head)
    framed = []
    for data in segments:
        if not 1 <= len(data) <= MAX_SEGMENT:
            msg = f"segment length must be 1..{MAX_SEGMENT}, not {len(data)}"
            raise ValueError(msg)
        body = _varint(len(data)) + data
        crc = crc16(body, crc)
        tail = crc.to_bytes(2, "big")
        crc = crc16(tail, crc)
        framed.append(body + tail)
    return framed


def write(header: Header, segments: Sequence[bytes]) -> bytes:
    """The whole file: header, then each segment with its running CRC."""
    if not segments:
        msg = "at least one segment is required"
        raise ValueError(msg)
    head = encode_header(header)
    return head + b"".join(frame_segments(head, segments))


# -- reading -----------------------------------------------------------------


class _Reader:
    """Exact-length reads with a running CRC over everything read so far."""

    def __init__(self, fp: BinaryIO, consumed: bytes = b"") -> None:
        self.fp = fp
        self.pos = len(consumed)
        self.crc = crc16(consumed)
        self.where = "the header"

    def take(self, n: int) -> bytes:
        parts = []
        left = n
        while left:  # stepwise, so a lying length costs at most one step
            part = self.fp.read(min(left, _READ_STEP))
            if not part:
                msg = f"nnc: file ends inside {self.where} (offset {self.pos + n - left})"
                raise TruncatedFileError(msg)
            parts.append(part)
            left -= len(part)
        data = b"".join(parts)
        self.pos += n
        self.crc = crc16(data, self.crc)
        return data

    def byte(self) -> int:
        return self.take(1)[0]

    def varint(self, what: str, limit: int) -> int:
        """Minimal unsigned LEB128 of at most as many bytes as ``limit`` needs."""
        max_len = max(1, -(-limit.bit_length() // 7))
        value = 0
        for i in range(max_len):
            b = self.byte()
            value |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                if b == 0 and i:
                    msg = f"nnc: non-minimal varint for {what}"
                    raise NncError(msg)
                return value
        msg = f"nnc: varint for {what} exceeds its {max_len}-byte maximum"
        raise NncError(msg)


def _chunk_name(kind: int) -> str:
    return f"0x{kind:02x}" + (f" ({CHUNKS[kind]})" if kind in CHUNKS else "")


def read_header(fp: BinaryIO) -> Header:
    """Read exactly the header from ``fp`` (positioned at the file start).

    SyntaxError means "not an .nnc file" (wrong magic); any other problem is
    an :class:`NncError`.
    """
    magic = fp.read(4)
    if magic != MAGIC:
        msg = "not an NNC file"
        raise SyntaxError(msg)
    r = _Reader(fp, consumed=magic)

    version = r.byte()
    if version > VERSION:
        msg = (
            f"nnc: format version {version} is newer than this decoder ({VERSION}); "
            "upgrade pillow-nnc"
        )
        raise UnsupportedFileError(msg)
    if version != VERSION:
        msg = f"nnc: invalid format version {version}"
        raise NncError(msg)
    flags = r.byte()
    if flags & _FLAG_RESERVED:
        msg = f"nnc: reserved flag bits set (flags 0x{flags:02x})"
        raise UnsupportedFileError(msg)

    width = r.varint("width", MAX_SIDE) + 1
    height = r.varint("height", MAX_SIDE) + 1
    for name, side in (("width", width), ("height", height)):
        if side > MAX_SIDE:
            msg = f"nnc: {name} {side} out of range"
            raise NncError(msg)
    model_id = r.varint("model id", MAX_MODEL_ID)
    n_params = r.varint("codec parameter length", MAX_CODEC_PARAMS)
    if n_params > MAX_CODEC_PARAMS:
        msg = f"nnc: codec parameter length {n_params} out of range"
        raise NncError(msg)
    header = Header(width, height, MODES[flags & _FLAG_MODE], model_id, r.take(n_params))

    if flags & _FLAG_EXTENSION:
        _read_extension(r, header)
    if problem := _alpha_problem(header):
        msg = f"nnc: {problem}"
        raise NncError(msg)
    header.size = r.pos
    return header


def _read_extension(r: _Reader, header: Header) -> None:
    """Read the chunks into ``header``; semantics are judged only after the CRC."""
    r.where = "the extension block"
    chunks = []
    while kind := r.byte():
        if len(chunks) == MAX_CHUNKS:
            msg = f"nnc: more than {MAX_CHUNKS} chunks"
            raise NncError(msg)
        length = r.varint(f"chunk {_chunk_name(kind)} length", MAX_CHUNK)
        if length > MAX_CHUNK:
            msg = f"nnc: chunk {_chunk_name(kind)} length {length} out of range"
            raise NncError(msg)
        chunks.append((kind, r.take(length)))
    expected = r.crc
    if int.from_bytes(r.take(2), "big") != expected:
        msg = "nnc: header CRC mismatch"
        raise NncError(msg)

    for kind, data in chunks:
        if kind in CHUNKS:
            if getattr(header, CHUNKS[kind]) is not None:
                msg = f"nnc: duplicate chunk {_chunk_name(kind)}"
                raise NncError(msg)
            setattr(header, CHUNKS[kind], data)
        elif kind & _CRITICAL:
            msg = f"nnc: unknown critical chunk {_chunk_name(kind)}"
            raise UnsupportedFileError(msg)


def read_segments(
    data: bytes, header: Header, *, allow_truncated: bool = False
) -> tuple[list[Segment], bool]:
    """Split the whole file ``data`` into CRC-checked segments.

    Returns ``(segments, truncated)``. A file that ends exactly at a segment
    boundary is complete (a progressive prefix); one that ends inside a
    segment is truncated, which raises unless ``allow_truncated``. With
    ``allow_truncated``, a segment that fails its CRC or length check also
    ends the image at the good segments before it, with a warning.
    """
    r = _Reader(io.BytesIO(data))
    segments: list[Segment] = []
    try:
        r.take(header.size)  # seeds the running CRC with the header bytes
        while r.pos < len(data):
            r.where = f"segment {len(segments)}"
            try:
                length = r.varint(f"segment {len(segments)} length", MAX_SEGMENT)
            except TruncatedFileError:
                raise
            except NncError as exc:  # a malformed length: as corrupt as a bad CRC
                return _bad_segment(str(exc), segments, allow_truncated)
            if not 1 <= length <= MAX_SEGMENT:
                msg = f"nnc: segment {len(segments)} length {length} out of range"
                return _bad_segment(msg, segments, allow_truncated)
            offset = r.pos
            payload = r.take(length)
            expected = r.crc
            if int.from_bytes(r.take(2), "big") != expected:
                msg = f"nnc: CRC mismatch in segment {len(segments)} at offset {offset}"
                return _bad_segment(msg, segments, allow_truncated)
            segments.append(Segment(offset, payload))
        if not segments:
            msg = f"nnc: file ends before the first segment (offset {r.pos})"
            raise TruncatedFileError(msg)
    except TruncatedFileError:
        if not allow_truncated:
            raise
        return segments, True
    return segments, False


def _bad_segment(msg: str, segments: list[Segment], allow_truncated: bool) -> tuple[list[Segment], bool]:
    """A segment that fails its checks: an error, or, when truncated files
    are allowed and good segments precede it, those segments (the coarser
    image, as for a cut file) with a warning naming what was dropped."""
    if not (allow_truncated and segments):
        raise NncError(msg)
    warnings.warn(f"{msg}; decoding the {len(segments)} good segment(s) before it", stacklevel=4)
    return segments, True


def inflate_bounded(data: bytes, limit: int, what: str, holds: str) -> bytes:
    """The zlib stream of a chunk, which must end with the stream and inflate
    to at most ``limit`` bytes: ``NncError`` saying that ``what`` does not
    hold ``holds`` otherwise.
    Inflates at most ``limit + 1`` bytes, so a tiny hostile stream costs one
    plane of memory, never gigabytes (spec 3.2.1)."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, limit + 1)  # one extra byte detects "too long"
    except zlib.error as e:
        msg = f"nnc: corrupt {what} ({e})"
        raise NncError(msg) from None
    if len(raw) > limit or not inflater.eof or inflater.unused_data:
        msg = f"nnc: {what} does not hold {holds}"
        raise NncError(msg)
    return raw


def inflate_exact(data: bytes, size: int, what: str, holds: str) -> bytes:
    """:func:`inflate_bounded` to exactly ``size`` bytes (alpha plane, rate map)."""
    raw = inflate_bounded(data, size, what, f"exactly {holds}")
    if len(raw) != size:
        msg = f"nnc: {what} does not hold exactly {holds}"
        raise NncError(msg)
    return raw
