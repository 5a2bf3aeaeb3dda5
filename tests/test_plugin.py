"""The Pillow plugin: registration, modes, laziness, options, metadata,
truncation, and the ImageFile API surface (thumbnail, draft, reduce, seek...).

Quality assertions are relations (monotonicity, "closer than a flat grey
image"), never numbers of the current model, so better weights keep passing.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile, UnidentifiedImageError

import pillow_nnc
from pillow_nnc import container
from pillow_nnc.errors import NncError, TruncatedFileError
from pillow_nnc.metrics import ms_ssim_rgb, psnr

QUALITIES = [5, 25, 50, 75, 95]


class CountingBytesIO(io.BytesIO):
    """BytesIO that counts the bytes handed out by read()/readinto()."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        out = super().read(size)
        self.bytes_read += len(out)
        return out

    def read1(self, size: int = -1) -> bytes:
        out = super().read1(size)
        self.bytes_read += len(out)
        return out

    def readinto(self, b) -> int:
        n = super().readinto(b)
        self.bytes_read += n
        return n


def arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im).copy()


def grey_like(a: np.ndarray) -> np.ndarray:
    return np.full_like(a, 128)


def segment_ends(data: bytes) -> tuple[container.Header, list[int]]:
    """Header and the file offsets right after each segment's CRC."""
    header = container.read_header(io.BytesIO(data))
    segments, truncated = container.read_segments(data, header)
    assert not truncated
    return header, [s.offset + len(s.data) + 2 for s in segments]


# -- registration --------------------------------------------------------------


def test_import_registers_with_pillow():
    assert Image.registered_extensions()[".nnc"] == "NNC"
    assert Image.MIME["NNC"] == "image/x-nnc"
    assert "NNC" in Image.OPEN
    assert "NNC" in Image.SAVE
    assert "NNC" in Image.SAVE_ALL


def test_register_is_idempotent():
    from imageio.config import known_extensions

    pillow_nnc.register()
    pillow_nnc.register()
    assert Image.ID.count("NNC") == 1
    assert sum(entry.name == "NNC" for entry in known_extensions[".nnc"]) == 1
    assert Image.registered_extensions()[".nnc"] == "NNC"


def test_save_by_extension(tmp_path, crop):
    path = tmp_path / "x.nnc"
    crop.save(path)
    assert path.read_bytes()[:4] == b"\x89NNC"
    with Image.open(path) as im:
        assert im.format == "NNC"
        assert im.get_format_mimetype() == "image/x-nnc"
        im.load()
        assert im.size == crop.size


# -- modes and sizes -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_round_trip_modes_and_sizes(mode, sized, alpha_plane, encode, decode):
    """Every mode at 1x1, 33x17, 32x32 and 64x48: same size and mode back,
    alpha bit-exact."""
    w, h = sized.size
    im = sized.convert(mode)
    if mode.endswith("A"):
        im.putalpha(Image.fromarray(np.ascontiguousarray(alpha_plane[:h, :w])))
    out = decode(encode(im))
    assert out.format == "NNC"
    assert (out.size, out.mode) == (im.size, mode)
    got = arr(out)
    assert got.dtype == np.uint8
    assert got.shape == arr(im).shape
    if mode.endswith("A"):
        np.testing.assert_array_equal(got[..., -1], alpha_plane[:h, :w])


def test_rgb_is_lossy_but_reasonable(crop, encode, decode, mse_fn):
    orig = arr(crop)
    out = arr(decode(encode(crop)))
    assert mse_fn(out, orig) < mse_fn(grey_like(orig), orig)


def test_l_round_trip(crop, encode, decode, mse_fn):
    grey = crop.convert("L")
    out = decode(encode(grey))
    assert out.mode == "L" and out.size == crop.size
    assert arr(out).shape == (crop.height, crop.width)
    assert mse_fn(arr(out), arr(grey)) < mse_fn(grey_like(arr(grey)), arr(grey))


def test_la_round_trip(crop, alpha_plane, encode, decode, mse_fn):
    la = np.dstack([arr(crop.convert("L")), alpha_plane])
    out = decode(encode(Image.fromarray(la, "LA")))
    assert out.mode == "LA" and out.size == crop.size
    np.testing.assert_array_equal(arr(out)[..., 1], alpha_plane)
    assert mse_fn(arr(out)[..., 0], la[..., 0]) < mse_fn(grey_like(la[..., 0]), la[..., 0])


def test_rgba_round_trip(crop, alpha_plane, encode, decode, mse_fn):
    rgba = np.dstack([arr(crop), alpha_plane])
    out = decode(encode(Image.fromarray(rgba, "RGBA")))
    assert out.mode == "RGBA" and out.size == crop.size
    np.testing.assert_array_equal(arr(out)[..., 3], alpha_plane)
    assert mse_fn(arr(out)[..., :3], arr(crop)) < mse_fn(grey_like(arr(crop)), arr(crop))


def test_constant_alpha_is_kept(crop, encode, decode):
    for value in (0, 255):
        rgba = crop.convert("RGBA")
        rgba.putalpha(value)
        out = decode(encode(rgba))
        assert out.mode == "RGBA"
        assert (arr(out)[..., 3] == value).all()


def test_p_without_transparency_saves_as_rgb(crop, encode, decode, mse_fn):
    p = crop.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    assert not p.has_transparency_data
    out = decode(encode(p))
    assert out.mode == "RGB" and out.size == crop.size
    ref = arr(p.convert("RGB"))
    assert mse_fn(arr(out), ref) < mse_fn(grey_like(ref), ref)


def test_p_with_transparency_saves_as_rgba(crop, encode, decode):
    p = crop.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    p.info["transparency"] = int(arr(p)[0, 0])
    assert p.has_transparency_data
    out = decode(encode(p))
    assert out.mode == "RGBA" and out.size == crop.size
    expected_alpha = arr(p.convert("RGBA"))[..., 3]
    assert (expected_alpha == 0).any() and (expected_alpha == 255).any()
    np.testing.assert_array_equal(arr(out)[..., 3], expected_alpha)


def test_mode_1_saves_as_l(crop, encode, decode):
    bilevel = crop.convert("1")
    out = decode(encode(bilevel))
    assert out.mode == "L" and out.size == crop.size


def test_mode_1_with_transparency_keeps_it_as_alpha(crop, encode, decode):
    bilevel = crop.convert("1")
    bilevel.info["transparency"] = 0
    out = decode(encode(bilevel))
    assert out.mode == "LA"
    np.testing.assert_array_equal(arr(out)[..., 1], np.where(arr(bilevel) > 0, 255, 0))  # alpha is lossless


def test_cmyk_saves_as_rgb(crop, encode, decode, mse_fn):
    cmyk = crop.convert("CMYK")
    out = decode(encode(cmyk))
    assert out.mode == "RGB" and out.size == crop.size
    ref = arr(cmyk.convert("RGB"))
    assert mse_fn(arr(out), ref) < mse_fn(grey_like(ref), ref)


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_high_bit_depth_modes_are_refused(mode, crop, encode):
    im = crop.convert("L").convert(mode)
    assert im.mode == mode
    with pytest.raises(OSError, match=rf"(?i)mode {mode}\b.*convert") as info:
        encode(im)
    message = str(info.value)
    assert "NNC" in message and "RGB" in message


# -- laziness and the decompression-bomb check ---------------------------------


def test_open_reads_only_the_header(sample, sample_nnc):
    header = container.read_header(io.BytesIO(sample_nnc))
    fp = CountingBytesIO(sample_nnc)
    im = Image.open(fp)
    # size, mode and info are there before any pixel data is read
    assert im.format == "NNC"
    assert im.size == sample.size
    assert im.mode == "RGB"
    assert im.info["icc_profile"] == sample.info["icc_profile"]
    margin = 64  # Pillow's 16-byte format sniff and a little slack
    assert fp.bytes_read <= header.size + margin
    assert fp.bytes_read * 2 < len(sample_nnc)
    im.load()
    assert fp.bytes_read >= len(sample_nnc) - header.size  # the payload is read now


def test_open_does_not_decode(monkeypatch, crop_nnc):
    from pillow_nnc import codec

    def fail(*args, **kwargs):
        raise AssertionError("pixels decoded by Image.open")

    monkeypatch.setattr(codec, "decode", fail)
    im = Image.open(io.BytesIO(crop_nnc))
    assert im.size == (64, 48) and im.mode == "RGB"


def test_decompression_bomb_check_runs_in_open(monkeypatch, crop_nnc):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 48 // 4)
    fp = CountingBytesIO(crop_nnc)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(fp)
    assert fp.bytes_read < len(crop_nnc)


def test_decompression_bomb_warning_threshold(monkeypatch, crop_nnc):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 48 - 1)
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(io.BytesIO(crop_nnc))


def test_bomb_check_uses_declared_size(monkeypatch, crop_nnc):
    # header only, no pixel data at all: the declared size alone must trip the check
    header = container.read_header(io.BytesIO(crop_nnc))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(crop_nnc[: header.size]))


# -- save options ------------------------------------------------------------------


def test_default_quality_is_75(crop, crop_nnc, encode):
    assert encode(crop, quality=75) == crop_nnc
    assert encode(crop, quality=None) == crop_nnc


def test_encoding_is_deterministic(crop, crop_nnc, encode):
    assert encode(crop) == crop_nnc


@pytest.mark.parametrize("quality", [1, 100, np.int64(50)])
def test_quality_range_accepted(quality, crop, encode, decode):
    assert decode(encode(crop, quality=quality)).size == crop.size


@pytest.mark.parametrize("quality", [0, 101, -1, 1000, 50.0, 75.5, True, False, "75", b"75", [75]])
def test_bad_quality_raises_value_error(quality, crop, encode):
    with pytest.raises(ValueError) as info:
        encode(crop, quality=quality)
    message = str(info.value)
    assert "quality" in message
    assert "1" in message and "100" in message


@pytest.mark.parametrize("max_bytes", [0, -1, 1.5, 1000.0, "1000", True])
def test_bad_max_bytes_raises_value_error(max_bytes, crop, encode):
    with pytest.raises(ValueError, match="max_bytes"):
        encode(crop, max_bytes=max_bytes)


def test_unknown_options_are_ignored(crop, crop_nnc, encode):
    assert encode(crop, optimize=True, progressive=True, lossless=False, alpha_quality=100, foo="bar") == crop_nnc


@pytest.mark.parametrize("option, value, advice", [
    ("lossless", True, "PNG"), ("lossless", 1, "PNG"), ("method", 6, "speed"), ("speed", 0, "speed"),
    ("subsampling", "4:4:4", "subsampling"), ("alpha_quality", 50, "alpha losslessly"),
    ("exact", True, "transparent"), ("max_threads", 4, "set_threads"), ("tile_rows", 2, "tiles"),
])
def test_options_nnc_cannot_honour_are_refused(option, value, advice, crop, encode):
    """Options of Pillow's WebP/AVIF/JPEG writers that would change the
    result if honoured raise instead of being silently ignored."""
    with pytest.raises(ValueError, match=option) as info:
        encode(crop, **{option: value})
    assert advice in str(info.value)


@pytest.fixture(scope="module")
def quality_ladder(crop):
    """(quality, file bytes, decoded RGB) for each of QUALITIES, on the crop."""
    out = []
    for q in QUALITIES:
        buf = io.BytesIO()
        crop.save(buf, format="NNC", quality=q)
        data = buf.getvalue()
        decoded = Image.open(io.BytesIO(data))
        out.append((q, len(data), np.asarray(decoded.convert("RGB")).copy()))
    return out


def test_file_size_is_monotonic_in_quality(quality_ladder):
    sizes = [size for _, size, _ in quality_ladder]
    assert sizes == sorted(sizes), f"file size not non-decreasing in quality: {dict(zip(QUALITIES, sizes))}"
    assert sizes[-1] > sizes[0], f"quality {QUALITIES[-1]} gives no bigger file than {QUALITIES[0]}: {sizes}"


def test_image_quality_is_monotonic_in_quality(crop, quality_ladder):
    orig = arr(crop)
    scores = [ms_ssim_rgb(orig, dec) for _, _, dec in quality_ladder]
    psnrs = [psnr(orig, dec) for _, _, dec in quality_ladder]
    for lo, hi in zip(scores, scores[1:]):
        assert hi >= lo - 0.005, f"MS-SSIM drops as quality rises: {dict(zip(QUALITIES, scores))}"
    for lo, hi in zip(psnrs, psnrs[1:]):
        assert hi >= lo - 0.1, f"PSNR drops as quality rises: {dict(zip(QUALITIES, psnrs))}"
    assert scores[-1] > scores[0], f"q{QUALITIES[-1]} not better than q{QUALITIES[0]} (MS-SSIM {scores})"
    assert psnrs[-1] > psnrs[0], f"q{QUALITIES[-1]} not better than q{QUALITIES[0]} (PSNR {psnrs})"


# -- max_bytes ------------------------------------------------------------------


@pytest.fixture(scope="module")
def size_range(crop):
    """Smallest and largest file sizes quality can give for the crop."""
    sizes = []
    for q in (1, 100):
        buf = io.BytesIO()
        crop.save(buf, format="NNC", quality=q)
        sizes.append(buf.tell())
    return sizes[0], sizes[1]


def test_max_bytes_fits_and_is_monotonic(crop, size_range, encode, decode):
    smallest, largest = size_range
    budgets = sorted({smallest, (smallest + largest) // 2, largest, largest * 4})
    sizes = []
    for budget in budgets:
        data = encode(crop, max_bytes=budget)
        assert len(data) <= budget
        out = decode(data)
        assert out.size == crop.size and out.mode == "RGB"
        sizes.append(len(data))
    assert sizes == sorted(sizes), f"a larger budget gave a smaller file: {dict(zip(budgets, sizes))}"
    # a generous budget is no worse than the best quality setting
    assert sizes[-1] >= largest


def test_max_bytes_below_minimum_is_refused(crop, encode):
    # no file can be this small: magic, version, flags and 4 header fields are 10 bytes
    with pytest.raises(ValueError, match=r"(?i)max_bytes.*too small") as info:
        encode(crop, max_bytes=10)
    assert "10" in str(info.value)


def test_max_bytes_on_multi_segment_image_cuts_a_valid_prefix(sample, encode, decode):
    """A budget between "header + first segment" and the whole file at the
    lowest quality gives a shorter, valid progressive prefix."""
    lowest = encode(sample, quality=1)
    _, ends = segment_ends(lowest)
    assert len(ends) >= 2, "the sample (above SINGLE_SEGMENT_PIXELS) must be coded in several segments"
    budget = ends[0] + 1
    data = encode(sample, max_bytes=budget)
    assert len(data) <= budget
    out = decode(data)
    assert out.size == sample.size and out.mode == "RGB"


# -- metadata ------------------------------------------------------------------------


def test_exif_round_trip_and_no_rotation(crop, encode, decode):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    exif[0x010F] = "pillow-nnc test"  # Make
    out = decode(encode(crop, exif=exif))
    assert out.info["exif"].startswith(b"Exif\x00\x00")
    assert out.info["exif"][6:8] in (b"II", b"MM")
    read = out.getexif()
    assert read[0x0112] == 6
    assert read[0x010F] == "pillow-nnc test"
    # EXIF is not applied to the pixels on read
    assert out.size == crop.size
    assert arr(out).shape == (crop.height, crop.width, 3)


def test_exif_bytes_with_and_without_prefix(crop, encode, open_nnc):
    exif = Image.Exif()
    exif[0x0112] = 3
    with_prefix = exif.tobytes()
    assert with_prefix.startswith(b"Exif\x00\x00")
    for given in (with_prefix, with_prefix[6:]):
        im = open_nnc(encode(crop, exif=given))
        assert im.info["exif"] == with_prefix
        assert im.getexif()[0x0112] == 3


@pytest.mark.parametrize("exif", [b"hello", "hello", b"Exif\x00\x00not tiff"])
def test_exif_that_is_not_tiff_is_refused(crop, encode, exif):
    with pytest.raises(ValueError, match="TIFF"):
        encode(crop, exif=exif)


def test_icc_and_xmp_round_trip(crop, sample, encode, decode):
    icc = sample.info["icc_profile"]
    xmp = b'<?xpacket begin=""?><x:xmpmeta xmlns:x="adobe:ns:meta/">\xc3\xa9</x:xmpmeta>'
    out = decode(encode(crop, icc_profile=icc, xmp=xmp))
    assert out.info["icc_profile"] == icc
    assert out.info["xmp"] == xmp
    assert "exif" not in out.info


def test_metadata_available_before_load(crop, encode, open_nnc):
    exif = Image.Exif()
    exif[0x0112] = 8
    im = open_nnc(encode(crop, exif=exif, icc_profile=b"icc-bytes", xmp=b"<xmp/>"))
    assert im.info["icc_profile"] == b"icc-bytes"
    assert im.info["xmp"] == b"<xmp/>"
    assert im.getexif()[0x0112] == 8


def test_icc_and_exif_from_info_are_kept_by_default_xmp_is_not(crop, sample, encode, open_nnc):
    im = crop.copy()
    im.info["icc_profile"] = sample.info["icc_profile"]
    exif = Image.Exif()
    exif[0x0112] = 6
    im.info["exif"] = exif.tobytes()
    im.info["xmp"] = b"<x:xmpmeta>private</x:xmpmeta>"
    out = open_nnc(encode(im))
    assert out.info.get("icc_profile") == sample.info["icc_profile"]
    assert out.info["exif"] == exif.tobytes()
    assert "xmp" not in out.info


def test_exif_of_a_jpeg_is_carried_over_and_pixels_are_not_rotated(crop, encode, decode):
    """Like pillow-avif-plugin, pillow-heif and pillow-jxl-plugin (Pillow's
    own JPEG/WebP/AVIF writers store EXIF only when given exif=): the tag is
    kept, the pixels stay as stored, and exif=b"" drops it."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "pillow-nnc test"
    jpeg = io.BytesIO()
    crop.save(jpeg, format="JPEG", exif=exif)
    with Image.open(jpeg) as src:
        out = decode(encode(src))
        dropped = decode(encode(src, exif=b""))
    assert out.getexif()[0x0112] == 6 and out.getexif()[0x010F] == "pillow-nnc test"
    assert out.size == crop.size
    assert "exif" not in dropped.info and not dropped.getexif()


def test_getexif_alone_is_not_carried_over(sample, encode, open_nnc):
    """pillow-heif and pillow-jxl-plugin fall back to getexif(), which makes
    EXIF up from XMP (the sample has no EXIF, yet reports Orientation 1):
    .nnc carries only EXIF the source had."""
    assert "exif" not in sample.info and sample.getexif().get(0x0112) == 1
    assert "exif" not in open_nnc(encode(sample.crop((0, 0, 16, 16)))).info


def test_source_exif_that_is_not_tiff_is_dropped_with_a_warning(crop, encode, open_nnc):
    """Malformed EXIF from a source file must not fail a save that did not
    ask for it (an explicit exif= of the same bytes is still refused)."""
    im = crop.copy()
    im.info["exif"] = b"Exif\x00\x00not tiff"
    with pytest.warns(UserWarning, match="not carrying over"):
        data = encode(im)
    assert "exif" not in open_nnc(data).info


def file_with_exif_chunk(crop, chunk: bytes) -> bytes:
    """A file whose EXIF chunk holds ``chunk`` as is (save() would refuse or
    strip it): what another writer might produce."""
    from pillow_nnc import codec

    return codec.encode(np.asarray(crop), "RGB", codec.EncodeOptions(exif=chunk))


def test_exif_chunk_with_a_jpeg_prefix_is_read_without_doubling_it(crop, open_nnc):
    exif = Image.Exif()
    exif[0x0112] = 6
    im = open_nnc(file_with_exif_chunk(crop, exif.tobytes()))  # chunk starts Exif\0\0
    assert im.info["exif"] == exif.tobytes()
    assert im.getexif()[0x0112] == 6


@pytest.mark.parametrize("chunk", [b"garbage, not TIFF", b"II*\0"])
def test_exif_chunk_that_cannot_be_parsed_gives_an_empty_getexif_and_a_warning(crop, open_nnc, chunk):
    """getexif() used to raise SyntaxError (not TIFF) or struct.error (cut
    short) on it; info["exif"] keeps the chunk verbatim (spec 6.1) and the
    pixels are fine."""
    im = open_nnc(file_with_exif_chunk(crop, chunk))
    assert im.info["exif"] == b"Exif\x00\x00" + chunk
    with pytest.warns(UserWarning, match="EXIF"):
        assert not im.getexif()
    assert im.convert("RGB").size == crop.size


def fake_icc(colour_space: bytes) -> bytes:
    """A 128-byte ICC header (enough for the colour-space field at 16..20)."""
    head = bytearray(128)
    head[0:4] = (128).to_bytes(4, "big")
    head[12:16] = b"prtr"
    head[16:20] = colour_space
    head[20:24] = b"Lab "
    head[36:40] = b"acsp"
    return bytes(head)


def test_converted_cmyk_does_not_keep_a_cmyk_profile(crop, encode, open_nnc):
    """The plugin converts CMYK pixels to RGB on save; the CMYK profile that
    came with them no longer describes the stored pixels (spec 6.1: "pixels
    are the values the profile describes"), so it must not be written."""
    cmyk = crop.convert("CMYK")
    cmyk.info["icc_profile"] = fake_icc(b"CMYK")
    out = open_nnc(encode(cmyk))
    assert out.mode == "RGB"
    icc = out.info.get("icc_profile")
    assert icc is None or icc[16:20] == b"RGB ", "RGB pixels tagged with a CMYK ICC profile"


def test_sample_info_is_carried_as_documented(sample, sample_nnc, open_nnc):
    # the sample PNG has an ICC profile and XMP in its info; only ICC is kept
    assert "xmp" in sample.info
    out = open_nnc(sample_nnc)
    assert out.info["icc_profile"] == sample.info["icc_profile"]
    assert "xmp" not in out.info


def test_no_metadata_by_default(crop_nnc, open_nnc):
    info = open_nnc(crop_nnc).info
    assert not {"exif", "icc_profile", "xmp"} & set(info)


# -- truncation ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_decoded(sample_nnc) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(sample_nnc))).copy()


@pytest.fixture(scope="module")
def sample_ends(sample_nnc):
    header, ends = segment_ends(sample_nnc)
    assert len(ends) >= 2, "the sample (above SINGLE_SEGMENT_PIXELS) must be coded in several segments"
    return header, ends


def test_file_cut_inside_a_segment_fails_to_load(sample_nnc, sample_ends, open_nnc, crop_nnc):
    _, ends = sample_ends
    cut = (ends[0] + ends[1]) // 2
    im = open_nnc(sample_nnc[:cut])  # the header is complete: open works
    with pytest.raises(OSError, match="(?i)ends inside|truncat") as info:
        im.load()
    assert isinstance(info.value, TruncatedFileError)
    # the single-segment crop cut in its payload, too
    with pytest.raises(OSError):
        open_nnc(crop_nnc[: len(crop_nnc) - 3]).load()


def test_load_truncated_images_decodes_complete_segments(
    monkeypatch, sample, sample_nnc, sample_ends, sample_decoded, open_nnc, mse_fn
):
    _, ends = sample_ends
    cut = (ends[0] + ends[1]) // 2
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    out = open_nnc(sample_nnc[:cut])
    out.load()
    assert out.size == sample.size and out.mode == "RGB"
    got = arr(out)
    # the partial segment is ignored: same pixels as the prefix ending at segment 0
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)
    prefix = arr(open_nnc(sample_nnc[: ends[0]]))
    np.testing.assert_array_equal(got, prefix)


def test_file_cut_at_a_segment_boundary_decodes_without_the_flag(
    sample, sample_rgb, sample_nnc, sample_ends, sample_decoded, open_nnc
):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    _, ends = sample_ends
    prefix = open_nnc(sample_nnc[: ends[0]])
    prefix.load()
    assert prefix.size == sample.size and prefix.mode == "RGB"
    # The model is trained for MS-SSIM, so that is the quality a prefix must not beat.
    full_score = ms_ssim_rgb(sample_decoded, sample_rgb)
    prefix_score = ms_ssim_rgb(arr(prefix), sample_rgb)
    assert prefix_score <= full_score + 1e-3, "a progressive prefix decodes better than the whole file"


def test_no_complete_segment(monkeypatch, crop_nnc, open_nnc):
    header = container.read_header(io.BytesIO(crop_nnc))
    for cut in (header.size, header.size + 1):
        im = open_nnc(crop_nnc[:cut])
        with pytest.raises(TruncatedFileError):
            im.load()
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    im = open_nnc(crop_nnc[: header.size + 1])
    im.load()
    assert im.size == (64, 48) and im.mode == "RGB"
    assert not arr(im).any(), "spec 4.4: no complete segment decodes to an all-zero image"


def test_file_cut_inside_the_header_fails_in_open(monkeypatch, sample_nnc, open_nnc):
    header = container.read_header(io.BytesIO(sample_nnc))
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # does not help here
    for cut in (5, 8, header.size // 2, header.size - 1):
        with pytest.raises(TruncatedFileError):
            open_nnc(sample_nnc[:cut])


# -- Pillow API surface ------------------------------------------------------------


def test_thumbnail(crop_nnc, open_nnc):
    im = open_nnc(crop_nnc)
    im.thumbnail((16, 16))
    assert im.size == (16, 12)
    assert im.mode == "RGB"


def test_draft_does_not_break_loading(crop_nnc, open_nnc):
    im = open_nnc(crop_nnc)
    result = im.draft("RGB", (16, 16))
    assert result is None or isinstance(result, tuple)
    im.load()
    assert im.mode == "RGB"
    if result is None:
        assert im.size == (64, 48)
    assert np.asarray(im).shape == (im.height, im.width, 3)


@pytest.mark.parametrize(("fixture", "expected"), [("crop", (32, 24)), ("odd33x17", (17, 9))])
def test_reduce(fixture, expected, request, encode, open_nnc):
    source = request.getfixturevalue(fixture)
    reduced = open_nnc(encode(source)).reduce(2)
    assert reduced.size == expected


def test_single_frame(crop_nnc, open_nnc):
    im = open_nnc(crop_nnc)
    assert im.n_frames == 1
    assert im.is_animated is False
    assert im.tell() == 0
    im.seek(0)
    with pytest.raises(EOFError):
        im.seek(1)
    im.load()
    assert im.size == (64, 48)


def test_save_all_single_frame(crop, crop_nnc, encode):
    assert encode(crop, save_all=True) == crop_nnc


def test_save_all_two_frames_is_refused(tmp_path, crop, encode):
    with pytest.raises(ValueError, match="(?i)frame"):
        encode(crop, save_all=True, append_images=[crop])
    path = tmp_path / "two.nnc"
    with pytest.raises(ValueError):
        crop.save(path, save_all=True, append_images=[crop])
    assert not path.exists(), "a failed save left a file behind"


def test_verify_on_a_good_file(crop_nnc, open_nnc):
    im = open_nnc(crop_nnc)
    assert im.verify() is None
    # verify() leaves the object unusable by design; a fresh open still decodes
    assert open_nnc(crop_nnc).convert("RGB").size == (64, 48)


@pytest.mark.parametrize("how", ["verify", "close", "with"])
def test_load_after_the_file_was_released_raises_value_error(tmp_path, crop_nnc, how):
    """verify(), close() and leaving a with block release the file. Pillow's
    PNG then raises ValueError("Operation on closed image") after close()
    and AssertionError after verify(); .nnc raises the ValueError for all
    three (it used to be AttributeError: 'NoneType' object has no attribute 'seek')."""
    path = tmp_path / "x.nnc"
    path.write_bytes(crop_nnc)
    if how == "with":
        with Image.open(path) as im:
            pass
    else:
        im = Image.open(path)
        getattr(im, how)()
    with pytest.raises(ValueError, match="closed image"):
        im.load()


def test_verify_after_close_says_why(crop_nnc, open_nnc):
    im = open_nnc(crop_nnc)
    im.close()
    with pytest.raises(RuntimeError, match="directly after open"):  # as Pillow's PNG
        im.verify()


def test_imagefile_parser(crop_nnc, decode):
    parser = ImageFile.Parser()
    for i in range(0, len(crop_nnc), 7):
        parser.feed(crop_nnc[i : i + 7])
    im = parser.close()
    assert im.size == (64, 48) and im.mode == "RGB"
    np.testing.assert_array_equal(arr(im), arr(decode(crop_nnc)))


def test_open_from_path_closes_the_file(tmp_path, crop_nnc):
    path = tmp_path / "x.nnc"
    path.write_bytes(crop_nnc)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        im = Image.open(path)
        im.load()
        assert im.size == (64, 48)
        im.close()
    path.unlink()  # nothing keeps it open (matters on Windows)


def test_load_twice_and_copy(crop_nnc, open_nnc):
    im = open_nnc(crop_nnc)
    im.load()
    first = arr(im)
    im.load()
    np.testing.assert_array_equal(arr(im), first)
    np.testing.assert_array_equal(arr(im.copy()), first)


def test_not_nnc_is_unidentified(crop, sample_path):
    png = io.BytesIO()
    crop.save(png, format="PNG")
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(png.getvalue()), formats=["NNC"])
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(bytes(np.random.default_rng(3).integers(0, 256, 500, dtype=np.uint8))))


def test_errors_are_oserrors():
    for exc in (
        pillow_nnc.NncError, pillow_nnc.TruncatedFileError,
        pillow_nnc.UnsupportedFileError, pillow_nnc.MissingModelError,
    ):
        assert issubclass(exc, OSError)
    assert issubclass(TruncatedFileError, NncError)


def test_gradient_round_trip(gradient, encode, decode, mse_fn):
    orig = arr(gradient)
    out = arr(decode(encode(gradient)))
    assert out.shape == orig.shape
    assert mse_fn(out, orig) < mse_fn(grey_like(orig), orig)


def test_max_bytes_error_names_the_metadata_that_does_not_fit(crop, encode):
    """A thumbnail inheriting a 3 KB ICC profile cannot fit 1 KB: say so,
    and how to drop it, instead of only "too small"."""
    with pytest.raises(ValueError, match="3000 of them metadata") as info:
        encode(crop, max_bytes=1024, icc_profile=b"\0" * 3000)
    assert "icc_profile=b''" in str(info.value)
    assert len(encode(crop, max_bytes=1024, icc_profile=b"")) <= 1024


def test_load_truncated_images_decodes_the_segments_before_a_bad_one(
    monkeypatch, sample_nnc, sample_ends, open_nnc
):
    """A CRC error in the last segment rejects the image by default; with
    LOAD_TRUNCATED_IMAGES the good segments before it decode (as for a cut
    file) and a warning names what was dropped."""
    _, ends = sample_ends
    bad = bytearray(sample_nnc)
    bad[ends[-2] + 5] ^= 0xFF  # inside the last segment's payload
    with pytest.raises(NncError, match="CRC"):
        open_nnc(bytes(bad)).load()
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.warns(UserWarning, match=rf"CRC mismatch in segment {len(ends) - 1}.*{len(ends) - 1} good"):
        got = arr(open_nnc(bytes(bad)))
    prefix = arr(open_nnc(sample_nnc[: ends[-2]]))
    np.testing.assert_array_equal(got, prefix)
