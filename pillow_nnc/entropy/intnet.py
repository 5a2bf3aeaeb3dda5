"""Exact integer version of the hyper-synthesis network.

The decoder must derive the probability table of every latent from the
bitstream alone, bit for bit as the encoder did, on any CPU or GPU and any
thread count. Floating-point convolutions do not guarantee that, so the
scale-predicting network runs on integers: weights and activations are
fixed-point integers, convolutions are im2col + matmul in float64 on values
that are integers below 2**53 (every product and partial sum is then exact,
whatever the summation order), and rescaling is integer floor division.

The result is the index of a rung of the scale ladder
(:mod:`pillow_nnc.entropy.scales`) per latent.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .scales import LOG_STEP, NUM_SCALES, SCALE_MIN

WEIGHT_BITS = 12   # largest |weight| of a layer maps to about 2**12
ACT_SHIFT = 8      # hidden activations keep 8 fractional bits
ACT_MAX = 2**24    # clamp keeps every accumulator far below 2**53
Z_MAX = 255        # coded hyper-latents are clipped to +-Z_MAX


def quantize(h_s: nn.Sequential) -> dict[str, torch.Tensor]:
    """Integer tensors of ``h_s`` (Upsample, ReLU, Upsample, ReLU, conv).

    Layer ``i`` gets ``w{i}`` (int32 weights), ``b{i}`` (int64 bias at the
    accumulator's scale) and ``s{i}`` (its weight shift).
    """
    convs = [h_s[0][0], h_s[2][0], h_s[4]]
    out: dict[str, torch.Tensor] = {}
    in_shift = 0
    for i, layer in enumerate(convs):
        w = layer.weight.detach().double()
        shift = WEIGHT_BITS - math.ceil(math.log2(w.abs().max().item() + 1e-12))
        out[f"w{i}"] = torch.round(w * 2.0**shift).to(torch.int32)
        out[f"b{i}"] = torch.round(layer.bias.detach().double() * 2.0 ** (shift + in_shift)).to(torch.int64)
        out[f"s{i}"] = torch.tensor([shift], dtype=torch.int32)
        if shift + in_shift < ACT_SHIFT:
            msg = f"h_s layer {i}: weights too large for {WEIGHT_BITS}-bit fixed point"
            raise ValueError(msg)
        in_shift = ACT_SHIFT
    # Rung = floor((acc - origin + step // 2) / step): the constants are
    # computed here once, so decoding uses no float maths at all.
    frac = int(out["s2"]) + ACT_SHIFT
    out["origin"] = torch.tensor([round(math.log(SCALE_MIN) * 2**frac)], dtype=torch.int64)
    out["step"] = torch.tensor([round(LOG_STEP * 2**frac)], dtype=torch.int64)
    return out


def _conv(a: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact 3x3 'same' convolution of an int64 (1, C, H, W) tensor."""
    _, _, h, wd = a.shape
    cols = F.unfold(a.double(), 3, padding=1)                    # (1, C*9, H*W)
    acc = w.double().reshape(w.shape[0], -1) @ cols[0]           # (O, H*W)
    return acc.to(torch.int64).reshape(1, -1, h, wd) + b.view(1, -1, 1, 1)


def _rescale(acc: torch.Tensor, shift: int) -> torch.Tensor:
    """ReLU, then floor-divide by 2**shift, clamped (exact integer ops)."""
    return torch.div(acc.clamp_min(0), 2**shift, rounding_mode="floor").clamp_max(ACT_MAX)


def scale_indices(params: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
    """Scale-ladder index (int64, (1, M, 4h, 4w)) of every latent, from integer ``z``."""
    a = z.to(torch.int64).clamp(-Z_MAX, Z_MAX)
    for i in range(2):
        shift = int(params[f"s{i}"])
        in_shift = 0 if i == 0 else ACT_SHIFT
        acc = _conv(a, params[f"w{i}"], params[f"b{i}"])
        a = F.pixel_shuffle(_rescale(acc, shift + in_shift - ACT_SHIFT), 2)
    acc = _conv(a, params["w2"], params["b2"])
    # acc / 2**(s2 + 8) is the log-scale; index = round((log s - log s_min) / step).
    origin, step = int(params["origin"]), int(params["step"])
    idx = torch.div(acc - origin + step // 2, step, rounding_mode="floor")
    return idx.clamp(0, NUM_SCALES - 1)
