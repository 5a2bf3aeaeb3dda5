"""Building blocks shared by the learned transforms."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GDN(nn.Module):
    """Simplified generalized divisive normalization (Johnston et al. 2019).

    ``y = x / (beta + gamma * |x|)`` (or its inverse): a cheap, stable form of
    Balle's GDN that gaussianises the latents as well as the squared form does.
    """

    def __init__(self, channels: int, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(0.1 * torch.eye(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        gamma = self.gamma.abs().view(channels, channels, 1, 1)
        beta = self.beta.abs() + 1e-3  # bounded away from 0: no blow-up of x / norm
        norm = F.conv2d(x.abs(), gamma, beta)
        return x * norm if self.inverse else x / norm


def conv(cin: int, cout: int, kernel: int = 5, stride: int = 1) -> nn.Conv2d:
    """'Same'-padded convolution; stride 2 halves the size."""
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


class Upsample(nn.Sequential):
    """Sub-pixel convolution: conv to 4x channels, then depth-to-space by 2.

    Cheaper than a transposed convolution on the CPU and free of its
    checkerboard artefacts.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 3) -> None:
        super().__init__(conv(cin, cout * 4, kernel), nn.PixelShuffle(2))
