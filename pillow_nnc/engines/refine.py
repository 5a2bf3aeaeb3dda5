"""Encoder effort for the transform codec: refine one image's latents and
hyper-latents by gradient descent on the model's own ``lambda * D + bpp``
(iterative inference, Yang, Bamler and Mandt 2020), ending on the integers
that are coded. The decoder and the format do not change.

The first :data:`SOFT` of the steps add uniform noise (the training proxy
for rounding), the rest round with a straight-through gradient, so the
search ends judging the integers it will code. Noise comes from a fixed
seed and the networks run in fp32: the same image and settings give the
same file whatever the thread count (under bf16 autocast, 1.6x faster,
they did not).

Large images are refined in tiles of latents with margins (only the
centre of each tile is kept), so memory follows the tile, as everywhere
else in the encoder.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from ..models.objective import distortion, lambda_of
from ..models.transform import TransformCodec, pad_to

# Gradient steps per effort 1..9 (effort 1: the analysis transform's guess).
STEPS = (0, 4, 8, 12, 18, 25, 35, 50, 70)
SOFT = 0.7
# Latents per tile side and margin (multiples of 4: the hyper-latents' stride).
TILE, MARGIN = 32, 4
MIN_SIDE = 2  # latents: below this (images of 16 px or less a side) there is nothing to refine


def step_count(effort: int) -> int:
    return STEPS[effort - 1]


def _learning_rate(steps: int) -> float:
    # Adam moves each latent by about lr per step: a short search needs a
    # bigger step to move a latent across a rounding boundary at all.
    return min(0.05, 0.5 / steps)


def refine(
    model: TransformCodec, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, q: torch.Tensor,
    steps: int, objective: dict, progress: Callable[[int, int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Refined integer latents and hyper-latents for image ``x`` ((1, 3, H, W)
    in [0, 1]) from the analysis latents ``y`` (gained), with the coded-group
    ``mask`` fixed. Returns rounded ``(y, z)`` as float tensors.
    ``progress(done, total)`` is called after every step."""
    h, w = y.shape[-2:]
    if steps == 0 or min(h, w) < MIN_SIDE:
        return y.round(), model.h_a(pad_to(y, 4)).round()
    whole = h * w <= (TILE + 2 * MARGIN) ** 2
    total = steps * (1 if whole else -(-h // TILE) * -(-w // TILE))
    done = [0]

    def step_done() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    if whole:
        return _refine_whole(model, x, y, mask, q, steps, objective, step_done)
    y_out, z_out = y.clone(), y.new_zeros(1, model.nz, -(-h // 4), -(-w // 4))  # every cell is written below
    for top in range(0, h, TILE):
        for left in range(0, w, TILE):
            t0, l0 = max(0, top - MARGIN), max(0, left - MARGIN)
            t1, l1 = min(h, top + TILE + MARGIN), min(w, left + TILE + MARGIN)
            # The tile sees its neighbours as refined so far (earlier tiles) or as analysed.
            yt, zt = _refine_whole(model, x[..., 16 * t0 : 16 * t1, 16 * l0 : 16 * l1], y_out[..., t0:t1, l0:l1],
                                   mask[..., t0:t1, l0:l1], q, steps, objective, step_done)
            ch, cw = min(TILE, h - top), min(TILE, w - left)
            y_out[..., top : top + ch, left : left + cw] = yt[..., top - t0 : top - t0 + ch, left - l0 : left - l0 + cw]
            z_out[..., top // 4 : -(-(top + ch) // 4), left // 4 : -(-(left + cw) // 4)] = zt[
                ..., (top - t0) // 4 : -(-(top - t0 + ch) // 4), (left - l0) // 4 : -(-(left - l0 + cw) // 4)]
    return y_out.round(), z_out


def estimated_cost(
    model: TransformCodec, x: torch.Tensor, y_hat: torch.Tensor, z_hat: torch.Tensor, mask: torch.Tensor,
    q: torch.Tensor, objective: dict,
) -> torch.Tensor:
    """``lambda(q) * D + bpp`` of latents ``y_hat`` and hyper-latents ``z_hat``
    for image ``x`` (its real pixels), with the model's own rate estimate:
    what training minimised, for one image."""
    height, width = x.shape[-2:]
    bits = model.latent_bits(y_hat, z_hat, mask)[0]
    x_hat = model.synthesis(y_hat * mask, q)[..., :height, :width]
    lam = lambda_of(q, objective["lambda_top"])[0]
    return lam * distortion(x_hat, x, objective["mse_weight"])[0] + bits / (height * width)


def _refine_whole(
    model: TransformCodec, x: torch.Tensor, y0: torch.Tensor, mask: torch.Tensor, q: torch.Tensor,
    steps: int, objective: dict, step_done: Callable[[], None],
) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = y0.shape[-2:]
    x = x[..., : 16 * h, : 16 * w]
    y = y0.detach().clone().requires_grad_(True)
    z = model.h_a(pad_to(y0, 4)).detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([y, z], lr=_learning_rate(steps))
    noise = torch.Generator().manual_seed(0)
    cost = partial(estimated_cost, model, x, mask=mask, q=q, objective=objective)

    # The analysis transform's own rounded guess competes too: effort never
    # ends worse than effort 1 by the model's estimate.
    best = (cost(y.detach().round(), z.detach().round()).item(), y.detach().round(), z.detach().round())
    with torch.enable_grad():
        for step in range(steps):
            if step < SOFT * steps:
                y_hat = y + torch.rand(y.shape, generator=noise) - 0.5
                z_hat = z + torch.rand(z.shape, generator=noise) - 0.5
            else:
                y_hat = y + (y.round() - y).detach()
                z_hat = z + (z.round() - z).detach()
            loss = cost(y_hat, z_hat)
            if step >= SOFT * steps and loss.item() < best[0]:  # a rounded point: keep the best seen
                best = (loss.item(), y.detach().round(), z.detach().round())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step_done()
    return best[1], best[2]
