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
    y = torch.randn(1, model.m, 12, 17)
    with torch.no_grad():
        whole_a, tiles_a = model.g_a(x), tiled(model.g_a, x, tile=64, margin=64, scale=Fraction(1, 16))
        whole_s, tiles_s = model.g_s(y), tiled(model.g_s, y, tile=4, margin=4, scale=Fraction(16))
    assert tiles_a.shape == whole_a.shape and tiles_s.shape == whole_s.shape
    assert torch.allclose(tiles_a, whole_a, atol=1e-4)
    assert torch.allclose(tiles_s, whole_s, atol=1e-4)


def test_block_quality_in_bands_matches_the_whole_image(monkeypatch) -> None:
    """The SABR block quality runs in bands of rows (bounded memory for large
    images) and equals one pass over the whole image, edges included."""
    import pytest
    import torch.nn.functional as F

    from pillow_nnc import metrics
    from pillow_nnc.metrics import block_ssim_mse

    torch.manual_seed(1)
    x = torch.rand(1, 3, 208, 96)
    y = x + 0.1 * torch.randn_like(x)  # leaves [0, 1]: clamped inside
    ssim, mse = block_ssim_mse(y, x, 16, band=208)
    assert ssim.shape == mse.shape == (13, 6)
    torch.testing.assert_close(mse, F.avg_pool2d((y.clamp(0, 1) - x).pow(2).mean(1, keepdim=True), 16)[0, 0])
    for band in (16, 48, 64):  # one block row, and bands that do not divide the height
        s_b, m_b = block_ssim_mse(y, x, 16, band=band)
        torch.testing.assert_close(s_b, ssim, atol=1e-6, rtol=0)
        torch.testing.assert_close(m_b, mse, atol=1e-7, rtol=0)
    monkeypatch.setattr(metrics, "BAND_PIXELS", 96 * 32)  # the default band: two block rows here
    s_d, m_d = block_ssim_mse(y, x, 16)
    torch.testing.assert_close(s_d, ssim, atol=1e-6, rtol=0)
    torch.testing.assert_close(m_d, mse, atol=1e-7, rtol=0)
    assert ssim.min() < 0.99 and ssim.max() <= 1  # a real SSIM, not a constant
    with pytest.raises(ValueError, match="multiple"):
        block_ssim_mse(y, x, 16, band=40)
