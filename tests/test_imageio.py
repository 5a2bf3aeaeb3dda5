"""imageio integration: after ``import pillow_nnc``, ``.nnc`` works through
imageio v3, v2 and the top-level API without naming a plugin or format."""

from __future__ import annotations

import warnings

import imageio
import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np
import pytest

import pillow_nnc  # noqa: F401

MAGIC = b"\x89NNC"


@pytest.fixture(scope="module")
def rgb(crop) -> np.ndarray:
    return np.asarray(crop).copy()


def test_v3_imwrite_imread_by_extension(tmp_path, rgb):
    path = tmp_path / "x.nnc"
    assert iio.imwrite(path, rgb) is None
    assert path.read_bytes()[:4] == MAGIC
    out = iio.imread(path)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    # also with a str path
    out2 = iio.imread(str(path))
    np.testing.assert_array_equal(out, out2)


def test_v3_improps(tmp_path, rgb):
    path = tmp_path / "x.nnc"
    iio.imwrite(path, rgb)
    props = iio.improps(path)
    assert props.shape == rgb.shape
    assert props.dtype == np.uint8
    assert not props.is_batch


def test_v3_grey_and_rgba(tmp_path, rgb, alpha_plane):
    grey = rgb[..., 0].copy()
    rgba = np.dstack([rgb, alpha_plane])
    for name, array in (("grey", grey), ("rgba", rgba)):
        path = tmp_path / f"{name}.nnc"
        iio.imwrite(path, array)
        out = iio.imread(path)
        assert out.shape == array.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(iio.imread(tmp_path / "rgba.nnc")[..., 3], alpha_plane)


def test_v3_bytes_round_trip(rgb):
    data = iio.imwrite("<bytes>", rgb, extension=".nnc")
    assert isinstance(data, bytes)
    assert data[:4] == MAGIC
    out = iio.imread(data)
    assert out.shape == rgb.shape
    np.testing.assert_array_equal(out, iio.imread(data, extension=".nnc"))


def test_v3_quality_passes_through(rgb):
    low = iio.imwrite("<bytes>", rgb, extension=".nnc", quality=5)
    high = iio.imwrite("<bytes>", rgb, extension=".nnc", quality=95)
    assert len(high) > len(low), f"quality=95 ({len(high)} B) is not larger than quality=5 ({len(low)} B)"


def test_v3_bad_quality_raises(rgb):
    with pytest.raises(ValueError, match="quality"):
        iio.imwrite("<bytes>", rgb, extension=".nnc", quality=500)


def test_v2_imwrite_imread(tmp_path, rgb):
    path = tmp_path / "v2.nnc"
    iio2.imwrite(path, rgb)
    assert path.read_bytes()[:4] == MAGIC
    out = iio2.imread(path)
    assert out.shape == rgb.shape
    np.testing.assert_array_equal(out, iio.imread(path))


def test_v2_format_nnc(tmp_path, rgb):
    path = tmp_path / "v2fmt.bin"  # the extension says nothing: format= decides
    iio2.imwrite(path, rgb, format="nnc")
    assert path.read_bytes()[:4] == MAGIC
    out = iio2.imread(path, format="nnc")
    assert out.shape == rgb.shape
    data = iio2.imwrite("<bytes>", rgb, format="nnc")
    assert data[:4] == MAGIC


def test_v2_quality_passes_through(tmp_path, rgb):
    sizes = {}
    for q in (5, 95):
        path = tmp_path / f"q{q}.nnc"
        iio2.imwrite(path, rgb, quality=q)
        sizes[q] = path.stat().st_size
    assert sizes[95] > sizes[5], f"quality does not reach the encoder: {sizes}"


def test_top_level_imwrite_imread(tmp_path, rgb):
    path = tmp_path / "top.nnc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # imageio warns about the v3 switch
        imageio.imwrite(path, rgb)
        out = imageio.imread(path)
    assert path.read_bytes()[:4] == MAGIC
    assert out.shape == rgb.shape


def test_v2_mimwrite_two_frames_is_a_clear_error(tmp_path, rgb):
    with pytest.raises(ValueError, match="(?i)frame|single"):
        iio2.mimwrite(tmp_path / "two.nnc", [rgb, rgb])


def test_v3_two_frames_is_a_clear_error(tmp_path, rgb):
    with pytest.raises(ValueError, match="(?i)frame|single"):
        iio.imwrite("<bytes>", np.stack([rgb, rgb]), extension=".nnc")
