"""Benchmark image sets: Kodak at full size, square thumbnails of it, and
generated screen content.

``kodak``       the images as they are (Kodak: 768x512 or 512x768, RGB).
``thumbN``      centre square crop (side = the shorter image side), then a
                Lanczos resize to NxN (``Image.Resampling.LANCZOS``);
                N = 32, 64, 256 are offered (Toderici et al. used 32x32).
``screen``      nine whole screens (terminal, editor, dialog, charts, ...)
                drawn by :mod:`pillow_nnc.bench.screen`; nothing is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .screen import font_sources, screen_images

SET_NAMES = ("kodak", "thumb32", "thumb64", "thumb256", "screen")
IMAGE_SUFFIXES = {".png", ".ppm", ".tif", ".tiff", ".bmp"}


@dataclass
class Item:
    name: str
    image: Image.Image  # RGB
    array: np.ndarray  # (H, W, 3) uint8

    @property
    def pixels(self) -> int:
        return self.image.width * self.image.height


def list_images(directory: Path) -> list[Path]:
    """Lossless source images of a directory, sorted by name."""
    if not directory.is_dir():
        raise FileNotFoundError(f"image directory not found: {directory}")
    paths = sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no {'/'.join(sorted(IMAGE_SUFFIXES))} images in {directory}")
    return paths


def find_image(directory: Path, name: str) -> Path:
    """``kodim23``, ``23`` or ``kodim23.png`` -> path inside ``directory``."""
    p = Path(name)
    if p.is_file():
        return p
    candidates = list_images(directory)
    for c in candidates:
        if name in (c.name, c.stem):
            return c
    if name.isdigit():
        for c in candidates:
            if re.fullmatch(rf"\D*0*{int(name)}", c.stem):
                return c
    raise FileNotFoundError(f"no image {name!r} in {directory}")


def load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def load_arrays(directory: Path, count: int | None = None) -> dict[str, np.ndarray]:
    """The first ``count`` images of a directory as (H, W, 3) uint8 arrays, by name."""
    return {p.stem: np.asarray(load_rgb(p)) for p in list_images(directory)[:count]}


def make_item(name: str, image: Image.Image) -> Item:
    image = image.convert("RGB")
    return Item(name, image, np.asarray(image, dtype=np.uint8).copy())


def thumbnail(image: Image.Image, size: int) -> Image.Image:
    """Centre square crop, then Lanczos resize to ``size`` x ``size``."""
    w, h = image.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    square = image.crop((left, top, left + s, top + s))
    return square.resize((size, size), Image.Resampling.LANCZOS)


def set_size(set_name: str) -> int | None:
    """N of a ``thumbN`` set, None for ``kodak`` and ``screen``; ValueError for unknown sets."""
    if set_name in ("kodak", "screen"):
        return None
    m = re.fullmatch(r"thumb(\d+)", set_name)
    if not m or int(m.group(1)) < 16:
        raise ValueError(f"unknown set {set_name!r} (use kodak, screen or thumbN, N >= 16)")
    return int(m.group(1))


def build_set(set_name: str, sources: list[tuple[str, Image.Image]], screens: int | None = None) -> list[Item]:
    """The set's images: from ``sources`` (Kodak), or the first ``screens``
    (default all) generated screens for ``screen``."""
    if set_name == "screen":
        return [make_item(n, im) for n, im in screen_images(screens)]
    size = set_size(set_name)
    if size is None:
        return [make_item(n, im) for n, im in sources]
    return [make_item(n, thumbnail(im, size)) for n, im in sources]


def set_info(set_name: str) -> dict[str, dict[str, str]]:
    """What ``results.json`` should record about how a set was made: the
    screen set's fonts (its pixels depend on them)."""
    return {"fonts": font_sources()} if set_name == "screen" else {}
