"""Image quality metrics (via pytorch-msssim) used by training, SABR-like
rate control and the benchmarks.

pytorch-msssim's public ``ms_ssim`` insists on five scales (sides > 160 px);
training patches and thumbnails are smaller, so :func:`ms_ssim` drops the
coarsest scales when the image is too small and renormalises the weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim
from torch.nn import functional as F

_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WIN = 11


def ms_ssim(x: torch.Tensor, y: torch.Tensor, levels: int | None = None) -> torch.Tensor:
    """Per-image MS-SSIM of (B, C, H, W) tensors in [0, 1].

    Uses all five scales when the image allows it (the standard definition,
    except that per-scale terms are floored at 1e-4 instead of 0, which only
    matters for garbage images and keeps training gradients finite),
    otherwise as many as fit; a single scale is plain SSIM.
    """
    side = min(x.shape[-2:])
    fit = 1
    while fit < 5 and side > (_WIN - 1) * 2**fit:
        fit += 1
    levels = min(levels or 5, fit)
    if side < _WIN:
        raise ValueError(f"image side {side} is below the {_WIN}-pixel SSIM window")
    weights = x.new_tensor(_WEIGHTS[:levels])
    weights = weights / weights.sum()
    win = _fspecial_gauss_1d(_WIN, 1.5).to(x).repeat(x.shape[1], 1, 1, 1)
    values = []
    for i in range(levels):
        ssim_c, cs = _ssim(x, y, data_range=1.0, win=win, size_average=False, K=(0.01, 0.03))
        if i < levels - 1:
            values.append(cs.clamp_min(1e-4))
            pad = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, 2, padding=pad)
            y = F.avg_pool2d(y, 2, padding=pad)
    values.append(ssim_c.clamp_min(1e-4))
    stacked = torch.stack(values, 0)
    return torch.prod(stacked ** weights.view(-1, 1, 1), 0).mean(1)


# Pixels per band of block_ssim_mse, so its temporaries do not grow with the
# image's width (a fixed 256 rows did).
BAND_PIXELS = 512 * 1024


def block_ssim_mse(
    x_hat: torch.Tensor, x: torch.Tensor, block: int, band: int | None = None,
    prepare: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM (11x11 Gaussian window, sigma 1.5, channels averaged) and
    MSE over each ``block x block`` block of (1, C, H, W) images whose sides
    are multiples of ``block``, both ``(H/block, W/block)``; ``x_hat`` is
    clamped to [0, 1] first. Spatially adaptive rate control stops a block
    on these, so the block quality it sees is the finest scale of the
    MS-SSIM it is judged by.

    Runs in bands of ``band`` rows (a multiple of ``block``; by default as
    many as make :data:`BAND_PIXELS` pixels) with the window's margin of
    real rows, replicating only at the image's own edges, so the result is
    the whole image's while the window statistics (15 planes of floats) and
    the clamped copy exist for one band at a time: whole, they took several
    GB for a 24-megapixel image (with bands sized by pixels instead of 256
    rows, the recurrent 24-megapixel encode peaked at 3186 MiB instead of
    3213). ``prepare``, if
    given, changes each band of ``x_hat`` (a clamped copy, and the image
    row it starts at) first: the recurrent encoder paints flat blocks there,
    so the painted image never exists whole."""
    if band is None:
        band = max(block, BAND_PIXELS // x.shape[3] // block * block)
    if band % block:
        raise ValueError(f"band {band} is not a multiple of the block {block}")
    pad = _WIN // 2
    h = x.shape[2]
    ssim, mse = [], []
    for y0 in range(0, h, band):
        y1 = min(h, y0 + band)
        lo, hi = max(0, y0 - pad), min(h, y1 + pad)
        a, b = x_hat[:, :, lo:hi].float().clamp(0, 1), x[:, :, lo:hi]
        if prepare is not None:
            a = prepare(a, lo)
        margins = (pad, pad, pad - (y0 - lo), pad - (hi - y1))  # left, right, top, bottom
        ssim.append(_block_ssim_band(a, b, block, margins))
        inner = slice(y0 - lo, y1 - lo)
        mse.append(F.avg_pool2d((a[:, :, inner] - b[:, :, inner]).square_().mean(1, keepdim=True), block)[0, 0])
    return torch.cat(ssim, 0), torch.cat(mse, 0)


def _block_ssim_band(x: torch.Tensor, y: torch.Tensor, block: int, margins: tuple[int, int, int, int]) -> torch.Tensor:
    c = x.shape[1]
    win = _fspecial_gauss_1d(_WIN, 1.5).to(x)

    def blur(v: torch.Tensor) -> torch.Tensor:
        v = F.pad(v, margins, mode="replicate")
        v = F.conv2d(v, win.repeat(v.shape[1], 1, 1, 1), groups=v.shape[1])
        return F.conv2d(v, win.transpose(-1, -2).repeat(v.shape[1], 1, 1, 1), groups=v.shape[1])

    stats = blur(torch.cat([x, y, x * x, y * y, x * y], 1))
    mx, my, xx, yy, xy = stats.split(c, 1)
    c1, c2 = 0.01**2, 0.03**2
    vx, vy, cov = xx - mx * mx, yy - my * my, xy - mx * my
    ssim = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return F.avg_pool2d(ssim.mean(1, keepdim=True), block)[0, 0]


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 array to a (1, 3, H, W) float tensor in [0, 1]."""
    return torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None].float() / 255


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB over all channels of two uint8 arrays."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ms_ssim_rgb(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM (RGB) of two uint8 (H, W, 3) arrays, as the benchmarks report it."""
    with torch.no_grad():
        return float(ms_ssim(to_tensor(a), to_tensor(b))[0])
