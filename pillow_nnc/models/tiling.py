"""Run a fully convolutional network over a large image in overlapping tiles.

Memory then depends on the tile size, not the image size. Each tile is run
with a margin wider than the network's receptive field and only its centre
is kept, so the stitched result equals whole-image inference up to float
rounding: no seams.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import torch


def tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    tile: int,
    margin: int,
    scale: Fraction,
) -> torch.Tensor:
    """``fn(x)`` computed tile by tile.

    ``scale`` is the output/input size ratio of ``fn`` (1/16 for analysis,
    16 for synthesis); ``tile`` and ``margin`` are in input units and must
    map to whole output units. An input of no more area than one tile with
    its margins runs whole, whatever its shape (a 768x512 Kodak image with
    512-pixel tiles would otherwise run as tiles 576 and 320 pixels wide
    with their margins, 896 columns for 768, for no memory saved). Each
    tile's centre is written straight into the output (stitching rows and
    then the image with ``torch.cat`` held the output twice; a 24-megapixel
    image is 288 MB in fp32).
    """
    _, _, h, w = x.shape
    if h * w <= (tile + 2 * margin) ** 2:  # no larger than one tile with its margins
        return fn(x)
    out = None
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            y0, x0 = max(0, top - margin), max(0, left - margin)
            y1, x1 = min(h, top + tile + margin), min(w, left + tile + margin)
            part = fn(x[:, :, y0:y1, x0:x1])
            if out is None:
                out = part.new_empty(part.shape[0], part.shape[1], int(h * scale), int(w * scale))
            oy, ox = int((top - y0) * scale), int((left - x0) * scale)
            th, tw = int(min(tile, h - top) * scale), int(min(tile, w - left) * scale)
            oy0, ox0 = int(top * scale), int(left * scale)
            out[:, :, oy0 : oy0 + th, ox0 : ox0 + tw] = part[:, :, oy : oy + th, ox : ox + tw]
            del part
    return out
