"""The rate-distortion objective the transform models are trained for, and
that the encoder's effort (``engines.refine``) minimises for one image:
``lambda(q) * D + bpp``."""

from __future__ import annotations

import math

import torch

from ..metrics import ms_ssim
from .transform import LAMBDAS, LEVELS

# Models released before the objective was recorded in their metadata
# (ids 1-15) were trained with these.
DEFAULT_OBJECTIVE = {"mse_weight": 3.0, "lambda_top": LAMBDAS[-1]}


def distortion(x_hat: torch.Tensor, x: torch.Tensor, mse_weight: float) -> torch.Tensor:
    """Per-image ``(1 - MS-SSIM) + mse_weight * MSE``: MS-SSIM hardly sees a
    colour cast (its luminance term acts at the coarsest scale only); the
    MSE term keeps colours and flat areas honest.

    ``x_hat`` is clamped to [0, 1] with a straight-through gradient: a plain
    clamp has no gradient outside the range, and a model whose output leaves
    it early never comes back (observed); no clamp lets the IGDN layers blow up.
    """
    x_hat = x_hat.float()
    x_hat = x_hat + (x_hat.clamp(0, 1) - x_hat).detach()
    mse = ((x_hat - x) ** 2).mean((1, 2, 3))
    levels = 4 if min(x.shape[-2:]) >= 128 else 3
    return (1 - ms_ssim(x_hat, x, levels=levels)) + mse_weight * mse


def lambda_of(q: torch.Tensor, top: float = LAMBDAS[-1]) -> torch.Tensor:
    """Log-linear interpolation of the per-level lambdas at continuous q; the
    top level's lambda is ``top`` (the bottom one stays ``LAMBDAS[0]``)."""
    logs = torch.tensor([math.log(LAMBDAS[0]) + k / (LEVELS - 1) * math.log(top / LAMBDAS[0]) for k in range(LEVELS)])
    logs = logs.to(q.device)
    lo = q.floor().clamp(0, LEVELS - 1).long()
    hi = (lo + 1).clamp(max=LEVELS - 1)
    t = q - lo
    return (logs[lo] * (1 - t) + logs[hi] * t).exp()
