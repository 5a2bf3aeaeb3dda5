"""Tiled inference equals whole-image inference (no seams, bounded memory)."""

from __future__ import annotations

from fractions import Fraction

import torch

from pillow_nnc import zoo
from pillow_nnc.models.tiling import tiled


def test_tiled_transforms_match_whole_image_inference() -> None:
    model = zoo.engine(zoo.default_model("transform")).model
    torch.manual_seed(0)
    x = torch.rand(1, 3, 192, 272)
    y = torch.randn(1, model.m, 9, 13)
    with torch.no_grad():
        whole_a, tiles_a = model.g_a(x), tiled(model.g_a, x, tile=64, margin=64, scale=Fraction(1, 16))
        whole_s, tiles_s = model.g_s(y), tiled(model.g_s, y, tile=4, margin=4, scale=Fraction(16))
    assert tiles_a.shape == whole_a.shape and tiles_s.shape == whole_s.shape
    assert torch.allclose(tiles_a, whole_a, atol=1e-4)
    assert torch.allclose(tiles_s, whole_s, atol=1e-4)
