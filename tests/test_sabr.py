"""Spatially adaptive bit rates (SABR) of the recurrent codec and the
RATE_MAP chunk that carries them (spec section 7.2)."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from pillow_nnc import container, zoo
from pillow_nnc.codec import SABR_TOLERANCE
from pillow_nnc.engines.recurrent import block_loss, paint_flat
from pillow_nnc.entropy.flat_blocks import decode_flat, encode_flat
from pillow_nnc.entropy.rate_map import decode_map, encode_map
from pillow_nnc.errors import NncError

from conftest import nnc_decode, nnc_encode

pytestmark = pytest.mark.skipif("recurrent" not in zoo.families(), reason="no released recurrent model")


@pytest.fixture(scope="module")
def engine():
    return zoo.engine(zoo.default_model("recurrent"))


@pytest.fixture(scope="module")
def half_flat(sample_rgb) -> np.ndarray:
    """128x256: the left half one flat colour, the right half photo texture."""
    rgb = np.ascontiguousarray(sample_rgb[40:168, 60:316]).copy()
    rgb[:, :128] = (90, 120, 160)
    return rgb


def _map_of(data: bytes) -> np.ndarray:
    header = container.read_header(io.BytesIO(data))
    assert header.rate_map is not None
    return decode_map(header.rate_map, -(-header.height // 16), -(-header.width // 16), header.codec_params[0])


def test_flat_areas_are_painted_stop_early_and_save_bits(half_flat) -> None:
    im = Image.fromarray(half_flat)
    adaptive = nnc_encode(im, codec="recurrent", quality=90)
    uniform = nnc_encode(im, codec="recurrent", quality=90, sabr=False)
    counts = _map_of(adaptive)
    header = container.read_header(io.BytesIO(adaptive))
    painted, colours = decode_flat(header.flat_blocks, 8, 16)
    assert painted[:, :7].all() and not painted[:, 8:].any()  # the flat half, not the texture
    assert (colours[painted] == (90, 120, 160)).all()
    # Flat blocks inside the flat area code one iteration, those beside coded blocks two.
    assert (counts[1:-1, :6] == 1).all() and (counts[:, :7] <= 2).all() and counts[:, 8:].mean() > 4
    assert len(adaptive) < 0.6 * len(uniform)
    flat = np.asarray(nnc_decode(adaptive))[:, :112].astype(int)
    assert (flat == (90, 120, 160)).all()


def test_parsed_codes_equal_the_encoders_masked_codes(engine, half_flat) -> None:
    state = engine.analyse(half_flat)
    level = engine.level_of_iterations(6)
    for entropy in ("raw", "global", "local"):
        payload = engine.encode(state, level, entropy, SABR_TOLERANCE)
        n = payload.params[0]
        codes, counts = state.codes(6, SABR_TOLERANCE)
        assert len(codes) == n == counts.max()
        active = [(counts > t).ravel() for t in range(n)]
        parsed = engine._read_codes(payload.params, payload.segments, active, 8, 16)
        assert all(np.array_equal((a[0] > 0).reshape(b.shape).numpy(), b) for a, b in zip(parsed, codes))
        assert (counts < n).any()  # some blocks stopped: their codes are the likeliest ones, sent by neither side


def test_sabr_file_prefixes_decode(sample_rgb, engine) -> None:
    """256x256: one segment per iteration; every segment boundary decodes,
    to the image of the iterations it holds."""
    rgb = np.ascontiguousarray(sample_rgb[20:276, 100:356])
    rgb[:128] = 200  # flat top half: blocks stop at different iterations
    data = nnc_encode(Image.fromarray(rgb), codec="recurrent", quality=100)
    header = container.read_header(io.BytesIO(data))
    segments, _ = container.read_segments(data, header)
    assert header.rate_map is not None and len(segments) == header.codec_params[0] > 2
    for k in (1, 2):
        end = segments[k - 1].offset + len(segments[k - 1].data) + 2
        expected = engine.decode(
            header.codec_params, [s.data for s in segments[:k]], 256, 256, header.rate_map, header.flat_blocks
        )
        np.testing.assert_array_equal(np.asarray(nnc_decode(data[:end])), expected)


def test_uniform_files_have_no_rate_map(crop) -> None:
    data = nnc_encode(crop, codec="recurrent", quality=50, sabr=False)
    assert container.read_header(io.BytesIO(data)).rate_map is None


def test_sabr_option_is_validated(crop) -> None:
    with pytest.raises(ValueError, match="sabr must be True or False"):
        nnc_encode(crop, codec="recurrent", sabr="yes")


def test_flat_blocks_round_trip() -> None:
    rng = np.random.default_rng(0)
    mask = rng.random((5, 7)) < 0.5
    colours = rng.integers(0, 256, (5, 7, 3)).astype(np.uint8)
    got_mask, got_colours = decode_flat(encode_flat(mask, colours), 5, 7)
    np.testing.assert_array_equal(got_mask, mask)
    np.testing.assert_array_equal(got_colours[mask], colours[mask])
    assert not got_colours[~mask].any()


def test_a_flat_area_costs_almost_nothing() -> None:
    """One colour over 64x64 blocks (a 1024x1024 image): the repeated mask
    byte and colour difference deflate to under 0.15 bits per block."""
    data = encode_flat(np.ones((64, 64), bool), np.full((64, 64, 3), (12, 200, 77), np.uint8))
    assert len(data) * 8 < 0.15 * 64 * 64


_MASK = bytes([1, 0] * 17 + [1])  # 18 flat blocks of 35


@pytest.mark.parametrize(
    "data",
    [
        b"not zlib",
        zlib.compress(_MASK + bytes(3 * 18 - 1)),  # a colour byte short
        zlib.compress(_MASK + bytes(3 * 18 + 1)),  # a byte too many
        zlib.compress(_MASK + bytes(3 * 18)) + b"x",  # trailing bytes
        zlib.compress(bytes([2] + [0] * 34) + bytes(6)),  # a mask byte other than 0/1
        zlib.compress(bytes(35)),  # no flat block
        zlib.compress(bytes(1 << 24)),  # a deflate bomb
        zlib.compress(_MASK + bytes(3 * 18))[:-3],  # cut
    ],
)
def test_bad_flat_blocks_are_corrupt(data: bytes) -> None:
    with pytest.raises(NncError, match="flat blocks"):
        decode_flat(data, 5, 7)


def test_painting_interpolates_flat_colours_and_fades_into_coded_blocks() -> None:
    """Between flat block centres the colours blend linearly; a coded
    block's colour never enters a flat block, and its own pixels fade
    toward the flat colour from half at the shared edge to none at its centre."""
    picture = torch.full((1, 3, 16, 64), 0.25)
    flat = np.array([[True, True, False, False]])
    colours = np.array([[[0, 0, 0], [255, 255, 255], [9, 9, 9], [9, 9, 9]]], np.uint8)
    out = paint_flat(picture, flat, colours)[0, 0, 0]
    np.testing.assert_allclose(out[:8], 0, atol=1e-6)  # before the first centre: its colour
    np.testing.assert_allclose(out[8:24], (np.arange(8, 24) - 7.5) / 16, atol=1e-6)  # the ramp
    np.testing.assert_allclose(out[24:32], 1, atol=1e-6)  # beside the coded block: no blend with it
    weight = (40 - (np.arange(32, 40) + 0.5)) / 16  # the flat centre's bilinear weight
    np.testing.assert_allclose(out[32:40], 0.25 * (1 - weight) + weight, atol=1e-6)  # the fade
    np.testing.assert_allclose(out[40:], 0.25)  # from the coded block's centre on, the network's pixels


def test_painting_in_bands_is_painting_whole() -> None:
    rng = np.random.default_rng(1)
    picture = torch.rand(1, 3, 16 * 7, 16 * 5)
    flat, colours = rng.random((7, 5)) < 0.6, rng.integers(0, 256, (7, 5, 3)).astype(np.uint8)
    whole = paint_flat(picture, flat, colours, band=7)
    for band in (1, 2, 3):
        torch.testing.assert_close(paint_flat(picture, flat, colours, band=band), whole, rtol=0, atol=1e-6)
    assert not torch.equal(whole, picture)  # not in place unless asked
    assert paint_flat(picture, flat, colours, inplace=True) is picture and torch.equal(picture, whole)


def test_block_loss_paints_band_by_band_as_whole() -> None:
    """The encoder's loss paints each band of rows (with its SSIM margin)
    itself; the result is that of the painted image."""
    rng = np.random.default_rng(2)
    x, picture = torch.rand(1, 3, 16 * 20, 16 * 3), torch.rand(1, 3, 16 * 20, 16 * 3)
    flat, colours = rng.random((20, 3)) < 0.5, rng.integers(0, 256, (20, 3, 3)).astype(np.uint8)
    banded = block_loss(picture, x, flat, colours)
    np.testing.assert_allclose(banded, block_loss(paint_flat(picture, flat, colours), x), atol=1e-6)
    assert not np.allclose(banded, block_loss(picture, x))


def test_rate_map_round_trips() -> None:
    counts = np.random.default_rng(0).integers(1, 9, (5, 7))
    np.testing.assert_array_equal(decode_map(encode_map(counts), 5, 7, 8), counts)


@pytest.mark.parametrize(
    "data",
    [
        b"not zlib",
        zlib.compress(bytes([1] * 34)),  # a block short
        zlib.compress(bytes([1] * 36)),  # a block too many
        zlib.compress(bytes([1] * 35)) + b"x",  # trailing bytes
        zlib.compress(bytes([0] + [1] * 34)),  # a block with no iteration
        zlib.compress(bytes([9] + [1] * 34)),  # more than the file's iterations
        zlib.compress(bytes(1 << 24)),  # a deflate bomb: 16 MB from a few KB
        zlib.compress(bytes([1] * 35))[:-3],  # cut
    ],
)
def test_bad_rate_maps_are_corrupt(data: bytes) -> None:
    with pytest.raises(NncError, match="rate map"):
        decode_map(data, 5, 7, 8)


def test_a_file_with_a_bad_rate_map_fails_cleanly(half_flat) -> None:
    data = nnc_encode(Image.fromarray(half_flat), codec="recurrent", quality=90)
    header = container.read_header(io.BytesIO(data))
    segments, _ = container.read_segments(data, header)
    header.rate_map = encode_map(np.full((8, 16), header.codec_params[0] + 1))
    with pytest.raises(NncError, match="rate map"):
        nnc_decode(container.write(header, [s.data for s in segments]))


def test_ratemap_command_draws_the_map_over_the_image(half_flat, tmp_path, capsys) -> None:
    from pillow_nnc import cli

    src = tmp_path / "half.nnc"
    src.write_bytes(nnc_encode(Image.fromarray(half_flat), codec="recurrent", quality=90))
    assert cli.main(["ratemap", str(src), str(tmp_path / "map.png")]) == 0
    with Image.open(tmp_path / "map.png") as picture:
        assert picture.size == (256, 128 + 18)  # the image, then the legend strip
        pixels = np.asarray(picture.convert("RGB")).astype(int)
    # Flat blocks (painted) are tinted green, texture (many iterations) red.
    assert pixels[8:100, 8:100, 1].mean() > pixels[8:100, 8:100, [0, 2]].mean() + 20
    assert pixels[8:100, 160:250, 0].mean() > pixels[8:100, 160:250, 2].mean()
    uniform = tmp_path / "uniform.nnc"
    uniform.write_bytes(nnc_encode(Image.fromarray(half_flat), codec="recurrent", sabr=False))
    assert cli.main(["ratemap", str(uniform), str(tmp_path / "none.png")]) == 1
    assert "no rate map" in capsys.readouterr().err and not (tmp_path / "none.png").exists()
    # A map beside empty codec parameters is a corrupt file, reported as one.
    header = container.read_header(io.BytesIO(src.read_bytes()))
    segments, _ = container.read_segments(src.read_bytes(), header)
    header.codec_params = b""
    (tmp_path / "bad.nnc").write_bytes(container.write(header, [s.data for s in segments]))
    assert cli.main(["ratemap", str(tmp_path / "bad.nnc"), str(tmp_path / "bad.png")]) == 1
    assert "nnc:" in capsys.readouterr().err and not (tmp_path / "bad.png").exists()


def test_max_bytes_fills_the_budget_between_iterations(sample_rgb) -> None:
    """A budget between the files of two iteration counts gets a file of the
    higher count with more blocks stopped early, larger than the lower one."""
    im = Image.fromarray(np.ascontiguousarray(sample_rgb[40:168, 60:316]))
    low, high = 10, 20  # below the recurrent model's ceiling (JPEG quality 24)
    sizes = {q: len(nnc_encode(im, codec="recurrent", quality=q)) for q in (low, high)}
    n = {q: container.read_header(io.BytesIO(nnc_encode(im, codec="recurrent", quality=q))).codec_params[0] for q in sizes}
    assert n[low] < n[high]
    for budget in np.linspace(sizes[low], sizes[high], 5).astype(int)[1:-1]:
        data = nnc_encode(im, codec="recurrent", max_bytes=int(budget))
        assert len(data) <= budget
        nnc_decode(data)
    lowest_fit = nnc_encode(im, codec="recurrent", max_bytes=int(budget), sabr=False)
    assert len(data) >= len(lowest_fit)


@pytest.mark.parametrize("codec_name", ["transform", "recurrent", None])
@pytest.mark.parametrize("side", [32, 160, 256])
def test_one_kilobyte_previews_fit(sample_rgb, codec_name, side) -> None:
    """1 KB per preview: the default codec falls back to the recurrent codec
    when the transform codec's coarsest file is too large (256x256)."""
    im = Image.fromarray(np.ascontiguousarray(sample_rgb[:side, :side]))
    if codec_name == "transform" and side == 256:
        with pytest.raises(ValueError, match="max_bytes=1024 is too small"):
            nnc_encode(im, codec=codec_name, max_bytes=1024)
        return
    data = nnc_encode(im, max_bytes=1024, **({"codec": codec_name} if codec_name else {}))
    assert len(data) <= 1024
    assert nnc_decode(data).size == (side, side)
