"""Shared fixtures for the plugin, imageio, CLI and hostile-input tests.

Everything here is built from the bundled sample (``pillow_nnc/samples/
chelsea.png``) or generated, so the suite does not depend on ``../shared``.
Images are small on purpose: encoding is the expensive part of the suite.
Nothing here hard-codes sizes or qualities of the current model.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pillow_nnc  # noqa: F401  (registers .nnc with Pillow and imageio)

# The test machine has 2 cores shared with a training job: torch's intra-op
# thread pool then spins against it and a 1x1 encode takes ~300 ms instead
# of ~5 ms. One thread keeps the suite fast; results are the same.
torch.set_num_threads(1)

SAMPLE_PATH = Path(pillow_nnc.__file__).resolve().parent / "samples" / "chelsea.png"


def nnc_encode(im: Image.Image, **params) -> bytes:
    """``im`` saved as .nnc (in memory) with Pillow ``save`` params."""
    buf = io.BytesIO()
    im.save(buf, format="NNC", **params)
    return buf.getvalue()


def nnc_open(data: bytes) -> Image.Image:
    """Open .nnc bytes (lazily) with the NNC plugin only."""
    return Image.open(io.BytesIO(data), formats=["NNC"])


def nnc_decode(data: bytes) -> Image.Image:
    """Open and fully decode .nnc bytes."""
    im = nnc_open(data)
    im.load()
    return im


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


@pytest.fixture(scope="session")
def encode():
    return nnc_encode


@pytest.fixture(scope="session")
def decode():
    return nnc_decode


@pytest.fixture(scope="session")
def open_nnc():
    return nnc_open


@pytest.fixture(scope="session")
def mse_fn():
    return mse


@pytest.fixture(scope="session")
def sample_path() -> Path:
    assert SAMPLE_PATH.is_file(), "the bundled sample is missing from the package"
    return SAMPLE_PATH


@pytest.fixture(scope="session")
def sample(sample_path) -> Image.Image:
    """The bundled 451x300 RGB photo, with its info (ICC profile, XMP)."""
    with Image.open(sample_path) as im:
        im.load()
        return im.copy()


@pytest.fixture(scope="session")
def sample_rgb(sample) -> np.ndarray:
    return np.asarray(sample.convert("RGB")).copy()


def _plain(arr: np.ndarray) -> Image.Image:
    """An image with no ``info`` (no ICC/XMP inherited from the sample)."""
    return Image.fromarray(np.ascontiguousarray(arr))


@pytest.fixture(scope="session")
def crop(sample_rgb) -> Image.Image:
    """64x48 RGB crop of the photo (textured region around the cat's face)."""
    return _plain(sample_rgb[100:148, 180:244])


@pytest.fixture(scope="session")
def thumb32(sample_rgb) -> Image.Image:
    """32x32 RGB thumbnail of the whole photo."""
    return _plain(np.asarray(_plain(sample_rgb).resize((32, 32), Image.Resampling.LANCZOS)))


@pytest.fixture(scope="session")
def odd33x17(sample_rgb) -> Image.Image:
    """33x17 RGB crop (odd sizes, not multiples of the model stride)."""
    return _plain(sample_rgb[120:137, 200:233])


@pytest.fixture(scope="session")
def pixel1x1(sample_rgb) -> Image.Image:
    return _plain(sample_rgb[150:151, 220:221])


@pytest.fixture(scope="session")
def gradient() -> Image.Image:
    """64x48 RGB smooth gradient (R along x, G along y, B diagonal)."""
    y, x = np.mgrid[0:48, 0:64]
    arr = np.stack([x * 255 // 63, y * 255 // 47, (x + y) * 255 // 110], axis=2)
    return _plain(arr.astype(np.uint8))


@pytest.fixture(scope="session")
def alpha_plane() -> np.ndarray:
    """48x64 alpha plane with flat areas, a ramp, hard edges and noise."""
    rng = np.random.default_rng(1234)
    a = np.zeros((48, 64), np.uint8)
    a[:, 16:32] = 255
    a[:, 32:48] = np.linspace(0, 255, 16).astype(np.uint8)[None, :]
    a[:, 48:] = rng.integers(0, 256, (48, 16), dtype=np.uint8)
    a[20:28, :] = 128
    return a


@pytest.fixture(scope="session", params=["1x1", "33x17", "32x32", "64x48"])
def sized(request, pixel1x1, odd33x17, thumb32, crop) -> Image.Image:
    return {"1x1": pixel1x1, "33x17": odd33x17, "32x32": thumb32, "64x48": crop}[request.param]


@pytest.fixture(scope="session")
def crop_nnc(crop) -> bytes:
    """The 64x48 crop at the default quality."""
    return nnc_encode(crop)


@pytest.fixture(scope="session")
def sample_nnc(sample) -> bytes:
    """The whole photo (with its ICC profile): large enough to have several segments."""
    return nnc_encode(sample)


@pytest.fixture(scope="session")
def small_rgba_nnc() -> bytes:
    """A 16x16 RGBA file with EXIF and XMP: header, extension block, alpha chunk."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:16, 0:16]
    rgb = np.stack([x * 16, y * 16, (x ^ y) * 16], axis=2).astype(np.uint8)
    alpha = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    im = _plain(np.dstack([rgb, alpha]))
    exif = Image.Exif()
    exif[0x0112] = 3
    return nnc_encode(im, exif=exif, xmp=b"<x:xmpmeta>hi</x:xmpmeta>")


@pytest.fixture(scope="session")
def small_rgb_nnc() -> bytes:
    """A 16x16 RGB file without extension block (header protected by segment CRC only)."""
    y, x = np.mgrid[0:16, 0:16]
    rgb = np.stack([x * 16, y * 16, (x + y) * 8], axis=2).astype(np.uint8)
    return nnc_encode(_plain(rgb))


@pytest.fixture(scope="session")
def small_recurrent_nnc() -> bytes:
    """A 16x16 RGB file of the recurrent codec, context-coded, 8 iterations."""
    y, x = np.mgrid[0:16, 0:16]
    rgb = np.stack([x * 16, y * 16, (x + y) * 8], axis=2).astype(np.uint8)
    return nnc_encode(_plain(rgb), codec="recurrent", quality=100)
