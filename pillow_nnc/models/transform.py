"""Content-weighted transform codec: Balle's transforms and hyperprior with
Li's importance map, one model for every rate.

* ``g_a``/``g_s``: GDN transforms, total stride 16.
* Rate control: per-channel gains (gain units) indexed by a continuous
  quality level ``q`` in ``[0, LEVELS-1]``; training samples ``q`` per image.
* Importance map: per latent position, how many of the ``GROUPS`` ordered
  channel groups are kept (at least one). The payload is ordered by group,
  so a file prefix still decodes (training truncates groups at random).
* Hyperprior: ``h_a`` summarises the latents in ``z``; ``h_s`` predicts the
  log-scale of every latent. At coding time ``h_s`` runs as an exact integer
  network (:mod:`pillow_nnc.entropy.intnet`) so that the table index of
  every symbol is reproducible on any machine.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..entropy.scales import SCALE_MAX, SCALE_MIN
from .layers import GDN, Upsample, conv

LEVELS = 8
# Rate-distortion trade-off of each quality level: loss = lambda * D + bpp.
LAMBDAS = tuple(2.5 * (600 / 2.5) ** (k / (LEVELS - 1)) for k in range(LEVELS))


class TransformCodec(nn.Module):
    """Variable-rate learned transform codec (see module docstring)."""

    family = "transform"
    stride = 16
    hyper_stride = 64

    def __init__(self, n: int = 128, m: int = 192, nz: int = 64, groups: int = 12) -> None:
        super().__init__()
        assert m % groups == 0
        self.n, self.m, self.nz, self.groups = n, m, nz, groups
        self.g_a = nn.Sequential(
            conv(3, n, 5, 2), GDN(n), conv(n, n, 5, 2), GDN(n),
            conv(n, n, 5, 2), GDN(n), conv(n, m, 5, 2),
        )
        self.g_s = nn.Sequential(
            Upsample(m, n), GDN(n, inverse=True), Upsample(n, n), GDN(n, inverse=True),
            Upsample(n, n), GDN(n, inverse=True), Upsample(n, 3),
        )
        self.importance = nn.Sequential(conv(m, 64, 3), nn.ReLU(), conv(64, 1, 3))
        self.h_a = nn.Sequential(
            conv(m, nz, 3), nn.ReLU(), conv(nz, nz, 5, 2), nn.ReLU(), conv(nz, nz, 5, 2),
        )
        # h_s uses only conv3x3 / ReLU / depth-to-space: the ops the integer
        # network reproduces exactly.
        self.h_s = nn.Sequential(
            Upsample(nz, nz), nn.ReLU(), Upsample(nz, nz), nn.ReLU(), conv(nz, m, 3),
        )
        # Gains start spread over ~12x so that the levels differ in rate from
        # the first step; training then shapes them per channel.
        spread = torch.linspace(-1.25, 1.25, LEVELS).unsqueeze(1).repeat(1, m)
        self.log_gain = nn.Parameter(spread.clone())
        self.log_inv_gain = nn.Parameter(-spread)
        self.z_log_scale = nn.Parameter(torch.zeros(nz))

    # -- rate control -------------------------------------------------------
    @staticmethod
    def _interp(table: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Linear interpolation of per-level rows at continuous levels ``q`` (B,)."""
        lo = q.floor().clamp(0, LEVELS - 1)
        hi = (lo + 1).clamp(max=LEVELS - 1)
        t = (q - lo).unsqueeze(1)
        return table[lo.long()] * (1 - t) + table[hi.long()] * t

    def gain(self, q: torch.Tensor) -> torch.Tensor:
        return self._interp(self.log_gain, q).exp()[:, :, None, None]

    def inv_gain(self, q: torch.Tensor) -> torch.Tensor:
        return self._interp(self.log_inv_gain, q).exp()[:, :, None, None]

    # -- pieces used by both training and coding ----------------------------
    def analysis(self, x: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gained latents and importance (groups kept, continuous in [1, G])."""
        y = self.g_a(x) * self.gain(q)
        return y, self.importance_of(y, q)

    def importance_of(self, y: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Groups kept per latent position, continuous in [floor(q), G].

        The importance map chooses between a floor that rises with the
        quality level (1 group at level 0, all G at the top) and all G
        groups. Without the floor the map collapsed to one group early in
        training, when the decoder could not yet use the later groups, and
        never recovered (observed); starting with all groups at every level
        diverged.
        """
        floor = 1 + (self.groups - 1) * q.view(-1, 1, 1, 1) / (LEVELS - 1)
        return floor + torch.sigmoid(self.importance(y)) * (self.groups - floor)

    def group_mask(self, kept: torch.Tensor, cap: torch.Tensor | None = None) -> torch.Tensor:
        """Channel mask from the importance map, hard forward, soft gradient."""
        g = torch.arange(self.groups, device=kept.device, dtype=kept.dtype).view(1, -1, 1, 1)
        soft = (kept - g).clamp(0, 1)
        hard = (kept.ceil() > g).to(kept.dtype)
        mask = hard + soft - soft.detach()
        if cap is not None:
            mask = mask * (g < cap.view(-1, 1, 1, 1)).to(mask.dtype)
        return mask.repeat_interleave(self.m // self.groups, dim=1)

    def rounded_bits(self, y: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
        """Estimated bits per image of the rounded latents and hyper-latents
        (continuous Gaussian per bin, no importance map): what validation
        reports and what the coded file is compared with."""
        return self.latent_bits(y.round(), self.h_a(pad_to(y, 4)).round(), self.group_mask(kept))

    def latent_bits(self, y_hat: torch.Tensor, z_hat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Estimated bits per image of latents ``y_hat`` (those ``mask`` keeps)
        and hyper-latents ``z_hat``, each under its Gaussian integrated over a
        unit bin."""
        log_s = self.log_scales(z_hat).clamp(math.log(SCALE_MIN), math.log(SCALE_MAX))[..., : y_hat.shape[2], : y_hat.shape[3]]
        bits = (_gauss_bits(y_hat, log_s.exp()) * mask).sum((1, 2, 3))
        return bits + _gauss_bits(z_hat, self.z_log_scale.exp().view(1, -1, 1, 1)).sum((1, 2, 3))

    def synthesis(self, y_hat: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return self.g_s(y_hat * self.inv_gain(q))

    def log_scales(self, z_hat: torch.Tensor) -> torch.Tensor:
        return self.h_s(z_hat)

    # -- training -----------------------------------------------------------
    def forward(
        self, x: torch.Tensor, q: torch.Tensor, cap: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction and estimated bits per image (noise proxy for rate)."""
        y, kept = self.analysis(x, q)
        mask = self.group_mask(kept, cap)
        z = self.h_a(pad_to(y, 4))  # as coded: patches need not be multiples of 64
        z_noisy = z + torch.empty_like(z).uniform_(-0.5, 0.5)
        z_hat = z + (z.round() - z).detach()
        z_bits = _gauss_bits(z_noisy, self.z_log_scale.exp().view(1, -1, 1, 1)).sum((1, 2, 3))
        # Clamp the log before exp: exp overflowing to inf makes the clamp's
        # backward 0 * inf = NaN.
        log_s = self.log_scales(z_hat)[..., : y.shape[2], : y.shape[3]]
        scales = log_s.float().clamp(math.log(SCALE_MIN), math.log(SCALE_MAX)).exp()
        y = y.float()
        y_noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        y_bits = (_gauss_bits(y_noisy, scales) * mask).sum((1, 2, 3))
        y_hat = (y + (y.round() - y).detach()) * mask
        x_hat = self.synthesis(y_hat, q)
        # The importance map itself: at most log2(G) bits per latent position.
        map_bits = math.log2(self.groups) * kept[:, 0].numel() / kept.shape[0]
        return x_hat, y_bits + z_bits + map_bits


def _gauss_bits(v: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """-log2 P(v) under a zero-mean Gaussian integrated over a unit bin."""
    v = v.float().abs()
    upper = torch.special.ndtr((0.5 - v) / scale)
    lower = torch.special.ndtr((-0.5 - v) / scale)
    return -torch.log2((upper - lower).clamp_min(1e-9))


def pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad the bottom/right so both sides are multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x
