"""Corrupt, truncated and hostile files through the Pillow plugin.

Documented behaviour (errors.py, spec section 5.2): a file that is not
.nnc raises ``PIL.UnidentifiedImageError``; a corrupt, truncated or
unsupported one raises an ``OSError`` (``NncError`` and subclasses). Pillow's
own ``DecompressionBombError`` may come from ``Image.open`` for a declared
size above its limit. Nothing else may escape, nothing may hang, and a tiny
file must not make the reader allocate a lot.
"""

from __future__ import annotations

import binascii
import contextlib
import io
import signal
import time
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, UnidentifiedImageError

from pillow_nnc import container
from pillow_nnc.errors import MissingModelError, NncError, TruncatedFileError, UnsupportedFileError

MAGIC = b"\x89NNC"
MODES = ("L", "LA", "RGB", "RGBA")
ALLOWED = (OSError, Image.DecompressionBombError)  # UnidentifiedImageError is an OSError


# -- an independent, spec-based writer (spec sections 2 and 3) ---------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def crc(data: bytes, value: int = 0) -> int:
    return binascii.crc_hqx(data, value)


def build(
    width: int, height: int, mode: str, model_id: int, params: bytes,
    chunks: list[tuple[int, bytes]], segments: list[bytes], version: int = 1,
) -> bytes:
    flags = MODES.index(mode) | (0x04 if chunks else 0)
    out = MAGIC + bytes([version, flags])
    out += varint(width - 1) + varint(height - 1) + varint(model_id) + varint(len(params)) + params
    if chunks:
        out += b"".join(bytes([kind]) + varint(len(data)) + data for kind, data in chunks) + b"\x00"
        out += crc(out).to_bytes(2, "big")
    for payload in segments:
        out += varint(len(payload)) + payload
        out += crc(out).to_bytes(2, "big")
    return out


def parts(data: bytes):
    """(header, chunk list, segment payloads) of a valid file, via the reader."""
    header = container.read_header(io.BytesIO(data))
    segments, _ = container.read_segments(data, header)
    chunks = [
        (kind, getattr(header, name)) for kind, name in container.CHUNKS.items()
        if getattr(header, name) is not None
    ]
    return header, chunks, [s.data for s in segments]


def rebuild(data: bytes, **changes) -> bytes:
    header, chunks, segments = parts(data)
    fields = dict(
        width=header.width, height=header.height, mode=header.mode, model_id=header.model_id,
        params=header.codec_params, chunks=chunks, segments=segments,
    )
    fields.update(changes)
    return build(**fields)


# -- helpers --------------------------------------------------------------------------


class Timeout(BaseException):
    """Not an Exception: must never be mistaken for an allowed error."""


@contextlib.contextmanager
def time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise Timeout(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def pillow_settings(max_pixels, load_truncated: bool = False):
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = max_pixels, load_truncated
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def open_and_load(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data), formats=["NNC"])
    im.load()
    return im


def failure(data: bytes) -> BaseException | None:
    """The exception open+load raises, or None if the file decodes."""
    try:
        open_and_load(data)
    except Exception as exc:  # noqa: BLE001  (classified by the caller)
        return exc
    return None


@contextlib.contextmanager
def bounded(max_bytes: int, max_seconds: float):
    """Assert that the block allocates (Python/numpy heap) and takes little."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < max_bytes, f"peak allocation {peak} bytes"
    assert elapsed < max_seconds, f"took {elapsed:.2f} s"


# -- not an .nnc file -------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89NN",
        b"\x89PNG\r\n\x1a\n" + bytes(40),
        b"\x89nnc\x01\x02\x1f\x1f\x7f\x00",
        bytes(np.random.default_rng(5).integers(0, 256, 300, dtype=np.uint8)),
    ],
    ids=["empty", "short-magic", "png-magic", "lowercase-magic", "random"],
)
def test_not_nnc_is_unidentified(data):
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(data), formats=["NNC"])
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(data))


def test_real_png_is_not_nnc(crop):
    buf = io.BytesIO()
    crop.save(buf, format="PNG")
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(buf.getvalue()), formats=["NNC"])


# -- corrupt files ------------------------------------------------------------------------


def test_spec_writer_matches_the_package(small_rgba_nnc, small_rgb_nnc, crop_nnc, sample_nnc):
    for data in (small_rgba_nnc, small_rgb_nnc, crop_nnc, sample_nnc):
        assert rebuild(data) == data


def test_flipped_payload_byte_is_reported_at_load(crop_nnc):
    header = container.read_header(io.BytesIO(crop_nnc))
    data = bytearray(crop_nnc)
    data[(header.size + len(crop_nnc)) // 2] ^= 0x10
    im = Image.open(io.BytesIO(bytes(data)))  # the header is intact: open works
    assert im.size == (64, 48)
    with pytest.raises(OSError) as info:
        im.load()
    assert isinstance(info.value, NncError)
    message = str(info.value)
    assert message.startswith("nnc:")
    assert "CRC" in message and "segment" in message


def test_flipped_header_byte_without_extension_is_caught_by_segment_crc(small_rgb_nnc):
    data = bytearray(small_rgb_nnc)
    data[6] ^= 0x01  # width - 1: 15 -> 14, still a valid varint
    im = Image.open(io.BytesIO(bytes(data)))
    assert im.size == (15, 16)
    with pytest.raises(NncError, match="CRC"):
        im.load()


def test_flipped_chunk_byte_is_caught_in_open(small_rgba_nnc):
    header = container.read_header(io.BytesIO(small_rgba_nnc))
    data = bytearray(small_rgba_nnc)
    data[header.size - 5] ^= 0x04  # inside the last chunk (the alpha plane)
    with pytest.raises(NncError, match="header CRC"):
        Image.open(io.BytesIO(bytes(data)))


@pytest.mark.parametrize("fixture", ["small_rgb_nnc", "small_rgba_nnc", "small_recurrent_nnc"])
def test_every_single_bit_flip_is_detected(fixture, request):
    """CRC-16 catches every single-bit error (spec 4.3): no flip decodes."""
    good = request.getfixturevalue(fixture)
    undetected, wrong_kind = [], []
    with pillow_settings(Image.MAX_IMAGE_PIXELS), time_limit(120):
        for i in range(len(good)):
            for bit in range(8):
                data = bytearray(good)
                data[i] ^= 1 << bit
                exc = failure(bytes(data))
                if exc is None:
                    undetected.append((i, bit))
                elif not isinstance(exc, ALLOWED):
                    wrong_kind.append((i, bit, repr(exc)))
    assert not wrong_kind, wrong_kind[:5]
    assert not undetected, f"bit flips decoded without error: {undetected[:10]}"


@pytest.mark.parametrize("fixture", ["small_rgb_nnc", "small_rgba_nnc", "crop_nnc", "small_recurrent_nnc"])
def test_every_truncation_is_detected(fixture, request):
    good = request.getfixturevalue(fixture)
    header, _, segments = parts(good)
    ends = set()
    pos = header.size
    for payload in segments:
        pos += len(varint(len(payload))) + len(payload) + 2
        ends.add(pos)
    with pillow_settings(Image.MAX_IMAGE_PIXELS), time_limit(120):
        for cut in range(len(good)):
            exc = failure(good[:cut])
            if cut in ends:
                assert exc is None, (cut, exc)
            elif cut < 4:
                assert isinstance(exc, UnidentifiedImageError), (cut, exc)
            else:
                assert isinstance(exc, TruncatedFileError), (cut, exc)


def test_newer_version_is_unsupported(small_rgb_nnc):
    data = bytearray(small_rgb_nnc)
    data[4] = 3
    with pytest.raises(UnsupportedFileError, match=r"newer.*upgrade"):
        Image.open(io.BytesIO(bytes(data)))
    data[4] = 0
    with pytest.raises(NncError, match="version"):
        Image.open(io.BytesIO(bytes(data)))


def test_reserved_flag_is_unsupported(small_rgb_nnc):
    data = bytearray(small_rgb_nnc)
    data[5] |= 0x10
    with pytest.raises(UnsupportedFileError, match="flag"):
        Image.open(io.BytesIO(bytes(data)))


def test_unknown_critical_chunk_is_unsupported(small_rgb_nnc):
    data = rebuild(small_rgb_nnc, chunks=[(0x85, b"future")])
    with pytest.raises(UnsupportedFileError, match="0x85"):
        Image.open(io.BytesIO(data))


def test_unknown_ancillary_chunks_are_skipped(small_rgb_nnc):
    expected = np.asarray(open_and_load(small_rgb_nnc))
    data = rebuild(small_rgb_nnc, chunks=[(0x05, b"later"), (0x05, b""), (0x7F, b"x" * 300)])
    im = open_and_load(data)
    np.testing.assert_array_equal(np.asarray(im), expected)
    assert not {"exif", "icc_profile", "xmp"} & set(im.info)


def test_alpha_chunk_missing_or_forbidden(small_rgb_nnc, small_rgba_nnc):
    with pytest.raises(NncError, match="alpha"):
        Image.open(io.BytesIO(rebuild(small_rgba_nnc, chunks=[(0x01, b"MM\x00*")])))
    with pytest.raises(NncError, match="alpha"):
        Image.open(io.BytesIO(rebuild(small_rgb_nnc, chunks=[(0x81, b"\x00\xff")])))


def test_unknown_model_id_is_reported_at_load(crop_nnc):
    for model_id in (5000, 2**21 - 1):
        data = rebuild(crop_nnc, model_id=model_id)
        im = Image.open(io.BytesIO(data))  # open only reads the header
        assert im.size == (64, 48) and im.mode == "RGB"
        with pytest.raises(MissingModelError) as info:
            im.load()
        assert isinstance(info.value, OSError)
        assert str(model_id) in str(info.value)


# -- hostile sizes and lengths ----------------------------------------------------------


def huge_file(valid_crc: bool = True) -> bytes:
    """40 bytes declaring a 65535x65535 RGB image, one 21-byte segment."""
    data = build(65535, 65535, "RGB", 127, b"\xbf\x01", [], [bytes(range(1, 22))])
    if not valid_crc:
        data = data[:-1] + bytes([data[-1] ^ 0x01])
    assert len(data) == 40
    return data


def test_huge_declared_size_fails_in_open(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", int(1024 * 1024 * 1024 // 4 // 3))  # Pillow's default
    with bounded(max_bytes=1 << 20, max_seconds=2):
        with pytest.raises(Image.DecompressionBombError):
            Image.open(io.BytesIO(huge_file()))


def test_huge_declared_size_without_bomb_check_fails_fast_on_corruption(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with bounded(max_bytes=1 << 20, max_seconds=2):
        im = Image.open(io.BytesIO(huge_file(valid_crc=False)))
        assert im.size == (65535, 65535)
        with pytest.raises(NncError, match="CRC"):
            im.load()


def test_huge_truncated_file_without_bomb_check_fails_fast(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with bounded(max_bytes=1 << 20, max_seconds=2):
        im = Image.open(io.BytesIO(huge_file()[:30]))
        with pytest.raises(TruncatedFileError):
            im.load()


def test_lying_chunk_length_is_truncation_not_allocation():
    data = MAGIC + bytes([1, 2 | 4]) + b"\x0f\x0f\x7f\x00" + b"\x01" + varint(2**26) + bytes(20)
    with bounded(max_bytes=3 << 20, max_seconds=2):
        with pytest.raises(TruncatedFileError):
            Image.open(io.BytesIO(data))


def test_lying_segment_length_is_truncation_not_allocation(small_rgb_nnc):
    header = container.read_header(io.BytesIO(small_rgb_nnc))
    data = small_rgb_nnc[: header.size] + varint(2**28) + bytes(30)
    with bounded(max_bytes=3 << 20, max_seconds=2):
        im = Image.open(io.BytesIO(data))
        with pytest.raises(TruncatedFileError):
            im.load()


def test_over_limit_lengths_are_refused(small_rgb_nnc):
    header = container.read_header(io.BytesIO(small_rgb_nnc))
    # segment length 2**28 + 1 (5-byte varint) and a chunk length of 2**26 + 1
    with pytest.raises(NncError, match="out of range"):
        open_and_load(small_rgb_nnc[: header.size] + varint(2**28 + 1) + bytes(10))
    data = MAGIC + bytes([1, 2 | 4]) + b"\x0f\x0f\x7f\x00" + b"\x01" + varint(2**26 + 1) + bytes(10)
    with pytest.raises(NncError, match="out of range"):
        Image.open(io.BytesIO(data))


def test_alpha_zlib_bomb_is_bounded(small_rgba_nnc):
    bomb = b"\x01" + zlib.compress(bytes(20_000_000), 9)
    assert len(bomb) < 40_000
    header, chunks, segments = parts(small_rgba_nnc)
    chunks = [(kind, bomb if kind == 0x81 else data) for kind, data in chunks]
    data = rebuild(small_rgba_nnc, chunks=chunks)
    im = Image.open(io.BytesIO(data))
    with bounded(max_bytes=4 << 20, max_seconds=10):
        with pytest.raises(NncError, match="alpha"):
            im.load()


# -- fuzzing ------------------------------------------------------------------------------

POSITION = st.integers(0, 1 << 16)
MUTATION = st.one_of(
    st.tuples(st.just("flip"), POSITION, st.integers(1, 255)),
    st.tuples(st.just("set"), POSITION, st.integers(0, 255)),
    st.tuples(st.just("insert"), POSITION, st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), POSITION, st.integers(1, 8)),
    st.tuples(st.just("truncate"), POSITION, st.just(0)),
)


def mutate(data: bytes, mutations) -> bytes:
    out = bytearray(data)
    for kind, pos, arg in mutations:
        pos %= len(out) + 1
        if kind == "flip" and pos < len(out):
            out[pos] ^= arg
        elif kind == "set" and pos < len(out):
            out[pos] = arg
        elif kind == "insert":
            out[pos:pos] = arg
        elif kind == "delete":
            del out[pos : pos + arg]
        elif kind == "truncate":
            del out[pos:]
        if not out:
            break
    return bytes(out)


@settings(
    max_examples=150, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    which=st.sampled_from(["rgb", "rgba", "recurrent"]),
    mutations=st.lists(MUTATION, min_size=1, max_size=3),
    load_truncated=st.booleans(),
)
def test_mutated_files_fail_cleanly(small_rgb_nnc, small_rgba_nnc, small_recurrent_nnc, which, mutations, load_truncated):
    good = {"rgb": small_rgb_nnc, "rgba": small_rgba_nnc, "recurrent": small_recurrent_nnc}[which]
    data = mutate(good, mutations)
    # Bound the work a mutated size field can ask for (the decompression-bomb
    # check is the documented guard); MAX_IMAGE_PIXELS itself is still exercised.
    with pillow_settings(1 << 18, load_truncated), time_limit(60):
        exc = failure(data)
    if exc is not None:
        assert isinstance(exc, ALLOWED), f"{type(exc).__name__}: {exc}"
        if isinstance(exc, OSError) and not isinstance(exc, UnidentifiedImageError):
            assert str(exc), "empty error message"


# -- crafted recurrent files: resource limits --------------------------------------


@pytest.mark.parametrize(
    "params",
    [bytes([8, 3, 1, 0]), bytes([8, 3, 1, 1]), bytes([8, 3, 1, 2, 2]), bytes([8, 3, 8, 2, 16])],
    ids=["plain", "global", "local-tile2", "local-one-segment"],
)
def test_tiny_recurrent_file_declaring_a_huge_image_fails_before_the_network(params):
    """4096x4096 (under Pillow's bomb limit) with a few bytes of codes: the
    parse refuses it (the codes cannot fit) before any network runs."""
    from pillow_nnc import zoo

    model_id = zoo.default_model("recurrent")
    header = container.Header(width=4096, height=4096, mode="RGB", model_id=model_id, codec_params=params)
    segments = [b"\x01\x02\x03"] * (params[0] // params[2])
    data = container.write(header, segments)
    assert len(data) < 100
    im = Image.open(io.BytesIO(data))
    with bounded(max_bytes=64 << 20, max_seconds=10):
        with pytest.raises(NncError, match="bytes"):
            im.load()


def test_recurrent_rate_map_bomb_is_bounded():
    from pillow_nnc import zoo

    header = container.Header(
        width=64, height=64, mode="RGB", model_id=zoo.default_model("recurrent"),
        codec_params=bytes([2, 3, 2, 1]), rate_map=zlib.compress(bytes(1 << 26)),
    )
    data = container.write(header, [b"\x01" * 64])
    with bounded(max_bytes=4 << 20, max_seconds=10):
        with pytest.raises(NncError, match="rate map"):
            Image.open(io.BytesIO(data)).load()


def test_tiny_transform_file_declaring_a_huge_image_fails_before_the_networks():
    from pillow_nnc import zoo

    header = container.Header(width=4096, height=4096, mode="RGB", model_id=zoo.default_model("transform"),
                              codec_params=bytes([128, 12]))
    data = container.write(header, [b"\x01\x02\x03" * 20])
    im = Image.open(io.BytesIO(data))
    with bounded(max_bytes=64 << 20, max_seconds=10):
        with pytest.raises(NncError, match="too few for the hyper-latents"):
            im.load()
