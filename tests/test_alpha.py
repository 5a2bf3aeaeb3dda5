from __future__ import annotations

import tracemalloc
import zlib

import numpy as np
import pytest

from pillow_nnc.alpha import decode_alpha, encode_alpha
from pillow_nnc.errors import NncError

rng = np.random.default_rng(0)


def round_trip(plane: np.ndarray) -> bytes:
    data = encode_alpha(plane)
    height, width = plane.shape
    out = decode_alpha(data, width, height)
    assert out.dtype == np.uint8 and out.shape == plane.shape
    np.testing.assert_array_equal(out, plane)
    return data


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (3, 5), (31, 17), (64, 64)])
def test_random_planes(shape):
    round_trip(rng.integers(0, 256, shape, dtype=np.uint8))


@pytest.mark.parametrize("value", [0, 1, 128, 255])
@pytest.mark.parametrize("shape", [(1, 1), (9, 4), (480, 640)])
def test_constant_plane_is_two_bytes(value, shape):
    data = round_trip(np.full(shape, value, np.uint8))
    assert data == bytes([0, value])


def test_gradients_compress_well():
    horizontal = np.tile(np.arange(256, dtype=np.uint8), (200, 1))
    vertical = horizontal.T.copy()
    diagonal = (np.add.outer(np.arange(99), np.arange(101)) % 256).astype(np.uint8)
    for plane in (horizontal, vertical, diagonal):
        assert len(round_trip(plane)) < plane.size // 50


def test_hard_edges_and_wraparound():
    plane = np.zeros((33, 65), np.uint8)
    plane[5:20, 10:50] = 255
    plane[::2, ::3] = 1
    round_trip(plane)


def test_non_contiguous_input():
    plane = rng.integers(0, 256, (20, 30), dtype=np.uint8)[::2, ::-1]
    round_trip(plane)


@pytest.mark.parametrize(
    "plane", [np.zeros((4, 4), np.uint16), np.zeros((4, 4, 1), np.uint8), np.zeros((0, 4), np.uint8)]
)
def test_encode_rejects_bad_planes(plane):
    with pytest.raises(ValueError):
        encode_alpha(plane)


def test_bomb_is_refused_without_inflating():
    deflate = zlib.compressobj(9)
    stream = b"".join(deflate.compress(bytes(1 << 20)) for _ in range(100)) + deflate.flush()
    bomb = b"\x01" + stream  # 100 MiB of zeros in ~100 KB
    tracemalloc.start()
    try:
        with pytest.raises(NncError, match="exactly 16x16"):
            decode_alpha(bomb, 16, 16)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def _deflated(raw: bytes) -> bytes:
    return b"\x01" + zlib.compress(raw)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",  # constant without a value
        b"\x00\x01\x02",  # constant with trailing bytes
        b"\x02" + zlib.compress(bytes(12)),  # unknown method
        b"\x01",  # empty stream
        b"\x01not zlib at all",
        _deflated(bytes(11)),  # too few pixels
        _deflated(bytes(13)),  # too many pixels
        _deflated(bytes(12))[:-3],  # stream cut short
        _deflated(bytes(12)) + b"junk",  # trailing garbage
    ],
)
def test_corrupt_data(data):
    with pytest.raises(NncError):
        decode_alpha(data, 4, 3)


def test_flipped_bits_never_escape_as_other_errors():
    good = encode_alpha(rng.integers(0, 4, (16, 16), dtype=np.uint8))
    for pos in range(len(good)):
        for bit in range(8):
            bad = bytearray(good)
            bad[pos] ^= 1 << bit
            try:
                out = decode_alpha(bytes(bad), 16, 16)
            except NncError:
                continue
            assert out.shape == (16, 16)
