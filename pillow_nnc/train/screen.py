"""Procedural screen-content patches for training: text in several fonts,
sizes and colours on plain, gradient or photographic grounds, UI widgets,
bar and line charts with labels, and line art.

Made at training time from a seeded ``random.Random`` (nothing is
downloaded); fonts are Pillow's bundled one and the DejaVu family where
Debian installed it. The benchmark's ``screen`` set draws whole screens
with its own layouts, so training never sees its images.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype"))
WORDS = (
    "the quick brown fox jumps over lazy dog image codec pixel quality save open file "
    "error value total price name date report width height chart table menu button "
    "settings cancel apply 0 1 2 3 4 5 6 7 8 9 % $ def return import class for if else"
).split()


def font_paths() -> list[Path]:
    """TrueType fonts on this machine (may be empty: Pillow's bundled font remains)."""
    found: list[Path] = []
    for d in FONT_DIRS:
        if d.is_dir():
            found += sorted(p for p in d.glob("*.ttf") if p not in found)
    return found


class ScreenPatches:
    """Random ``size x size`` screen-content patches (uint8, (size, size, 3))."""

    def __init__(self, size: int, rng: random.Random, background=None) -> None:
        self.size = size
        self.rng = rng
        self.background = background  # callable -> (size, size, 3) photo patch, or None
        self.fonts = font_paths()
        self._cache: dict[tuple[int, int], ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}

    def _font(self, px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        k = self.rng.randrange(len(self.fonts) + 1)
        if (k, px) not in self._cache:
            self._cache[(k, px)] = (
                ImageFont.truetype(str(self.fonts[k]), px) if k < len(self.fonts) else ImageFont.load_default(px)
            )
        return self._cache[(k, px)]

    def _colour(self) -> tuple[int, int, int]:
        return tuple(self.rng.randrange(256) for _ in range(3))

    def _contrasting(self, ground: tuple[int, ...]) -> tuple[int, int, int]:
        """A colour whose luma differs from the ground's by at least 80 levels."""
        luma = 0.299 * ground[0] + 0.587 * ground[1] + 0.114 * ground[2]
        while True:
            c = self._colour()
            if abs(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] - luma) >= 80:
                return c

    def _ground(self) -> tuple[Image.Image, tuple[int, int, int]]:
        """A plain, gradient or photographic ground and its typical colour."""
        rng, s = self.rng, self.size
        kind = rng.random()
        if kind < 0.2 and self.background is not None:
            photo = self.background()
            return Image.fromarray(photo), tuple(int(v) for v in photo.reshape(-1, 3).mean(0))
        a = rng.choice([(255, 255, 255), (250, 250, 250), (30, 30, 30), (0, 0, 0), self._colour()])
        if kind < 0.45:
            b = self._colour()
            t = np.linspace(0, 1, s)[:, None, None] if rng.random() < 0.5 else np.linspace(0, 1, s)[None, :, None]
            grad = np.broadcast_to(np.array(a) * (1 - t) + np.array(b) * t, (s, s, 3))
            mid = tuple(int(v) for v in (np.array(a) + np.array(b)) / 2)
            return Image.fromarray(grad.round().astype(np.uint8)), mid
        return Image.new("RGB", (s, s), a), a

    def _text(self, im: Image.Image, ground: tuple[int, ...]) -> None:
        rng, s = self.rng, self.size
        draw = ImageDraw.Draw(im)
        px = rng.choice((8, 9, 10, 11, 12, 13, 14, 16, 18, 20, 24, 28, 36, 48))
        font = self._font(px)
        ink = self._contrasting(ground)
        y = rng.randrange(-px // 2, max(1, px))
        while y < s:
            words = [rng.choice(WORDS) if rng.random() < 0.8 else "".join(rng.choices(string.ascii_letters, k=5))
                     for _ in range(rng.randrange(3, 12))]
            draw.text((rng.randrange(-4, 8), y), " ".join(words), font=font, fill=ink)
            if rng.random() < 0.15:
                ink = self._contrasting(ground)
            y += round(px * rng.uniform(1.1, 1.8))

    def _widgets(self, im: Image.Image, ground: tuple[int, ...]) -> None:
        rng, s = self.rng, self.size
        draw = ImageDraw.Draw(im)
        for _ in range(rng.randrange(2, 7)):
            x0, y0 = rng.randrange(-8, s), rng.randrange(-8, s)
            w, h = rng.randrange(24, 120), rng.randrange(12, 36)
            fill = self._colour()
            radius = rng.choice((0, 2, 4, 8))
            draw.rounded_rectangle((x0, y0, x0 + w, y0 + h), radius, fill=fill, outline=self._contrasting(fill))
            px = max(8, h - rng.randrange(6, 12))
            draw.text((x0 + 4, y0 + 2), rng.choice(WORDS).title(), font=self._font(px), fill=self._contrasting(fill))
            if rng.random() < 0.4:  # a checkbox or radio button beside it
                box = (x0 - 16, y0 + 2, x0 - 4, y0 + 14)
                (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, outline=self._contrasting(ground), width=1)

    def _chart(self, im: Image.Image, ground: tuple[int, ...]) -> None:
        rng, s = self.rng, self.size
        draw = ImageDraw.Draw(im)
        ink = self._contrasting(ground)
        left, bottom = rng.randrange(16, 32), s - rng.randrange(12, 24)
        draw.line((left, 4, left, bottom, s - 2, bottom), fill=ink, width=1)
        font = self._font(rng.choice((8, 9, 10, 11, 12)))
        for k in range(0, bottom, max(8, bottom // 5)):
            draw.text((1, bottom - k - 5), str(k), font=font, fill=ink)
            if rng.random() < 0.5:
                draw.line((left + 1, bottom - k, s, bottom - k), fill=tuple((np.array(ink) + np.array(ground)) // 2))
        n = rng.randrange(3, 12)
        step = (s - left) / n
        values = [rng.uniform(0.1, 0.95) * (bottom - 4) for _ in range(n)]
        if rng.random() < 0.5:
            for i, v in enumerate(values):
                x0 = left + 2 + i * step
                draw.rectangle((x0, bottom - v, x0 + step * 0.7, bottom - 1), fill=self._colour())
        else:
            pts = [(left + 2 + i * step, bottom - v) for i, v in enumerate(values)]
            draw.line(pts, fill=self._contrasting(ground), width=rng.choice((1, 2, 3)))
            for p in pts:
                draw.ellipse((p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2), fill=ink)

    def _line_art(self, im: Image.Image, ground: tuple[int, ...]) -> None:
        rng, s = self.rng, self.size
        draw = ImageDraw.Draw(im)
        for _ in range(rng.randrange(3, 15)):
            ink, width = self._contrasting(ground), rng.choice((1, 1, 2, 3, 5))
            pts = [(rng.randrange(s), rng.randrange(s)) for _ in range(rng.randrange(2, 6))]
            shape = rng.random()
            if shape < 0.4:
                draw.line(pts, fill=ink, width=width)
            elif shape < 0.7:
                x0, y0 = pts[0]
                box = (x0, y0, x0 + rng.randrange(4, s // 2), y0 + rng.randrange(4, s // 2))
                draw.ellipse(box, outline=ink, width=width, fill=self._colour() if rng.random() < 0.3 else None)
            else:
                draw.polygon(pts + [(rng.randrange(s), rng.randrange(s))], outline=ink,
                             fill=self._colour() if rng.random() < 0.5 else None)

    def patch(self) -> np.ndarray:
        im, ground = self._ground()
        painters = (self._text, self._text, self._widgets, self._chart, self._line_art)
        for painter in self.rng.sample(painters, self.rng.choice((1, 1, 2))):
            painter(im, ground)
        return np.asarray(im.convert("RGB"))
