"""The benchmark's ``screen`` set: whole synthetic screens drawn with Pillow.

Nine images from 384x256 to 768x512, each a complete layout: a terminal, a
code editor, a document page, a settings dialog, charts, a flowchart (line
art), a flat-colour banner with gradients, a spreadsheet (aliased text) and
a phone home screen. Text comes in several sizes from the DejaVu family
where it is installed (``/usr/share/fonts/truetype/dejavu``) and from
Pillow's bundled font (``ImageFont.load_default(size)``), which also stands
in for any DejaVu face that is missing. Each image is drawn from its own
seeded ``random.Random`` with Pillow's basic (non-Raqm) text layout, so the
set is the same pixels on every run given the same fonts and FreeType;
:func:`font_sources` names them for ``results.json``.

The training generator (``pillow_nnc.train.screen``) makes random text
patches on random grounds; these are whole screens with realistic layouts,
so the benchmark does not measure the training distribution.
"""

from __future__ import annotations

import colorsys
import functools
import random
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
FACES = {
    "sans": "DejaVuSans.ttf", "sans-bold": "DejaVuSans-Bold.ttf", "condensed": "DejaVuSansCondensed.ttf",
    "serif": "DejaVuSerif.ttf", "serif-bold": "DejaVuSerif-Bold.ttf", "serif-italic": "DejaVuSerif-Italic.ttf",
    "mono": "DejaVuSansMono.ttf", "mono-bold": "DejaVuSansMono-Bold.ttf", "mono-italic": "DejaVuSansMono-Oblique.ttf",
}
BUNDLED = "Pillow's bundled font (ImageFont.load_default)"

Font = ImageFont.FreeTypeFont
RGB = tuple[int, int, int]

WORDS = (
    "image images codec codecs file files format pixel pixels colour colours quality rate size bits byte "
    "bytes sample samples block blocks model models encoder decoder stream header measure measures "
    "result results table figure chart curve point points screen text font fonts edge edges detail "
    "smooth sharp photo photos graphic graphics layout window button value values average budget test "
    "tests new small large fast slow high low every each most many some this that the a an of in on "
    "for with from at by to and or but is are was were has have keeps shows gives makes uses needs"
).split()


def _face_path(kind: str) -> Path | None:
    if kind not in FACES:
        return None
    path = DEJAVU / FACES[kind]
    return path if path.is_file() else None


@functools.lru_cache(maxsize=None)
def font(kind: str, size: int) -> Font:
    """A face of :data:`FACES` (or ``"ui"``: always Pillow's bundled font) at ``size`` px."""
    path = _face_path(kind)
    if path is None:
        return ImageFont.load_default(size).font_variant(layout_engine=ImageFont.Layout.BASIC)
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)


def font_sources() -> dict[str, str]:
    """Which font file draws each face here, with the FreeType version."""
    out = {kind: path.name if (path := _face_path(kind)) else BUNDLED for kind in (*FACES, "ui")}
    out["freetype"] = features.version("freetype2") or "none"
    return out


def _sentence(rng: random.Random, lo: int = 6, hi: int = 14) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    return " ".join(words).capitalize() + rng.choice("....?!")


def _wrap(text: str, f: Font, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and f.getlength(trial) > width:
            lines.append(line)
            trial = word
        line = trial
    return lines + [line] if line else lines


def _gradient(size: tuple[int, int], top: RGB, bottom: RGB, horizontal: bool = False) -> Image.Image:
    w, h = size
    t = np.linspace(0.0, 1.0, w if horizontal else h)
    t = t[None, :, None] if horizontal else t[:, None, None]
    rgb = np.array(top) * (1 - t) + np.array(bottom) * t
    return Image.fromarray(np.broadcast_to(rgb, (h, w, 3)).round().astype(np.uint8), "RGB")


def _spans(draw: ImageDraw.ImageDraw, xy: tuple[float, float], spans: list[tuple[str, RGB]], f: Font) -> None:
    """Coloured runs of text one after the other on a line."""
    x, y = xy
    for text, colour in spans:
        draw.text((x, y), text, font=f, fill=colour)
        x += f.getlength(text)


def _button(im: Image.Image, box: tuple[int, int, int, int], label: str, primary: bool = False) -> None:
    x0, y0, x1, y1 = box
    top, bottom = ((66, 139, 232), (33, 99, 196)) if primary else ((252, 252, 252), (226, 226, 226))
    mask = Image.new("L", (x1 - x0, y1 - y0))
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, x1 - x0 - 1, y1 - y0 - 1), 5, fill=255)
    im.paste(_gradient((x1 - x0, y1 - y0), top, bottom), (x0, y0), mask)
    d = ImageDraw.Draw(im)
    d.rounded_rectangle(box, 5, outline=(28, 84, 170) if primary else (160, 160, 160))
    d.text(((x0 + x1) / 2, (y0 + y1) / 2), label, font=font("ui", 13),
           fill=(255, 255, 255) if primary else (30, 30, 30), anchor="mm")


def terminal(rng: random.Random) -> Image.Image:
    """Dark terminal: prompt, ls listing, git log, test and compiler output."""
    im = Image.new("RGB", (768, 512), (30, 30, 30))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 0, 767, 27), fill=(58, 58, 58))
    for i, c in enumerate(((255, 95, 86), (255, 189, 46), (39, 201, 63))):
        d.ellipse((10 + 20 * i, 8, 22 + 20 * i, 20), fill=c)
    d.text((384, 14), "user@build: ~/src/codec", font=font("ui", 13), fill=(205, 205, 205), anchor="mm")
    white, green, blue, yellow = (220, 220, 220), (80, 220, 100), (90, 150, 255), (230, 200, 80)
    red, grey, magenta = (240, 80, 80), (140, 140, 140), (220, 90, 220)
    prompt = [("user@build", green), (":", white), ("~/src/codec", blue), ("$ ", white)]
    lines = [prompt + [("ls -la", white)]]
    for name in ("bench", "docs", "src", "tests", "README.md", "setup.cfg"):
        size, day, hour, minute = rng.randint(96, 48_000), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59)
        kind = "d" if "." not in name else "-"
        lines.append([(f"{kind}rwxr-xr-x  2 user user {size:>6} Mar {day:>2} {hour:02}:{minute:02} ", white),
                      (name, blue if kind == "d" else white)])
    lines.append(prompt + [("git log --oneline -4", white)])
    for _ in range(4):
        lines.append([(f"{rng.getrandbits(28):07x} ", yellow), (_sentence(rng, 3, 7)[:-1], white)])
    lines.append(prompt + [("python -m pytest -q tests", white)])
    dots = "".join(rng.choice("....F") for _ in range(64))
    lines += [[(dots, green)], [("FAILED tests/test_rate.py::test_budget - AssertionError: 4112 > 4096", red)],
              [(f"1 failed, {dots.count('.')} passed in {rng.uniform(2, 9):.2f}s", yellow)]]
    lines.append(prompt + [("make -j2", white)])
    for src in ("entropy.c", "blocks.c", "stream.c"):
        lines.append([(f"cc -O2 -Wall -c src/{src} -o build/{src[:-2]}.o", grey)])
    lines.append([("src/stream.c:212:9: ", white), ("warning: ", magenta), ("unused variable 'rest'", white)])
    lines.append(prompt + [("", white)])
    f = font("mono", 13)
    for i, spans in enumerate(lines):
        _spans(d, (8, 34 + 17 * i), spans, f)
    x = 8 + f.getlength("".join(t for t, _ in lines[-1]))
    d.rectangle((x, 34 + 17 * (len(lines) - 1), x + 7, 34 + 17 * len(lines) - 2), fill=white)
    return im


CODE = '''\
import numpy as np
from PIL import Image

# Rate control: stop each block once it is good enough.
BLOCK = 16
TOLERANCE = 0.0025


class RateControl:
    """Spend bits where the picture needs them."""

    def __init__(self, target: float, blocks: int = 64) -> None:
        self.target = target
        self.spent = np.zeros(blocks)

    def step(self, quality: np.ndarray, cost: np.ndarray) -> np.ndarray:
        done = quality >= self.target - TOLERANCE
        self.spent += np.where(done, 0, cost)  # finished blocks cost nothing
        return ~done

    def report(self, name: str) -> str:
        total = self.spent.sum() / 8
        return f"{name}: {total:.1f} bytes in {len(self.spent)} blocks"


def load(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
'''
KEYWORDS = {"import", "from", "class", "def", "return", "with", "as", "in", "for", "if", "not", "None", "self"}
TOKEN = re.compile(r"#.*|f?\"[^\"]*\"|'[^']*'|\d+\.?\d*|\w+|\s+|.")


def _code_spans(line: str) -> list[tuple[str, RGB, str]]:
    """(text, colour, face) runs of one line of :data:`CODE`."""
    spans = []
    for tok in TOKEN.findall(line):
        if tok.startswith("#"):
            spans.append((tok, (0, 128, 0), "mono-italic"))
        elif tok[:1] in "\"'" or tok[:2] == 'f"':
            spans.append((tok, (163, 21, 21), "mono"))
        elif tok in KEYWORDS:
            spans.append((tok, (0, 0, 205), "mono-bold"))
        elif tok[:1].isdigit():
            spans.append((tok, (9, 134, 88), "mono"))
        else:
            spans.append((tok, (30, 30, 30), "mono"))
    return spans


def editor(rng: random.Random) -> Image.Image:
    """Light code editor: tabs, file tree, line numbers, highlighted Python, status bar."""
    im = Image.new("RGB", (768, 512), (255, 255, 255))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 0, 767, 29), fill=(236, 236, 236))
    for i, name in enumerate(("rate.py", "stream.py", "README.md")):
        d.rectangle((170 + 110 * i, 0, 278 + 110 * i, 29), fill=(255, 255, 255) if i == 0 else (225, 225, 225))
        d.text((182 + 110 * i, 8), name, font=font("ui", 13), fill=(40, 40, 40) if i == 0 else (110, 110, 110))
    d.rectangle((0, 30, 167, 489), fill=(243, 243, 243))
    tree = ["v CODEC", "  v src", "      blocks.py", "      rate.py", "      stream.py", "  > tests", "  > docs",
            "    README.md", "    setup.cfg"]
    for i, entry in enumerate(tree):
        if i == 3:
            d.rectangle((0, 38 + 20 * i, 167, 56 + 20 * i), fill=(204, 226, 250))
        d.text((8, 40 + 20 * i), entry, font=font("sans", 12), fill=(50, 50, 50))
    current = rng.randint(14, 20)
    for i, line in enumerate(CODE.splitlines()):
        y = 36 + 16 * i
        if i + 1 == current:
            d.rectangle((168, y - 1, 767, y + 15), fill=(255, 250, 220))
        d.text((212, y), str(i + 1), font=font("mono", 12), fill=(150, 150, 150), anchor="ra")
        x = 226
        for text, colour, face in _code_spans(line):
            d.text((x, y), text, font=font(face, 12), fill=colour)
            x += font(face, 12).getlength(text)
    d.rectangle((0, 490, 767, 511), fill=(0, 122, 204))
    status = f"Ln {current}, Col {rng.randint(1, 40)}    Spaces: 4    UTF-8    LF    Python 3.11"
    d.text((10, 494), "main*   0 errors  1 warning", font=font("ui", 12), fill=(255, 255, 255))
    d.text((758, 494), status, font=font("ui", 12), fill=(255, 255, 255), anchor="ra")
    return im


def document(rng: random.Random) -> Image.Image:
    """A page: serif title, sans headings, serif body, bullets, italic quote, link, footnote."""
    im = Image.new("RGB", (640, 512), (250, 250, 247))
    d = ImageDraw.Draw(im)
    d.text((40, 28), "Notes on coding screen images", font=font("serif-bold", 26), fill=(20, 20, 20))
    d.text((40, 64), "Draft 3 - internal", font=font("sans", 11), fill=(120, 120, 120))
    y = 90
    for heading in ("1. What the measures say", "2. Where the bits go", "3. Next steps"):
        d.text((40, y), heading, font=font("sans-bold", 15), fill=(30, 60, 120))
        y += 24
        for line in _wrap(" ".join(_sentence(rng) for _ in range(3)), font("serif", 13), 560):
            d.text((40, y), line, font=font("serif", 13), fill=(25, 25, 25))
            y += 18
        y += 10
    for _ in range(3):
        d.ellipse((48, y + 6, 53, y + 11), fill=(40, 40, 40))
        d.text((62, y), _sentence(rng, 4, 8), font=font("sans", 12), fill=(25, 25, 25))
        y += 18
    d.rectangle((40, y + 8, 43, y + 44), fill=(180, 180, 180))
    for i, line in enumerate(_wrap(_sentence(rng, 10, 16), font("serif-italic", 14), 540)[:2]):
        d.text((54, y + 8 + 19 * i), line, font=font("serif-italic", 14), fill=(70, 70, 70))
    link = "See the full results table"
    d.text((40, 462), link, font=font("sans", 12), fill=(20, 90, 200))
    d.line((40, 477, 40 + font("sans", 12).getlength(link), 477), fill=(20, 90, 200))
    d.text((40, 486), "* " + _sentence(rng, 8, 12), font=font("sans", 9), fill=(110, 110, 110))
    d.text((600, 486), "- 7 -", font=font("serif", 10), fill=(110, 110, 110), anchor="ra")
    return im


def _check(d: ImageDraw.ImageDraw, x: int, y: int, label: str, on: bool) -> None:
    d.rectangle((x, y, x + 13, y + 13), fill=(255, 255, 255), outline=(120, 120, 120))
    if on:
        d.line([(x + 3, y + 7), (x + 6, y + 10), (x + 11, y + 3)], fill=(33, 99, 196), width=2)
    d.text((x + 20, y), label, font=font("ui", 13), fill=(30, 30, 30))


def _radio(d: ImageDraw.ImageDraw, x: int, y: int, label: str, on: bool) -> None:
    d.ellipse((x, y, x + 13, y + 13), fill=(255, 255, 255), outline=(120, 120, 120))
    if on:
        d.ellipse((x + 4, y + 4, x + 9, y + 9), fill=(33, 99, 196))
    d.text((x + 20, y), label, font=font("ui", 13), fill=(30, 30, 30))


def dialog(rng: random.Random) -> Image.Image:
    """Settings window on a desktop: tabs, checkboxes, radios, input, slider, progress, open menu, buttons."""
    im = _gradient((640, 480), (40, 70, 120), (110, 150, 200))
    d = ImageDraw.Draw(im)
    d.rectangle((46, 36, 606, 456), fill=(20, 30, 50))  # shadow
    d.rectangle((40, 30, 600, 450), fill=(240, 240, 240), outline=(90, 90, 90))
    im.paste(_gradient((559, 28), (70, 70, 78), (45, 45, 52)), (41, 31))
    d.text((320, 45), "Export settings", font=font("sans-bold", 13), fill=(255, 255, 255), anchor="mm")
    for i, tab in enumerate(("General", "Image", "Metadata", "Advanced")):
        x = 52 + 92 * i
        d.rectangle((x, 66, x + 88, 90), fill=(255, 255, 255) if i == 1 else (222, 222, 222), outline=(170, 170, 170))
        d.text((x + 44, 78), tab, font=font("ui", 13), fill=(20, 20, 20), anchor="mm")
    d.rectangle((52, 90, 588, 400), fill=(255, 255, 255), outline=(170, 170, 170))
    for i, label in enumerate(("Keep colour profile", "Strip EXIF data", "Progressive decoding", "Write thumbnails")):
        _check(d, 70, 108 + 26 * i, label, rng.random() < 0.5)
    d.text((330, 108), "Chroma subsampling", font=font("sans-bold", 12), fill=(30, 30, 30))
    chosen = rng.randrange(3)
    for i, label in enumerate(("4:4:4 (best)", "4:2:2", "4:2:0 (smallest)")):
        _radio(d, 330, 132 + 24 * i, label, i == chosen)
    d.text((70, 226), "File name:", font=font("ui", 13), fill=(30, 30, 30))
    d.rectangle((150, 220, 420, 244), fill=(255, 255, 255), outline=(33, 99, 196), width=2)
    name = f"holiday_{rng.randint(100, 999)}_final.nnc"
    d.text((157, 225), name, font=font("sans", 12), fill=(20, 20, 20))
    caret = 157 + font("sans", 12).getlength(name) + 1
    d.line((caret, 224, caret, 240), fill=(0, 0, 0))
    d.text((70, 266), "Quality", font=font("ui", 13), fill=(30, 30, 30))
    q = rng.randint(20, 95)
    d.rounded_rectangle((150, 272, 420, 277), 2, fill=(200, 200, 200))
    knob = 150 + 270 * q // 100
    d.rounded_rectangle((150, 272, knob, 277), 2, fill=(33, 99, 196))
    d.ellipse((knob - 8, 266, knob + 8, 282), fill=(255, 255, 255), outline=(33, 99, 196), width=2)
    for t in range(0, 101, 25):
        d.text((150 + 270 * t // 100, 288), str(t), font=font("sans", 9), fill=(90, 90, 90), anchor="ma")
    d.text((436, 268), f"{q}", font=font("mono-bold", 13), fill=(30, 30, 30))
    d.text((70, 322), "Encoding", font=font("ui", 13), fill=(30, 30, 30))
    d.rectangle((150, 320, 420, 336), fill=(230, 230, 230), outline=(160, 160, 160))
    done = rng.randint(30, 90)
    im.paste(_gradient((270 * done // 100, 15), (120, 200, 120), (40, 150, 60)), (151, 321))
    d.text((285, 328), f"{done}%", font=font("sans-bold", 10), fill=(20, 20, 20), anchor="mm")
    d.rectangle((330, 210, 560, 234), fill=(255, 255, 255), outline=(140, 140, 140))
    d.text((338, 215), "Effort: normal", font=font("ui", 13), fill=(20, 20, 20))
    d.polygon([(544, 219), (552, 219), (548, 225)], fill=(60, 60, 60))
    d.rectangle((330, 234, 560, 330), fill=(255, 255, 255), outline=(140, 140, 140))
    hover = rng.randrange(4)
    for i, item in enumerate(("fastest", "fast", "normal", "thorough")):
        if i == hover:
            d.rectangle((331, 236 + 23 * i, 559, 258 + 23 * i), fill=(33, 99, 196))
        d.text((340, 240 + 23 * i), item, font=font("ui", 13), fill=(255, 255, 255) if i == hover else (20, 20, 20))
    d.text((70, 370), _sentence(rng, 6, 9), font=font("sans", 10), fill=(110, 110, 110))
    for i, (label, primary) in enumerate((("Apply", False), ("Cancel", False), ("Export", True))):
        _button(im, (334 + 88 * i, 412, 414 + 88 * i, 438), label, primary)
    return im


def _axes(d: ImageDraw.ImageDraw, box: tuple[int, int, int, int], top: float, step: float, unit: str) -> None:
    x0, y0, x1, y1 = box
    for k in range(int(top / step) + 1):
        y = y1 - (y1 - y0) * k * step / top
        d.line((x0, y, x1, y), fill=(225, 225, 225))
        d.text((x0 - 5, y), f"{k * step:g}{unit}", font=font("condensed", 10), fill=(80, 80, 80), anchor="rm")
    d.line((x0, y0, x0, y1), fill=(40, 40, 40))
    d.line((x0, y1, x1, y1), fill=(40, 40, 40))


def _vertical_label(im: Image.Image, xy: tuple[int, int], text: str) -> None:
    f = font("sans", 11)
    label = Image.new("RGB", (int(f.getlength(text)) + 2, 14), (255, 255, 255))
    ImageDraw.Draw(label).text((1, 0), text, font=f, fill=(40, 40, 40))
    im.paste(label.transpose(Image.Transpose.ROTATE_90), xy)


def chart(rng: random.Random) -> Image.Image:
    """Grouped bar chart and line chart with ticks, grid, labels and legends."""
    im = Image.new("RGB", (640, 400), (255, 255, 255))
    d = ImageDraw.Draw(im)
    d.text((320, 14), "Bytes per image by format", font=font("sans-bold", 15), fill=(20, 20, 20), anchor="ma")
    colours = ((31, 119, 180), (255, 127, 14), (44, 160, 44))
    box = (50, 50, 300, 330)
    _axes(d, box, 40, 10, "k")
    cats = ("photo", "text", "chart", "UI", "art")
    for i, cat in enumerate(cats):
        for s in range(2):
            v = rng.uniform(4, 38)
            x = 58 + 48 * i + 19 * s
            d.rectangle((x, 330 - 280 * v / 40, x + 17, 329), fill=colours[s])
        d.text((76 + 48 * i, 336), cat, font=font("sans", 11), fill=(40, 40, 40), anchor="ma")
    _vertical_label(im, (8, 140), "size (kB)")
    box = (380, 50, 620, 330)
    _axes(d, box, 100, 20, "")
    for s, colour in enumerate(colours):
        level = rng.uniform(30, 60)
        pts = []
        for k in range(9):
            level = min(98, max(2, level + rng.uniform(-4, 12)))
            pts.append((380 + 30 * k, 330 - 2.8 * level))
        d.line(pts, fill=colour, width=2)
        for x, y in pts:
            d.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
    for k in range(0, 9, 2):
        d.text((380 + 30 * k, 336), f"{0.25 * k:g}", font=font("condensed", 10), fill=(80, 80, 80), anchor="ma")
    d.text((500, 352), "bits per pixel", font=font("sans", 11), fill=(40, 40, 40), anchor="ma")
    d.rectangle((390, 58, 480, 116), fill=(255, 255, 255), outline=(180, 180, 180))
    for s, name in enumerate(("JPEG", "WebP", "NNC")):
        d.line((398, 70 + 18 * s, 418, 70 + 18 * s), fill=colours[s], width=2)
        d.text((424, 64 + 18 * s), name, font=font("ui", 12), fill=(30, 30, 30))
    d.text((20, 378), "Source: " + _sentence(rng, 5, 8), font=font("serif-italic", 10), fill=(110, 110, 110))
    return im


def _arrow(d: ImageDraw.ImageDraw, a: tuple[int, int], b: tuple[int, int], dashed: bool = False) -> None:
    (x0, y0), (x1, y1) = a, b
    length = max(1.0, float(np.hypot(x1 - x0, y1 - y0)))
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    if dashed:
        for t in np.arange(0, length - 8, 8):  # 4 px on, 4 px off
            d.line((x0 + ux * t, y0 + uy * t, x0 + ux * (t + 4), y0 + uy * (t + 4)), fill=(0, 0, 0))
    else:
        d.line((x0, y0, x1, y1), fill=(0, 0, 0), width=1)
    bx, by = x1 - 9 * ux, y1 - 9 * uy  # base of the 9-px head
    d.polygon([(x1, y1), (bx + 4 * uy, by - 4 * ux), (bx - 4 * uy, by + 4 * ux)], fill=(0, 0, 0))


def diagram(rng: random.Random) -> Image.Image:
    """Black line art: flowchart boxes, a decision diamond, arrows, a hatched part drawing on a grid."""
    im = Image.new("RGB", (512, 512), (255, 255, 255))
    d = ImageDraw.Draw(im)
    f = font("sans", 12)
    boxes = {"Read image": (40, 30), "Split in tiles": (40, 110), "Encode tile": (40, 270), "Write file": (40, 350)}
    for label, (x, y) in boxes.items():
        d.rounded_rectangle((x, y, x + 140, y + 40), 8, outline=(0, 0, 0), width=2)
        d.text((x + 70, y + 20), label, font=f, fill=(0, 0, 0), anchor="mm")
    d.polygon([(110, 175), (180, 215), (110, 255), (40, 215)], outline=(0, 0, 0))
    d.text((110, 215), "budget left?", font=font("sans", 11), fill=(0, 0, 0), anchor="mm")
    for a, b in (((110, 70), (110, 108)), ((110, 150), (110, 173)), ((110, 255), (110, 268)), ((110, 310), (110, 348))):
        _arrow(d, a, b)
    _arrow(d, (180, 215), (250, 130), dashed=True)
    d.text((214, 190), "no", font=font("sans", 11), fill=(0, 0, 0))
    d.text((116, 256), "yes", font=font("sans", 11), fill=(0, 0, 0))
    for x in range(260, 500, 12):
        d.line((x, 20, x, 250), fill=(205, 220, 240))
    for y in range(20, 251, 12):
        d.line((260, y, 499, y), fill=(205, 220, 240))
    hatch = Image.new("L", (180, 140))
    for k in range(-140, 180, 9):
        ImageDraw.Draw(hatch).line((k, 140, k + 140, 0), fill=255)
    im.paste((60, 60, 60), (290, 60, 470, 200), hatch)
    d.rectangle((290, 60, 470, 200), outline=(0, 0, 0), width=2)
    r = rng.randint(26, 36)
    d.ellipse((380 - r, 130 - r, 380 + r, 130 + r), fill=(255, 255, 255), outline=(0, 0, 0), width=2)
    d.line((300, 130, 460, 130), fill=(0, 0, 0))
    d.line((380, 70, 380, 190), fill=(0, 0, 0))
    d.text((380, 212), f"R{r} mm, {rng.randint(2, 9)} holes", font=font("mono", 11), fill=(0, 0, 0), anchor="ma")
    nodes = [(380, 290)] + [(300 + 80 * i, 350) for i in range(3)] + [(270 + 40 * i, 410) for i in range(6)]
    for child, (x, y) in enumerate(nodes[1:], 1):
        px, py = nodes[0] if child < 4 else nodes[(child - 2) // 2]
        d.line((px, py, x, y), fill=(0, 0, 0), width=1 + child % 2)
    for i, (x, y) in enumerate(nodes):
        d.ellipse((x - 12, y - 12, x + 12, y + 12), fill=(255, 255, 255), outline=(0, 0, 0), width=2)
        d.text((x, y), "abcdefghij"[i], font=font("mono-bold", 12), fill=(0, 0, 0), anchor="mm")
    caption = "Fig. 2  " + _sentence(rng, 5, 8)
    d.text((40, 460), _wrap(caption, font("serif-italic", 12), 430)[0], font=font("serif-italic", 12), fill=(0, 0, 0))
    return im


def _glow(size: tuple[int, int], centre: tuple[float, float], radius: float, colour: RGB) -> Image.Image:
    """RGBA radial glow: ``colour`` fading out to transparent at ``radius``."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    alpha = np.clip(1 - np.hypot(x - centre[0], y - centre[1]) / radius, 0, 1) ** 2 * 200
    rgba = np.dstack([np.broadcast_to(np.array(colour, np.float64), (h, w, 3)), alpha])
    return Image.fromarray(rgba.round().astype(np.uint8), "RGBA")


def banner(rng: random.Random) -> Image.Image:
    """Flat-colour web banner: gradient ground, glow, translucent shapes, big headline, logo, button."""
    im = _gradient((768, 384), (88, 40, 160), (250, 130, 60), horizontal=True).convert("RGBA")
    im.alpha_composite(_glow((768, 384), (rng.uniform(520, 680), rng.uniform(80, 200)), 260, (255, 230, 120)))
    shapes = Image.new("RGBA", (768, 384))
    sd = ImageDraw.Draw(shapes)
    for _ in range(6):
        x, y, r = rng.uniform(380, 760), rng.uniform(0, 384), rng.uniform(20, 90)
        sd.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, rng.randint(30, 90)))
    sd.polygon([(560, 384), (768, 180), (768, 384)], fill=(30, 20, 70, 160))
    im.alpha_composite(shapes)
    d = ImageDraw.Draw(im)
    d.ellipse((40, 32, 80, 72), fill=(255, 255, 255))
    d.text((60, 52), "n", font=font("sans-bold", 28), fill=(88, 40, 160), anchor="mm")
    d.text((92, 40), "nanocodec", font=font("sans-bold", 20), fill=(255, 255, 255))
    d.text((40, 120), "Smaller images,", font=font("sans-bold", 44), fill=(255, 255, 255))
    d.text((40, 172), "same sharp text.", font=font("sans-bold", 44), fill=(255, 236, 180))
    d.text((40, 236), _sentence(rng, 7, 10), font=font("sans", 17), fill=(240, 230, 255))
    d.rounded_rectangle((40, 284, 210, 330), 23, fill=(255, 255, 255))
    d.text((125, 307), "Try it free", font=font("sans-bold", 16), fill=(88, 40, 160), anchor="mm")
    d.text((230, 299), "No sign-up.  MIT licence.", font=font("ui", 14), fill=(255, 255, 255))
    for i, c in enumerate(((255, 200, 0), (0, 200, 180), (255, 90, 120), (80, 160, 255))):
        d.rectangle((192 * i, 376, 192 * i + 191, 383), fill=c)
    return im.convert("RGB")


def spreadsheet(rng: random.Random) -> Image.Image:
    """Spreadsheet with aliased (non-antialiased) text: grid, headers, numbers, fills, selection."""
    im = Image.new("RGB", (640, 448), (255, 255, 255))
    d = ImageDraw.Draw(im)
    d.fontmode = "1"  # classic bitmap-like rendering, as older desktops show
    d.rectangle((0, 0, 639, 25), fill=(243, 243, 243))
    d.text((8, 6), "D7", font=font("sans", 11), fill=(30, 30, 30))
    d.text((60, 5), "fx", font=font("serif-italic", 12), fill=(90, 90, 90))
    d.text((84, 6), "=SUM(D2:D6)/COUNT(D2:D6)", font=font("mono", 11), fill=(30, 30, 30))
    widths = (40, 120, 80, 80, 80, 80, 80, 80)
    xs = np.cumsum((0,) + widths)
    row_h, top = 20, 30
    regions = ("North", "South", "East", "West", "Central", "Islands", "Online", "Export")
    for c, (x0, x1) in enumerate(zip(xs[:-1], xs[1:])):
        d.rectangle((x0, top, x1, top + row_h), fill=(230, 230, 230), outline=(190, 190, 190))
        if c:
            d.text(((x0 + x1) / 2, top + 4), "ABCDEFG"[c - 1], font=font("sans", 11), fill=(60, 60, 60), anchor="ma")
    for r in range(1, 21):
        y = top + row_h * r
        d.rectangle((0, y, 40, y + row_h), fill=(230, 230, 230), outline=(190, 190, 190))
        d.text((20, y + 4), str(r), font=font("sans", 11), fill=(60, 60, 60), anchor="ma")
        for c, (x0, x1) in enumerate(zip(xs[1:-1], xs[2:]), 1):
            value = rng.uniform(-2000, 90_000)
            fill = (255, 255, 255)
            if 2 < c < 7 and value < 0:
                fill = (255, 205, 205)
            elif 2 < c < 7 and value > 80_000:
                fill = (205, 240, 205)
            d.rectangle((x0, y, x1, y + row_h), fill=fill, outline=(218, 218, 218))
            if r == 1:
                text = ("Region", "Units", "Revenue", "Cost", "Margin", "Growth", "Notes")[c - 1]
                d.text((x0 + 4, y + 4), text, font=font("sans-bold", 11), fill=(20, 20, 20))
            elif c == 1:
                region = f"{regions[(r - 2) % 8]} {1 + (r - 2) // 8}"
                d.text((x0 + 4, y + 4), region, font=font("sans", 11), fill=(20, 20, 20))
            elif c < 7:
                text = f"{value:,.0f}" if c < 6 else f"{value / 1e3:+.1f}%"
                ink = (200, 0, 0) if value < 0 else (20, 20, 20)
                d.text((x1 - 4, y + 4), text, font=font("sans", 11), fill=ink, anchor="ra")
    d.rectangle((xs[4] - 1, top + row_h * 7 - 1, xs[5] + 1, top + row_h * 8 + 1), outline=(33, 115, 70), width=2)
    d.rectangle((xs[5] - 3, top + row_h * 8 - 3, xs[5] + 2, top + row_h * 8 + 2), fill=(33, 115, 70))
    d.rectangle((0, 428, 639, 447), fill=(243, 243, 243))
    for i, sheet in enumerate(("Summary", "Q1", "Q2", "Q3")):
        tab = (255, 255, 255) if i == 0 else (230, 230, 230)
        d.rectangle((8 + 84 * i, 428, 88 + 84 * i, 447), fill=tab, outline=(190, 190, 190))
        d.text((48 + 84 * i, 432), sheet, font=font("sans", 11), fill=(30, 30, 30), anchor="ma")
    return im


def home(rng: random.Random) -> Image.Image:
    """Phone home screen: status bar, gradient app icons with glyphs, small labels, dock."""
    im = _gradient((384, 256), (20, 24, 48), (70, 40, 90))
    d = ImageDraw.Draw(im)
    d.text((14, 6), f"{rng.randint(7, 11)}:{rng.randint(0, 59):02}", font=font("sans-bold", 12), fill=(255, 255, 255))
    d.rounded_rectangle((340, 8, 364, 19), 3, outline=(255, 255, 255))
    d.rectangle((342, 10, 342 + rng.randint(6, 20), 17), fill=(255, 255, 255))
    d.rectangle((365, 11, 367, 16), fill=(255, 255, 255))
    apps = ("Mail", "Photos", "Maps", "Notes", "Music", "Clock", "Files", "Camera", "Chat", "Shop")
    for i, name in enumerate(apps):
        x, y = 22 + 72 * (i % 5), 34 + 86 * (i // 5)
        hue = rng.random()
        top = tuple(int(255 * v) for v in colorsys.hsv_to_rgb(hue, 0.55, 1.0))
        bottom = tuple(int(255 * v) for v in colorsys.hsv_to_rgb((hue + 0.06) % 1, 0.85, 0.75))
        mask = Image.new("L", (52, 52))
        ImageDraw.Draw(mask).rounded_rectangle((0, 0, 51, 51), 12, fill=255)
        im.paste(_gradient((52, 52), top, bottom), (x, y), mask)
        d.text((x + 26, y + 26), name[0], font=font("sans-bold", 26), fill=(255, 255, 255), anchor="mm")
        d.text((x + 26, y + 58), name, font=font("ui", 11), fill=(235, 235, 235), anchor="ma")
    d.rounded_rectangle((16, 214, 368, 250), 14, fill=(255, 255, 255))
    d.text((192, 232), _sentence(rng, 3, 5)[:40], font=font("sans", 11), fill=(60, 60, 60), anchor="mm")
    return im


SCREENS: dict[str, Callable[[random.Random], Image.Image]] = {
    "terminal": terminal, "editor": editor, "document": document, "dialog": dialog, "chart": chart,
    "diagram": diagram, "banner": banner, "spreadsheet": spreadsheet, "home": home,
}


def screen_image(name: str) -> Image.Image:
    """One screen of :data:`SCREENS`, drawn from its own seed (its index)."""
    return SCREENS[name](random.Random(list(SCREENS).index(name)))


def screen_images(count: int | None = None) -> list[tuple[str, Image.Image]]:
    """The first ``count`` (default all) screens as (name, RGB image)."""
    return [(name, screen_image(name)) for name in list(SCREENS)[:count]]
