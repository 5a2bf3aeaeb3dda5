"""Training patches from a folder of photographs.

Every image is decoded once into memory (large photos capped at 1024 px on
the short side), then patches are cut on demand: a random crop at a random
downscale (which also washes out the JPEG artefacts and sensor noise of the
sources), a random flip, and hard-patch sampling that prefers the busier of
two candidates, as Toderici et al. 2017 trained on high-entropy patches.
Optionally a share of *smooth* patches (``smooth``) puts back what
hard-patch sampling leaves out: skies and walls (a photo crop blurred to a
few pixels and scaled back up) and flat graphics (filled rectangles on a
plain ground). The recurrent model trained without them coded a flat grey
area 8 levels off after its first iteration, and a flat blue one got worse
after its third.
With ``thumbnails`` the patches are whole photos shrunk instead: a random
square of 60-100% of the short side, Lanczos-resized to the patch size, the
way thumbnails are made (and the benchmark's ``thumbN`` sets), for a model
that knows how tiny images look: at 32x32 a model trained on crops stops at
MS-SSIM 0.960 even without quantisation.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..bench.sets import thumbnail
from .screen import ScreenPatches

EXTENSIONS = {".jpg", ".jpeg", ".png"}
MAX_SHORT_SIDE = 1024


def list_images(root: Path) -> list[Path]:
    """All photographs under ``root``, in a stable order."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS)


# CC0 photos kept out of training for demos (chelsea is the bundled sample).
SAMPLES = {"skimage/chelsea.png", "skimage/coffee.png"}


def is_validation(path: Path, root: Path, every: int = 20) -> bool:
    """Stable 1-in-``every`` hold-out chosen by a hash of the relative path,
    plus the bundled samples."""
    rel = path.relative_to(root).as_posix()
    return rel in SAMPLES or hashlib.sha1(rel.encode()).digest()[0] % every == 0


def load_rgb(path: Path, max_short: int = MAX_SHORT_SIDE) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        short = min(im.size)
        if short > max_short:
            scale = max_short / short
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
        return np.asarray(im)


def busyness(patch: np.ndarray) -> float:
    """Mean absolute gradient: a cheap stand-in for PNG-size hardness."""
    p = patch.astype(np.int16)
    return float(np.abs(np.diff(p, axis=0)).mean() + np.abs(np.diff(p, axis=1)).mean())


class PatchSampler:
    """Random training patches (uint8, (B, size, size, 3)) from in-memory images."""

    def __init__(
        self, images: list[np.ndarray], size: int, rng: random.Random, smooth: float = 0.0, thumbnails: bool = False,
        screen: float = 0.0,
    ) -> None:
        self.images = [im for im in images if min(im.shape[:2]) >= size]
        self.size = size
        self.rng = rng
        self.smooth = smooth
        self.thumbnails = thumbnails
        self.screen = screen
        self.screens = ScreenPatches(size, rng, self._candidate)

    def _candidate(self) -> np.ndarray:
        rng = self.rng
        im = rng.choice(self.images)
        h, w = im.shape[:2]
        scale = rng.uniform(max(0.5, self.size / min(h, w)), 1.0)
        side = min(round(self.size / scale), h, w)
        y, x = rng.randrange(h - side + 1), rng.randrange(w - side + 1)
        crop = im[y : y + side, x : x + side]
        if side != self.size:
            crop = np.asarray(Image.fromarray(crop).resize((self.size, self.size), Image.Resampling.BOX))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return crop

    def _thumbnail(self) -> np.ndarray:
        """A random square of 60-100% of a photo's short side, shrunk to the patch size."""
        rng = self.rng
        im = rng.choice(self.images)
        h, w = im.shape[:2]
        side = round(min(h, w) * rng.uniform(0.6, 1.0))
        y, x = rng.randrange(h - side + 1), rng.randrange(w - side + 1)
        thumb = Image.fromarray(im[y : y + side, x : x + side]).resize((self.size, self.size), Image.Resampling.LANCZOS)
        return np.asarray(thumb)[:, ::-1] if rng.random() < 0.5 else np.asarray(thumb)

    def _smooth(self) -> np.ndarray:
        """A sky-like blurred photo crop, or flat rectangles on a flat ground."""
        rng, size = self.rng, self.size
        if rng.random() < 0.5:
            small = max(2, size // rng.choice((8, 16, 32)))
            im = Image.fromarray(self._candidate()).resize((small, small), Image.Resampling.BOX)
            return np.asarray(im.resize((size, size), Image.Resampling.BICUBIC))
        colour = lambda: tuple(rng.randrange(256) for _ in range(3))  # noqa: E731
        im = Image.new("RGB", (size, size), colour())
        draw = ImageDraw.Draw(im)
        for _ in range(rng.randrange(4)):
            x0, y0 = rng.randrange(size), rng.randrange(size)
            draw.rectangle((x0, y0, x0 + rng.randrange(8, size), y0 + rng.randrange(8, size)), fill=colour())
        return np.asarray(im)

    def patch(self) -> np.ndarray:
        if self.screen and self.rng.random() < self.screen:
            return self.screens.patch()
        if self.smooth and self.rng.random() < self.smooth:
            return self._smooth()
        if self.thumbnails:
            return self._thumbnail()
        a, b = self._candidate(), self._candidate()
        if busyness(b) > busyness(a):
            a, b = b, a
        return a if self.rng.random() < 0.75 else b

    def batch(self, n: int) -> np.ndarray:
        return np.stack([self.patch() for _ in range(n)])


class PatchStream(torch.utils.data.IterableDataset):
    """Endless batches from a :class:`PatchSampler` per DataLoader worker
    (seeded by ``seed`` and the worker's id), so that cutting patches keeps
    up with a GPU. Unlike the in-process sampler, a resumed run does not
    replay the exact same patches."""

    def __init__(self, images: list[np.ndarray], size: int, batch: int, seed: int, **options) -> None:
        self.images, self.size, self.batch, self.seed, self.options = images, size, batch, seed, options

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = random.Random(f"{self.seed}/{info.id if info else 0}")
        sampler = PatchSampler(self.images, self.size, rng, **self.options)
        while True:
            yield torch.from_numpy(sampler.batch(self.batch))


def centre_crop(im: np.ndarray, size: int) -> np.ndarray:
    """The centre ``size x size`` of an image (less along a shorter side)."""
    y, x = max(0, im.shape[0] - size) // 2, max(0, im.shape[1] - size) // 2
    return im[y : y + size, x : x + size]


def validation_crops(images: list[np.ndarray], size: int = 256) -> np.ndarray:
    """Centre crops of the held-out images, for comparable validation numbers."""
    return np.stack([centre_crop(im, size) for im in images if min(im.shape[:2]) >= size])


def validation_thumbnails(images: list[np.ndarray], size: int) -> np.ndarray:
    """Centre-square thumbnails of the held-out images, made as the benchmark's sets are."""
    return np.stack([np.asarray(thumbnail(Image.fromarray(im), size)) for im in images])


def validation_screens(size: int = 256, count: int = 12, seed: int = 12345) -> np.ndarray:
    """Screen-content validation patches, the same in every run (fixed seed, no photo grounds)."""
    screens = ScreenPatches(size, random.Random(seed))
    return np.stack([screens.patch() for _ in range(count)])


def validation_set(images: list[np.ndarray], patch: int, thumbnails: bool) -> np.ndarray:
    """What a run validates on, and what its export measures tables and the
    quality map on: the held-out photos' centre crops, or for a run on
    thumbnails their thumbnails at the patch size."""
    return validation_thumbnails(images, patch) if thumbnails else validation_crops(images)
