"""Image quality metrics used by training, SABR-like rate control and the
benchmarks: PSNR, MS-SSIM (via pytorch-msssim), SSIMULACRA 2 (via the
ssimulacra2 package) and Butteraugli (libjxl's ``butteraugli_main``).

pytorch-msssim's public ``ms_ssim`` insists on five scales (sides > 160 px);
training patches and thumbnails are smaller, so :func:`ms_ssim` drops the
coarsest scales when the image is too small and renormalises the weights.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
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


def _recursive_gaussian_kernel(sigma: float = 1.5) -> np.ndarray:
    """The impulse response of libjxl's recursive Gaussian (Charalampidis
    2016, as ``CreateRecursiveGaussian``): exactly a sum of three cosines
    over |i| < radius (they vanish at +-radius), so a 9-tap convolution
    with zeros outside the image reproduces libjxl's blur."""
    radius = round(3.2795 * sigma + 0.2546)
    omega = np.pi / (2 * radius) * np.array([1.0, 3.0, 5.0])
    sign = np.array([1.0, -1.0, 1.0])
    p = sign / np.tan(omega / 2)
    r = sign * p * p / np.sin(omega)
    rho = np.exp(-0.5 * sigma**2 * omega**2) / radius
    d13, d35, d51 = p[0] * r[1] - r[0] * p[1], p[1] * r[2] - r[1] * p[2], p[2] * r[0] - r[2] * p[0]
    zeta = (d35 / d13, d51 / d13)
    beta = np.linalg.solve([p, r, [zeta[0], zeta[1], 1.0]],
                           [1.0, radius * radius - sigma * sigma, zeta[0] * rho[0] + zeta[1] * rho[1] + rho[2]])
    return beta @ np.cos(np.outer(omega, np.arange(1 - radius, radius)))


_S2_KERNEL = _recursive_gaussian_kernel()


def _s2_blur(planes: np.ndarray) -> np.ndarray:
    """Blur the first two axes of ``planes`` with :data:`_S2_KERNEL`, zeros outside."""
    n = _S2_KERNEL.size // 2
    for axis in (0, 1):
        x = np.moveaxis(planes, axis, 0)
        padded = np.pad(x, [(n, n)] + [(0, 0)] * (x.ndim - 1))
        size = x.shape[0]
        out = _S2_KERNEL[n] * x
        for i in range(1, n + 1):  # symmetric taps: one multiply per pair
            out += _S2_KERNEL[n + i] * (padded[n - i : n - i + size] + padded[n + i : n + i + size])
        planes = np.moveaxis(out, 0, axis)
    return planes


def ssimulacra2_rgb(ref: np.ndarray, dist: np.ndarray) -> float:
    """SSIMULACRA 2.1 score of two (H, W, 3) uint8 sRGB arrays: 100 for
    identical images, about 90 visually lossless, 50 medium, 10 very low,
    negative for very strong distortion.

    The ssimulacra2 package (0.3.0) gives the colour transform, the error
    maps and the weights; the blur and the scale loop follow libjxl
    instead, because the package's scipy Gaussian moved scores by up to
    4.6 points and it stops one scale earlier than libjxl on small images.
    Like libjxl, images under 8 px a side raise ValueError (the package
    returns 100 there whatever the distortion), and a 32x32 image gets 4
    scales (32 to 4 px), whose terms use the first 4 scales' slots of the
    108-weight table as in libjxl.
    Cross-checked: libjxl's scores for JPEG q20/45/70/90 of a 256x256 crop
    (imazen/ssimulacra2 jpeg_quality_reference.rs) within 0.2 points."""
    from ssimulacra2 import ssimulacra2 as s2  # imports scipy: kept off the plugin's import path

    if ref.shape != dist.shape or ref.ndim != 3 or ref.shape[2] != 3:
        raise ValueError(f"need two (H, W, 3) arrays of one shape, got {ref.shape} and {dist.shape}")
    if min(ref.shape[:2]) < 8:
        raise ValueError(f"SSIMULACRA 2 needs at least 8x8 pixels, got {ref.shape[1]}x{ref.shape[0]}")
    linear = [s2.srgb_to_linear(ref), s2.srgb_to_linear(dist)]
    msssim = s2.Msssim()
    for scale in range(s2.kNumScales):
        if min(linear[0].shape[:2]) < 8:  # libjxl tests the size before halving
            break
        if scale:
            linear = [s2.downsample(x, 2, 2) for x in linear]
        a, b = (s2.make_positive_xyb(s2.linear_rgb_to_xyb(x)) for x in linear)
        mu1, mu2, s11, s22, s12 = np.split(_s2_blur(np.concatenate([a, b, a * a, b * b, a * b], 2)), 5, 2)
        maps = s2.MsssimScale()
        maps.avg_ssim = s2.ssim_map(mu1, mu2, s11, s22, s12)
        maps.avg_edgediff = s2.edge_diff_map(a, mu1, b, mu2)
        msssim.scales.append(maps)
    return float(msssim.score())


def butteraugli_binary() -> str | None:
    """Path of libjxl's ``butteraugli_main`` (Debian: libjxl-devtools), or None."""
    return shutil.which("butteraugli_main")


def butteraugli_norms(ref: np.ndarray, dist: np.ndarray) -> tuple[float, float] | None:
    """Butteraugli max-norm distance and 3-norm of two (H, W, 3) uint8 sRGB
    arrays (0 = identical; about 1 is the visibility threshold), from one
    run of ``butteraugli_main`` at its default 80-nit intensity target, or
    None when the binary is absent."""
    binary = butteraugli_binary()
    if binary is None:
        return None
    with tempfile.TemporaryDirectory(prefix="nnc-butteraugli-") as tmp:
        paths = [Path(tmp) / "ref.png", Path(tmp) / "dist.png"]
        for path, pixels in zip(paths, (ref, dist)):
            Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(path, compress_level=1)
        out = subprocess.run([binary, *map(str, paths)], capture_output=True, text=True, check=True, timeout=600)
    words = out.stdout.split()
    return float(words[0]), float(words[words.index("3-norm:") + 1])


def butteraugli_rgb(ref: np.ndarray, dist: np.ndarray) -> float | None:
    """Butteraugli max-norm distance (see :func:`butteraugli_norms`), or None without the binary."""
    norms = butteraugli_norms(ref, dist)
    return None if norms is None else norms[0]
