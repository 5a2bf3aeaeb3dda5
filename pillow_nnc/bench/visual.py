"""Side-by-side crops of one image coded by every codec at (about) the same size.

For each codec the quality setting is searched (bisection over the codec's
integer quality range, assuming size grows with quality, plus a coarse
9-point grid if nothing tried fits; then the best of all tried settings)
for the *largest file not over* the byte budget; if no setting fits, the
smallest file is used and the tile is marked "over budget".  The budget is
given in bytes or bpp, or as the file size of one codec at one quality
(``--match nnc=90``).  The whole image is coded (so the budget and the
metrics printed under each tile are for the full image), then the same
crop of every decoded image is placed next to the original crop in one
labelled PNG.  The image is a file of the image directory or a generated
screen (``screen/NAME``, see :mod:`pillow_nnc.bench.screen`).

:func:`standard_sheets` writes the benchmark's fixed sheets: a screen at
two budgets and, at the high end, a photo and a text crop, each codec at
the file size of NNC at a given quality.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .codecs import NNC_NAMES, Codec, get_codecs
from .screen import SCREENS, screen_image
from .sets import find_image, list_images, load_rgb, thumbnail


def find_quality(codec: Codec, img: Image.Image, budget: int, lo: int, hi: int) -> dict[str, Any]:
    """Largest encoding of ``img`` not over ``budget`` bytes within qualities [lo, hi]."""
    cache: dict[int, bytes] = {}

    def size(q: int) -> int:
        if q not in cache:
            cache[q] = codec.encode(img, q)
        return len(cache[q])

    if size(lo) <= budget and size(hi) > budget:
        a, b = lo, hi  # invariant: size(a) <= budget < size(b)
        while b - a > 1:
            m = (a + b) // 2
            if size(m) <= budget:
                a = m
            else:
                b = m
    else:
        size(hi)
    if not any(len(d) <= budget for d in cache.values()):
        # size not monotone in quality (or nothing fits): try a coarse grid too
        for q in {lo + round(i * (hi - lo) / 8) for i in range(9)}:
            size(q)
    fitting = [q for q, d in cache.items() if len(d) <= budget]
    if fitting:
        q = max(fitting, key=lambda q: (len(cache[q]), q))
        over = False
    else:
        q = min(cache, key=lambda q: (len(cache[q]), q))
        over = True
    return {"quality": q, "data": cache[q], "over_budget": over, "tried": len(cache)}


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def compose(tiles: list[tuple[Image.Image, list[str]]], cols: int, font_size: int = 13, title: str = "") -> Image.Image:
    font = _font(font_size)
    line_h = font_size + 4
    n_lines = max(len(lines) for _, lines in tiles)
    tw = max(t.width for t, _ in tiles)
    th = max(t.height for t, _ in tiles)
    pad = 6
    label_h = n_lines * line_h + pad
    title_h = line_h + pad if title else 0
    rows = math.ceil(len(tiles) / cols)
    canvas = Image.new("RGB", (cols * (tw + pad) + pad, title_h + rows * (th + label_h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad, pad), title, fill="black", font=font)
    for i, (tile, lines) in enumerate(tiles):
        r, c = divmod(i, cols)
        x = pad + c * (tw + pad)
        y = title_h + pad + r * (th + label_h + pad)
        for j, text in enumerate(lines):
            draw.text((x, y + j * line_h), text, fill="black", font=font)
        canvas.paste(tile, (x, y + label_h))
    return canvas


def parse_crop(spec: str | None, size: tuple[int, int], crop_size: int) -> tuple[int, int, int, int]:
    w, h = size
    if spec:
        x, y, cw, ch = (int(v) for v in spec.split(","))
    else:
        cw = ch = min(crop_size, w, h)
        x, y = (w - cw) // 2, (h - ch) // 2
    x, y = max(0, min(x, w - 1)), max(0, min(y, h - 1))
    return (x, y, min(w, x + cw), min(h, y + ch))


def load_source(directory: Path, image: str, thumb: int | None = None) -> tuple[str, Image.Image]:
    """(name, RGB image) of ``screen/NAME`` or an image of ``directory``, as an NxN thumbnail if asked."""
    if image.startswith("screen/"):
        name = image.split("/", 1)[1]
        if name not in SCREENS:
            raise FileNotFoundError(f"no screen {name!r}; choose from {', '.join(SCREENS)}")
        src = screen_image(name)
    else:
        name, src = Path(image).stem, load_rgb(find_image(Path(directory), image))
    return name, thumbnail(src, thumb) if thumb else src


def sheet(src: Image.Image, name: str, out: Path, budget: int, codecs: list[Codec], box: tuple[int, int, int, int],
          zoom: int = 1, cols: int | None = None, note: str = "", log=print) -> dict[str, Any]:
    """Code ``src`` with every codec at (the largest file not over) ``budget``
    bytes and write the labelled crops ``box`` of the results to ``out``."""
    from .run import image_quality

    w, h = src.size
    ref = np.array(src, dtype=np.uint8)

    def tile(im: Image.Image) -> Image.Image:
        t = im.crop(box)
        return t.resize((t.width * zoom, t.height * zoom), Image.Resampling.NEAREST) if zoom > 1 else t

    tiles = [(tile(src), ["original", f"{name} {w}x{h}", f"crop {box[0]},{box[1]} {box[2]-box[0]}x{box[3]-box[1]}"])]
    rows = []
    for codec in codecs:
        try:
            found = find_quality(codec, src, budget, *codec.search_range)
            dec = codec.decode(found["data"])
        except Exception as exc:
            log(f"  {codec.name}: failed ({type(exc).__name__}: {exc}), skipped")
            rows.append({"codec": codec.name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        n = len(found["data"])
        row = {"codec": codec.name, "quality": found["quality"], "bytes": n, "bpp": 8 * n / (w * h),
               **image_quality(ref, np.array(dec, dtype=np.uint8)), "over_budget": found["over_budget"]}
        rows.append(row)
        flag = " OVER BUDGET" if row["over_budget"] else ""
        butter = "n/a" if row["butteraugli"] is None else f"{row['butteraugli']:.2f}"
        log(f"  {codec.name:<14} q={row['quality']:<3} {n:>7} B  {row['bpp']:.3f} bpp  PSNR {row['psnr']:.2f} dB  "
            f"MS-SSIM {row['msssim']:.4f}  SSIMULACRA2 {row['ssimulacra2']:.1f}  Butteraugli {butter}{flag}")
        tiles.append((tile(dec), [f"{codec.label} q={row['quality']}{flag}", f"{n} B, {row['bpp']:.3f} bpp",
                                  f"{row['psnr']:.2f} dB, MS-SSIM {row['msssim']:.4f}",
                                  f"SSIMULACRA2 {row['ssimulacra2']:.1f}, Butteraugli {butter}"]))
    title = f"{name}: largest file <= {budget} bytes ({8 * budget / (w * h):.3f} bpp) per codec{note}"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    compose(tiles, cols or min(len(tiles), 4), title=title).save(out, format="PNG")
    return {"image": name, "budget": budget, "crop": box, "out": str(out), "codecs": rows}


def visual(
    kodak: Path,
    image: str,
    out: Path,
    budget: int | None = None,
    bpp: float | None = None,
    match: tuple[str, int] | None = None,
    codecs: list[str] | None = None,
    crop: str | None = None,
    crop_size: int = 256,
    zoom: int = 1,
    cols: int | None = None,
    threads: int = 1,
    thumb: int | None = None,
    log=print,
) -> dict[str, Any]:
    """The ``visual`` command: one sheet of ``image`` for the named codecs
    (default every available one) at a budget in bytes, bpp (default 0.25)
    or the size of codec ``match[0]`` at quality ``match[1]``."""
    name, src = load_source(kodak, image, thumb)
    w, h = src.size
    registry = get_codecs(threads)
    chosen = []
    for cname in codecs or list(registry):
        reason = registry[cname].available()
        if reason:
            log(f"  {cname}: unavailable ({reason}), skipped")
        else:
            chosen.append(registry[cname])
    note = ""
    if match is not None:
        budget = len(registry[match[0]].encode(src, match[1]))
        note = f" (= {registry[match[0]].label} q={match[1]})"
    elif budget is None:
        budget = int(round((bpp if bpp is not None else 0.25) * w * h / 8))
    return sheet(src, name, out, budget, chosen, parse_crop(crop, src.size, crop_size), zoom, cols, note, log)


# The benchmark's fixed sheets: (file, image, NNC quality whose file size is
# every codec's budget, crop X,Y,W,H). Zoom 2 throughout: text and
# high-quality differences need it to be seen.
STANDARD_SHEETS = (
    ("visual_screen_q30.png", "screen/dialog", 30, "60,96,256,208"),  # checkboxes, input, slider
    ("visual_screen_q75.png", "screen/dialog", 75, "60,96,256,208"),
    ("visual_photo_q90.png", "kodim23", 90, "400,110,192,192"),  # the red parrot's eye and beak
    ("visual_text_q90.png", "screen/editor", 90, "170,150,320,160"),  # coloured code, line numbers
)


def standard_sheets(kodak: Path, out_dir: Path, codecs: list[Codec], log=print) -> dict[str, Any]:
    """Write :data:`STANDARD_SHEETS` into ``out_dir`` for ``codecs``, the
    budget set by the first NNC codec among them (skipped without one).
    The photo is kodim23, or the directory's first image (centre crop) if it has none."""
    anchor = next((c for c in codecs if c.name in NNC_NAMES), None)
    if anchor is None:
        log("  skipped: no NNC codec in this run to set the budget")
        return {"anchor": None, "sheets": [], "skipped": "no NNC codec in this run to set the budget"}
    sheets = []
    for file, image, quality, crop in STANDARD_SHEETS:
        if not image.startswith("screen/") and not any(p.stem == image for p in list_images(kodak)):
            image, crop = list_images(kodak)[0].stem, None
        name, src = load_source(kodak, image)
        budget = len(anchor.encode(src, quality))
        log(f" {file}: {name}, budget {budget} B = {anchor.label} q={quality}")
        info = sheet(src, name, Path(out_dir) / file, budget, codecs, parse_crop(crop, src.size, 192), zoom=2, cols=3,
                     note=f" (= {anchor.label} q={quality})", log=log)
        sheets.append({**info, "out": file, "anchor_quality": quality})
    return {"anchor": anchor.name, "sheets": sheets, "skipped": None}
