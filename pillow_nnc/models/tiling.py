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
    map to whole output units.
    """
    _, _, h, w = x.shape
    if h <= tile + 2 * margin and w <= tile + 2 * margin:
        return fn(x)
    rows = []
    for top in range(0, h, tile):
        row = []
        for left in range(0, w, tile):
            y0, x0 = max(0, top - margin), max(0, left - margin)
            y1, x1 = min(h, top + tile + margin), min(w, left + tile + margin)
            out = fn(x[:, :, y0:y1, x0:x1])
            oy, ox = int((top - y0) * scale), int((left - x0) * scale)
            th, tw = int(min(tile, h - top) * scale), int(min(tile, w - left) * scale)
            row.append(out[:, :, oy : oy + th, ox : ox + tw])
        rows.append(torch.cat(row, dim=3))
    return torch.cat(rows, dim=2)
