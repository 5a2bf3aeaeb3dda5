"""Side-by-side crops of one image coded by every codec at (about) the same size.

For each codec the quality setting is searched (bisection over the codec's
integer quality range, assuming size grows with quality, plus a coarse
9-point grid if nothing tried fits; then the best of all tried settings)
for the *largest file not over* the byte budget; if no setting fits, the
smallest file is used and the tile is marked "over budget".  The whole image is coded (so the budget and
the PSNR / MS-SSIM printed under each tile are for the full image), then
the same crop of every decoded image is placed next to the original crop
in one labelled PNG.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .codecs import Codec, get_codecs
from .sets import find_image, load_rgb, thumbnail


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


def visual(
    kodak: Path,
    image: str,
    out: Path,
    budget: int | None = None,
    bpp: float | None = None,
    codecs: list[str] | None = None,
    crop: str | None = None,
    crop_size: int = 256,
    zoom: int = 1,
    cols: int | None = None,
    threads: int = 1,
    thumb: int | None = None,
    log=print,
) -> dict[str, Any]:
    from pillow_nnc.metrics import ms_ssim_rgb, psnr

    src = load_rgb(find_image(Path(kodak), image))
    if thumb:
        src = thumbnail(src, thumb)
    w, h = src.size
    if budget is None:
        budget = int(round((bpp if bpp is not None else 0.25) * w * h / 8))
    box = parse_crop(crop, src.size, crop_size)
    ref = np.array(src, dtype=np.uint8)

    def tile(im: Image.Image) -> Image.Image:
        t = im.crop(box)
        return t.resize((t.width * zoom, t.height * zoom), Image.Resampling.NEAREST) if zoom > 1 else t

    name = Path(image).stem
    tiles = [(tile(src), ["original", f"{name} {w}x{h}", f"crop {box[0]},{box[1]} {box[2]-box[0]}x{box[3]-box[1]}"])]
    registry = get_codecs(threads)
    rows = []
    for cname in codecs or list(registry):
        codec = registry[cname]
        reason = codec.available()
        if reason:
            log(f"  {cname}: unavailable ({reason}), skipped")
            rows.append({"codec": cname, "error": reason})
            continue
        try:
            found = find_quality(codec, src, budget, *codec.search_range)
            dec = codec.decode(found["data"])
        except Exception as exc:
            log(f"  {cname}: failed ({type(exc).__name__}: {exc}), skipped")
            rows.append({"codec": cname, "error": f"{type(exc).__name__}: {exc}"})
            continue
        rec = np.array(dec, dtype=np.uint8)
        n = len(found["data"])
        row = {"codec": cname, "quality": found["quality"], "bytes": n, "bpp": 8 * n / (w * h),
               "psnr": psnr(ref, rec), "msssim": ms_ssim_rgb(ref, rec), "over_budget": found["over_budget"]}
        rows.append(row)
        flag = " OVER BUDGET" if row["over_budget"] else ""
        log(f"  {cname:<14} q={row['quality']:<3} {n:>7} B  {row['bpp']:.3f} bpp  "
            f"PSNR {row['psnr']:.2f} dB  MS-SSIM {row['msssim']:.4f}{flag}")
        tiles.append((tile(dec), [f"{codec.label} q={row['quality']}{flag}",
                                  f"{n} B, {row['bpp']:.3f} bpp",
                                  f"{row['psnr']:.2f} dB, MS-SSIM {row['msssim']:.4f}"]))
    cols = cols or min(len(tiles), 4)
    title = f"{name}: largest file <= {budget} bytes ({8 * budget / (w * h):.3f} bpp) per codec"
    sheet = compose(tiles, cols, title=title)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, format="PNG")
    return {"image": name, "budget": budget, "crop": box, "out": str(out), "codecs": rows}
