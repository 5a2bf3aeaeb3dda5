"""What one training step and one validation mean for the transform codec.

Each step samples one quality level per patch (so one model learns every
rate), truncates the channel groups of a quarter of the patches (so every
payload prefix decodes), and minimises ``lambda(q) * D + bpp``.
"""

from __future__ import annotations

import argparse
import random

import numpy as np
import torch

from ..metrics import ms_ssim, ssimulacra2_rgb
from ..models.objective import distortion, lambda_of
from ..models.transform import LEVELS, TransformCodec
from .objective import float_tensors, interpolate_at, to_uint8


class TransformTask:
    """Loss and validation of :class:`TransformCodec`."""

    family = "transform"

    def __init__(self, args: argparse.Namespace, config: dict | None = None) -> None:
        self.model = TransformCodec(**(config or {}))
        self.bf16 = not args.no_bf16
        self.mse_weight = args.mse_weight
        self.lambda_top = args.lambda_top

    def config(self) -> dict:
        m = self.model
        return {"n": m.n, "m": m.m, "nz": m.nz, "groups": m.groups}

    def init_from(self, path: str) -> bool:
        """Load a released transform model; True: same family."""
        self.model.load_state_dict(float_tensors(path))
        return True

    def loss(self, x: torch.Tensor, rng: random.Random) -> tuple[torch.Tensor, dict]:
        model = self.model
        # Drawn on the CPU whatever the device, so a run's random stream does not depend on it.
        q = (torch.rand(len(x)) * (LEVELS - 1)).to(x.device)
        cap = torch.randint(1, model.groups + 1, (len(x),)).to(x.device) if rng.random() < 0.25 else None
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            x_hat, bits = model(x, q, cap)
        d = distortion(x_hat, x, self.mse_weight)
        bpp = bits / (x.shape[2] * x.shape[3])
        return (lambda_of(q, self.lambda_top) * d + bpp).mean(), {"bpp": bpp.mean().item(), "dist": d.mean().item()}

    @torch.no_grad()
    def validate(self, crops: torch.Tensor) -> dict:
        """Estimated bpp, MS-SSIM, PSNR, SSIMULACRA 2 and channel groups kept
        at every quality level, plus MS-SSIM and PSNR interpolated at 0.25 and
        0.5 bpp (the learning-curve numbers)."""
        model = self.model.eval()
        device = next(model.parameters()).device
        curve = []
        for level in range(LEVELS):
            q = torch.full((crops.shape[0],), float(level), device=device)
            bpps, msss, psnrs, ssim2s, groups = [], [], [], [], []
            for i in range(0, crops.shape[0], 8):
                x = crops[i : i + 8].to(device)
                y, kept = model.analysis(x, q[: len(x)])
                bits = model.rounded_bits(y, kept)
                x_hat = model.synthesis(y.round() * model.group_mask(kept), q[: len(x)]).clamp(0, 1)
                x_hat = (x_hat * 255).round() / 255
                bpps += (bits / (x.shape[2] * x.shape[3])).tolist()
                msss += ms_ssim(x_hat, x).tolist()
                psnrs += (-10 * torch.log10(((x_hat - x) ** 2).mean((1, 2, 3)))).tolist()
                ssim2s += [ssimulacra2_rgb(a, b) for a, b in zip(to_uint8(x), to_uint8(x_hat))]
                groups += kept.ceil().clamp(1, model.groups).mean((1, 2, 3)).tolist()
            curve.append(tuple(float(np.mean(v)) for v in (bpps, msss, psnrs, ssim2s, groups)))
        model.train()
        return {"curve": curve, **interpolate_at(curve)}
