"""Pictures of a recurrent file's rate map over its image (``nnc ratemap``):
where spatially adaptive bit rates stopped early and where they kept coding."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from .. import container
from ..entropy.flat_blocks import decode_flat
from ..entropy.rate_map import decode_map

# Colours for "few" to "many" iterations (dark blue -> teal -> yellow -> red).
_STOPS = np.array([(40, 40, 160), (30, 160, 160), (240, 220, 40), (220, 40, 30)], np.float64)
_FLAT = np.array((90, 200, 90), np.float64)  # blocks painted flat (FLAT_BLOCKS)


def _colour(fraction: np.ndarray) -> np.ndarray:
    """Piecewise-linear colour scale for values in [0, 1]."""
    pos = fraction * (len(_STOPS) - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, len(_STOPS) - 2)
    w = (pos - lo)[..., None]
    return _STOPS[lo] * (1 - w) + _STOPS[lo + 1] * w


def rate_map_picture(data: bytes, alpha: float = 0.45) -> Image.Image:
    """The decoded image in grey, each 16x16 block tinted by its iteration
    count (green: painted flat), with a legend strip below. ``ValueError``
    if the file has no map."""
    header = container.read_header(io.BytesIO(data))
    if header.rate_map is None:
        msg = "nnc: the file has no rate map (saved with sabr=False, by the transform codec, or no block stopped early)"
        raise ValueError(msg)
    with Image.open(io.BytesIO(data), formats=["NNC"]) as im:  # decoding validates the parameters
        grey = np.asarray(im.convert("L"), np.float64)[..., None].repeat(3, 2)
    n = header.codec_params[0]
    h, w = -(-header.height // 16), -(-header.width // 16)
    counts = decode_map(header.rate_map, h, w, n)
    tint = _colour((counts - 1) / max(n - 1, 1))
    if header.flat_blocks is not None:
        tint[decode_flat(header.flat_blocks, h, w)[0]] = _FLAT
    tint = tint.repeat(16, 0).repeat(16, 1)[: header.height, : header.width]
    picture = Image.fromarray(np.round(grey * (1 - alpha) + tint * alpha).astype(np.uint8))
    legend = Image.new("RGB", (picture.width, 18), "white")
    draw = ImageDraw.Draw(legend)
    cell = max(picture.width // (n + 1), 1)
    keys = [(str(k), _colour(np.array((k - 1) / max(n - 1, 1)))) for k in range(1, n + 1)] + [("flat", _FLAT)]
    for i, (label, colour) in enumerate(keys):
        x0 = i * cell
        draw.rectangle([x0, 0, x0 + cell - 1, 17], fill=tuple(int(v) for v in colour))
        draw.text((x0 + 2, 3), label, fill="white")
    out = Image.new("RGB", (picture.width, picture.height + 18), "white")
    out.paste(picture, (0, 0))
    out.paste(legend, (0, picture.height))
    return out
