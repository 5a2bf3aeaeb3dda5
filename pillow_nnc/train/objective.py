"""Pieces of the training objective shared by both model families."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open

from ..bench.bdrate import BDRateError, bd_rate
from ..bench.codecs import jpeg_payload
from ..metrics import ms_ssim_rgb, psnr, ssimulacra2_rgb

def interpolate_at(curve: list[tuple[float, ...]], targets: tuple[float, ...] = (0.25, 0.5)) -> dict:
    """MS-SSIM and PSNR at the learning-curve rates, from (bpp, MS-SSIM, PSNR, ...) points."""
    xs = [c[0] for c in curve]
    out = {}
    for target in targets:
        out[f"msssim@{target}"] = float(np.interp(target, xs, [c[1] for c in curve]))
        out[f"psnr@{target}"] = float(np.interp(target, xs, [c[2] for c in curve]))
    return out


def float_tensors(path: str) -> dict[str, torch.Tensor]:
    """The float (network) tensors of a released weights file."""
    with safe_open(str(path), framework="pt") as f:
        return {k[6:]: f.get_tensor(k).float() for k in f.keys() if k.startswith("float.")}


def file_metadata(path: str) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


JPEG_QUALITIES = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
# Position of each metric in a validation curve's points and in the anchor's:
# (bpp, MS-SSIM, PSNR, SSIMULACRA 2, ...).
METRIC_INDEX = {"msssim": 1, "psnr": 2, "ssimulacra2": 3}


def to_uint8(x: torch.Tensor) -> list[np.ndarray]:
    """(B, 3, H, W) floats in [0, 1] to (H, W, 3) uint8 arrays."""
    return list((x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())


def jpeg_roundtrip(im: np.ndarray, quality: int) -> tuple[bytes, np.ndarray]:
    """The JPEG anchor (4:2:0, optimized) of an (H, W, 3) uint8 image at
    ``quality``: its bytes and its decoded pixels."""
    buf = io.BytesIO()
    Image.fromarray(im).save(buf, format="JPEG", quality=quality, subsampling=2, optimize=True)
    return buf.getvalue(), np.asarray(Image.open(buf).convert("RGB"))


def jpeg_reference(crops: torch.Tensor, payload: bool = False) -> list[tuple[float, float, float, float]]:
    """(bpp, MS-SSIM, PSNR, SSIMULACRA 2) of JPEG 4:2:0 (optimize) on the
    validation crops: the anchor that validation reports BD-rates against, so
    a run shows when it passes JPEG without looking at the Kodak test set.
    ``payload`` counts only the entropy-coded scan bytes, as the thumbnail
    benchmark does: a JPEG header alone is 4 bpp at 32x32."""
    images = to_uint8(crops)
    points = []
    for quality in JPEG_QUALITIES:
        rows = []
        for im in images:
            data, dec = jpeg_roundtrip(im, quality)
            size = jpeg_payload(data) if payload else len(data)
            rows.append((8 * size / (im.shape[0] * im.shape[1]), ms_ssim_rgb(im, dec), psnr(im, dec), ssimulacra2_rgb(im, dec)))
        points.append(tuple(float(v) for v in np.mean(rows, 0)))
    return points


def bd_vs(anchor: list[tuple[float, ...]], curve: list[tuple[float, ...]], metric: str = "msssim") -> float | None:
    """BD-rate (%) of a validation curve against ``anchor`` on ``metric``;
    None when the curves do not overlap (early in training) or the curve
    does not report the metric."""
    i = METRIC_INDEX[metric]
    if len(curve[0]) <= i:
        return None
    try:
        return bd_rate([p[0] for p in anchor], [p[i] for p in anchor], [c[0] for c in curve], [c[i] for c in curve])
    except BDRateError:
        return None
