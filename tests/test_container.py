from __future__ import annotations

import binascii
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pillow_nnc import container
from pillow_nnc.container import Header, Segment, read_header, read_segments, write
from pillow_nnc.errors import NncError, TruncatedFileError, UnsupportedFileError

MAGIC = b"\x89NNC"


def crc(data: bytes) -> bytes:
    return binascii.crc_hqx(data, 0).to_bytes(2, "big")


def raw(
    flags: int = 2, fields: bytes = b"\x1f\x1f\x00\x00", chunks: bytes | None = None, version: int = 1
) -> bytes:
    """A hand-built header; ``chunks`` (without the 0x00 end) gets a valid CRC."""
    out = MAGIC + bytes([version, flags]) + fields
    if chunks is not None:
        out += chunks + b"\x00"
        out += crc(out)
    return out


def parse(data: bytes, **kwargs) -> tuple[Header, list[Segment], bool]:
    header = read_header(io.BytesIO(data))
    return header, *read_segments(data, header, **kwargs)


def full_header(mode: str = "RGBA") -> Header:
    return Header(
        width=640,
        height=480,
        mode=mode,
        model_id=70000,
        codec_params=b"\x01\x02\x03",
        exif=b"MM\x00*exif",
        icc_profile=b"icc" * 100,
        xmp="<x:xmpmeta>é</x:xmpmeta>".encode(),
        alpha=b"\x00\x80" if mode.endswith("A") else None,
        rate_map=b"rate",
        side_info=b"",
        flat_blocks=b"flat",
    )


# -- layout ------------------------------------------------------------------


def test_crc_check_value():
    assert binascii.crc_hqx(b"123456789", 0) == 0x31C3
    assert container.crc16(b"123456789") == 0x31C3


def test_exact_header_bytes():
    header = Header(width=32, height=16, mode="RGB", model_id=300, codec_params=b"\x07\x08")
    expected = bytes.fromhex("894e4e43 01 02 1f 0f ac02 02 0708")
    assert container.encode_header(header) == expected
    assert header.size == len(expected) == 13


def test_exact_extension_and_segment_bytes():
    header = Header(width=1, height=1, mode="LA", model_id=0, alpha=b"\x00\xff")
    data = write(header, [b"abc"])
    head = bytes.fromhex("894e4e43 01 05 00 00 00 00 81 02 00ff 00")
    head += crc(head)
    assert data == head + b"\x03abc" + crc(head + b"\x03abc")
    assert header.size == len(head)


def test_running_crc_covers_previous_segments():
    header = Header(2, 2, "L", 1)
    data = write(header, [b"x", b"y"])
    first_end = header.size + 2
    assert data[first_end : first_end + 2] == crc(data[:first_end])
    assert data[-2:] == crc(data[:-2])


def test_frame_segments_pieces_are_valid_prefixes():
    header = Header(5, 5, "RGB", 0)
    head = container.encode_header(header)
    framed = container.frame_segments(head, [b"a", b"bb" * 100, b"c"])
    assert head + b"".join(framed) == write(header, [b"a", b"bb" * 100, b"c"])
    for keep in range(1, 4):
        _, segments, truncated = parse(head + b"".join(framed[:keep]))
        assert len(segments) == keep and not truncated


@pytest.mark.parametrize("payload_len", [1, 100, 127, 128, 3000])
def test_overhead_32x32_rgb(payload_len):
    header = Header(32, 32, "RGB", model_id=5, codec_params=b"\x00\x01")
    data = write(header, [b"\x55" * payload_len])
    overhead = len(data) - payload_len
    assert overhead <= 16
    assert overhead == (15 if payload_len < 128 else 16)


def test_accept():
    assert container.accept(MAGIC + b"\x01\x02")
    assert container.accept(MAGIC)
    for prefix in (b"", b"\x89NN", b"\x89PNG\r\n\x1a\n", b"qoif", b"\x89nnc\x01"):
        assert not container.accept(prefix)


# -- round trips ---------------------------------------------------------------


@pytest.mark.parametrize("mode", container.MODES)
def test_round_trip_every_chunk(mode):
    header = full_header(mode)
    segments = [b"s0", b"\xff" * 200, bytes(range(256)) * 70]
    data = write(header, segments)
    parsed, got, truncated = parse(data)
    assert parsed == header
    assert [s.data for s in got] == segments
    assert not truncated
    for s in got:
        assert data[s.offset : s.offset + len(s.data)] == s.data


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_round_trip_minimal(mode):
    header = Header(container.MAX_SIDE, 1, mode, container.MAX_MODEL_ID)
    data = write(header, [b"\x00"])
    parsed, _, _ = parse(data)
    assert parsed == header
    assert (parsed.width, parsed.codec_params, parsed.exif) == (container.MAX_SIDE, b"", None)
    assert data[5] & 0x04 == 0  # no extension block


@pytest.mark.parametrize("name", ["exif", "icc_profile", "xmp", "rate_map", "side_info", "flat_blocks"])
def test_round_trip_single_chunk(name):
    header = Header(3, 5, "RGB", 2, **{name: b"payload"})
    parsed, _, _ = parse(write(header, [b"z"]))
    assert getattr(parsed, name) == b"payload"
    assert parsed == header


def test_read_header_reads_only_the_header():
    class CountingIO(io.BytesIO):
        consumed = 0

        def read(self, size=-1):
            assert size is not None and size >= 0, "read_header must not read to EOF"
            data = super().read(size)
            self.consumed += len(data)
            return data

    header = full_header()
    data = write(header, [b"a" * 5000, b"b" * 5000])
    fp = CountingIO(data)
    assert read_header(fp).size == header.size
    assert fp.consumed == header.size == fp.tell()


# -- encoder validation --------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"width": 0},
        {"height": 65536},
        {"mode": "P"},
        {"model_id": -1},
        {"model_id": 2**21},
        {"codec_params": b"x" * 65},
        {"mode": "RGBA"},  # alpha missing
        {"alpha": b"\x00\x00"},  # alpha on RGB
    ],
)
def test_encode_header_rejects(changes):
    fields = {"width": 4, "height": 4, "mode": "RGB", "model_id": 0} | changes
    with pytest.raises(ValueError):
        container.encode_header(Header(**fields))


def test_write_rejects_bad_segments():
    for segments in ([], [b""]):
        with pytest.raises(ValueError):
            write(Header(1, 1, "L", 0), segments)


# -- reader errors -------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\x89NN", b"\x89PNG\r\n\x1a\n", b"GIF89a" + b"\x00" * 20])
def test_bad_magic_is_syntax_error(data):
    with pytest.raises(SyntaxError):
        read_header(io.BytesIO(data))


def test_errors_are_oserrors():
    assert issubclass(NncError, OSError)
    assert not issubclass(NncError, SyntaxError)


def test_newer_version():
    with pytest.raises(UnsupportedFileError, match="version 3 is newer than this decoder"):
        read_header(io.BytesIO(raw(version=3)))


def test_version_zero():
    with pytest.raises(NncError, match="version 0"):
        read_header(io.BytesIO(raw(version=0)))


@pytest.mark.parametrize("bit", range(3, 8))
def test_reserved_flags(bit):
    with pytest.raises(UnsupportedFileError, match="reserved flag"):
        read_header(io.BytesIO(raw(flags=2 | 1 << bit)))


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        (b"\x9f\x00\x1f\x00\x00", "non-minimal"),
        (b"\x1f\x80\x00\x00\x00", "non-minimal"),
        (b"\x80\x80\x80\x01\x1f\x00\x00", "exceeds its 3-byte maximum"),
        (b"\xff\xff\x03\x1f\x00\x00", "width 65536 out of range"),
        (b"\x1f\xff\xff\x03\x00\x00", "height 65536 out of range"),
        (b"\x1f\x1f\x80\x80\x80\x01\x00", "model id exceeds"),
        (b"\x1f\x1f\x00\x41" + b"p" * 65, "codec parameter length 65"),
    ],
)
def test_bad_fields(fields, match):
    with pytest.raises(NncError, match=match):
        read_header(io.BytesIO(raw(fields=fields) + b"\x01x" + b"\x00" * 40))


def test_alpha_required_for_alpha_modes():
    with pytest.raises(NncError, match="needs an alpha chunk"):
        read_header(io.BytesIO(raw(flags=3)))
    with pytest.raises(NncError, match="needs an alpha chunk"):
        read_header(io.BytesIO(raw(flags=3 | 4, chunks=b"\x01\x01e")))


def test_alpha_forbidden_for_opaque_modes():
    with pytest.raises(NncError, match="forbids an alpha chunk"):
        read_header(io.BytesIO(raw(flags=2 | 4, chunks=b"\x81\x02\x00\xff")))


def test_unknown_critical_chunk():
    with pytest.raises(UnsupportedFileError, match="unknown critical chunk 0x85"):
        read_header(io.BytesIO(raw(flags=6, chunks=b"\x85\x01z")))


def test_unknown_ancillary_chunk_is_skipped():
    data = raw(flags=6, chunks=b"\x40\x03abc\x01\x02ex\x7f\x00")
    data += b"\x01s" + crc(data + b"\x01s")
    header, segments, truncated = parse(data)
    assert header.exif == b"ex"
    assert header.size == len(data) - 4
    assert [s.data for s in segments] == [b"s"] and not truncated


def test_duplicate_chunk():
    with pytest.raises(NncError, match=r"duplicate chunk 0x01 \(exif\)"):
        read_header(io.BytesIO(raw(flags=6, chunks=b"\x01\x01a\x01\x01b")))


def test_too_many_chunks():
    with pytest.raises(NncError, match="more than 64 chunks"):
        read_header(io.BytesIO(raw(flags=6, chunks=b"\x40\x00" * 65)))


def test_chunk_length_limit():
    too_long = container._varint(2**26 + 1)
    with pytest.raises(NncError, match="length 67108865 out of range"):
        read_header(io.BytesIO(raw(flags=6, fields=b"\x1f\x1f\x00\x00") + b"\x01" + too_long))


def test_lying_chunk_length_is_truncation_without_big_read():
    reads = []

    class Spy(io.BytesIO):
        def read(self, size=-1):
            reads.append(size)
            return super().read(size)

    data = raw(flags=6) + b"\x01" + container._varint(2**26) + b"tiny"
    with pytest.raises(TruncatedFileError, match="extension block"):
        read_header(Spy(data))
    assert max(reads) <= 1 << 20


def test_header_crc_mismatch():
    header = full_header()
    data = write(header, [b"seg"])
    for pos in (header.size - 1, 20):  # the stored CRC, a byte of EXIF
        bad = bytearray(data)
        bad[pos] ^= 0x01
        with pytest.raises(NncError, match="header CRC mismatch"):
            read_header(io.BytesIO(bytes(bad)))


def test_segment_crc_mismatch_names_segment():
    header = Header(8, 8, "L", 0)
    data = bytearray(write(header, [b"first", b"second"]))
    offset = header.size + 1 + 5 + 2 + 1
    data[offset + 2] ^= 0x10
    with pytest.raises(NncError, match=f"segment 1 at offset {offset}"):
        parse(bytes(data))
    # Where truncated files are allowed, the good segments before it are the image.
    with pytest.warns(UserWarning, match=f"segment 1 at offset {offset}.*1 good segment"):
        _, segments, truncated = parse(bytes(data), allow_truncated=True)
    assert [s.data for s in segments] == [b"first"] and truncated


def test_segment_crc_covers_header_without_extension():
    header = Header(8, 8, "L", 0, codec_params=b"\x00\x00")
    data = bytearray(write(header, [b"payload"]))
    data[header.size - 1] = 0x01  # a codec parameter; nothing else checks it
    with pytest.raises(NncError, match="segment 0"):
        parse(bytes(data))


@pytest.mark.parametrize("length", [b"\x00", b"\x80\x80\x80\x80\x02"])
def test_segment_length_out_of_range(length):
    data = raw() + length + b"\x00" * 10
    with pytest.raises(NncError, match="segment 0 length"):
        parse(data)


def test_truncated_inside_header():
    header = full_header()
    data = write(header, [b"seg"])
    for end in range(4, header.size):
        with pytest.raises(TruncatedFileError):
            read_header(io.BytesIO(data[:end]))


def test_truncated_inside_segment():
    header = Header(4, 4, "RGB", 0)
    data = write(header, [b"one", b"two"])
    for cut in (1, 2, 3, 5):  # inside the last segment's length, payload or CRC
        with pytest.raises(TruncatedFileError, match="segment 1"):
            parse(data[:-cut])
        _, segments, truncated = parse(data[:-cut], allow_truncated=True)
        assert truncated
        assert [s.data for s in segments] == [b"one"]


def test_prefix_at_segment_boundary_is_complete():
    header = Header(4, 4, "RGB", 0)
    data = write(header, [b"one", b"two", b"three"])
    boundary = header.size + 1 + 3 + 2
    _, segments, truncated = parse(data[:boundary])
    assert [s.data for s in segments] == [b"one"]
    assert not truncated


def test_zero_segments():
    header = Header(4, 4, "RGB", 0)
    data = container.encode_header(header)
    with pytest.raises(TruncatedFileError, match="before the first segment"):
        parse(data)
    assert parse(data, allow_truncated=True)[1:] == ([], True)


# -- robustness --------------------------------------------------------------


headers = st.builds(
    Header,
    width=st.integers(1, container.MAX_SIDE),
    height=st.integers(1, container.MAX_SIDE),
    mode=st.sampled_from(["L", "RGB"]),
    model_id=st.integers(0, container.MAX_MODEL_ID),
    codec_params=st.binary(max_size=8),
    exif=st.none() | st.binary(max_size=8),
    icc_profile=st.none() | st.binary(max_size=8),
    xmp=st.none() | st.binary(max_size=8),
    side_info=st.none() | st.binary(max_size=8),
)
mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
        st.integers(0, 10**6),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, pos, value in ops:
        pos %= len(buf) + 1
        if op == "insert":
            buf[pos:pos] = bytes([value])
        elif op == "truncate":
            del buf[pos:]
        elif pos < len(buf):
            if op == "flip":
                buf[pos] ^= 1 << value % 8
            elif op == "set":
                buf[pos] = value
            else:
                del buf[pos]
    return bytes(buf)


@pytest.mark.filterwarnings("ignore:.*good segment")  # a bad segment after good ones, allowed: the prefix
@settings(max_examples=300, deadline=None)
@given(
    headers,
    st.booleans(),
    st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=3),
    mutations,
    st.booleans(),
)
def test_mutated_files_raise_only_format_errors(header, alpha, segments, ops, allow_truncated):
    if alpha:
        header.mode += "A"
        header.alpha = b"\x00\x80"
    data = mutate(write(header, segments), ops)
    try:
        parsed = read_header(io.BytesIO(data))
        read_segments(data, parsed, allow_truncated=allow_truncated)
    except (NncError, SyntaxError):
        pass


def test_malformed_segment_length_after_good_segments_is_corrupt_or_the_prefix():
    """A non-minimal length varint (spec 2) is corrupt like a bad CRC: an
    error by default, the good segments before it when truncation is allowed."""
    header = Header(8, 8, "L", 0)
    data = bytearray(write(header, [b"first", b"second"]))
    at = header.size + 1 + 5 + 2  # the second segment's one-byte length
    assert data[at] == 6
    data[at : at + 1] = b"\x86\x00"  # 6 in two bytes: not minimal
    with pytest.raises(NncError, match="segment 1"):
        parse(bytes(data))
    with pytest.warns(UserWarning, match="segment 1.*1 good segment"):
        _, segments, truncated = parse(bytes(data), allow_truncated=True)
    assert [s.data for s in segments] == [b"first"] and truncated
