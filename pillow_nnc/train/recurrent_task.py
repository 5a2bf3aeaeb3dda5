"""What one training step and one validation mean for the recurrent codec.

A step unrolls ``--iterations`` iterations on a batch of patches with
stochastic binary codes, and minimises the mean over iterations of the log
distortion, so that every prefix of a file is a good image. The log weighs
each iteration by its relative gain: with a plain mean, the large errors of
the first iterations dominate the gradient and later iterations learned to
add almost nothing (observed: +0.006 MS-SSIM from iteration 5 to 8 after
1,000 steps). Priming steps (``--prime``) are part of the model from the
first step. ``--late-weight`` tilts that mean toward the later iterations,
where the codec trails JPEG (issue 3's bar runs to 1 bpp, eight iterations).
"""

from __future__ import annotations

import argparse
import random

import numpy as np
import torch

from ..metrics import ms_ssim
from ..models.recurrent import GAIN_ITERATIONS, RecurrentCodec
from ..models.objective import distortion
from .objective import float_tensors, interpolate_at


# Weight of MSE beside 1 - MS-SSIM. At 3 (the transform codec's weight) the
# first recurrent runs kept a colour cast of 18 levels in green through all
# iterations (PSNR 24.9 dB after 8 iterations on the sample, step 926).
MSE_WEIGHT = 20.0


def iteration_weights(iterations: int, late_weight: float) -> torch.Tensor:
    """Weights of the iterations in the loss: rising linearly from 1 to
    ``1 + late_weight`` over the iterations, scaled to mean 1 so that the
    learning rate keeps its meaning."""
    w = 1 + late_weight * torch.linspace(0, 1, iterations)
    return w / w.mean()


class RecurrentTask:
    """Loss and validation of :class:`RecurrentCodec`."""

    family = "recurrent"

    def __init__(self, args: argparse.Namespace, config: dict | None = None) -> None:
        self.model = RecurrentCodec(
            **(config or {key: getattr(args, key) for key in RecurrentCodec.OPTION_DEFAULTS})
        )
        self.bf16 = not args.no_bf16
        self.iterations = args.iterations
        self.prime = args.prime
        self.stochastic = args.binarizer == "stochastic"
        self.latent_pull = args.latent_pull
        self.weights = iteration_weights(self.iterations, args.late_weight)
        if args.freeze_decoder:
            for p in self.model.decoder_parameters():
                p.requires_grad_(False)
        self.gains_loaded = False  # a start model with trained gains skips calibration

    def config(self) -> dict:
        return {**self.model.config(), "prime": self.prime}

    def init_from(self, path: str) -> bool:
        """Start from a recurrent model (True), or take the convolution stacks
        of a transform model of the same shapes (False): they already know
        images, which saves hours of this machine's time."""
        tensors = float_tensors(path)
        if any(k.startswith("enc_rnn.") for k in tensors):
            # A model without iteration gains can start a scaled-additive one.
            missing, unexpected = self.model.load_state_dict(tensors, strict=False)
            # Likewise a latent model without a code readout, or without
            # per-iteration readouts (they start at zero).
            fresh = {k for k in missing if k.startswith("code_readouts.")}
            if unexpected or set(missing) - fresh - {"log_iteration_gain", "code_readout.weight", "code_readout.bias"}:
                msg = f"{path}: recurrent model of another shape ({sorted(missing + unexpected)[:4]})"
                raise ValueError(msg)
            self.gains_loaded = "log_iteration_gain" in tensors
            return True
        shared = {k: v for k, v in tensors.items() if k.startswith(("g_a.", "g_s."))}
        missing = set(shared) - set(self.model.state_dict())
        if not shared or missing:
            msg = f"{path}: neither a recurrent model nor transforms of the same shape"
            raise ValueError(msg)
        self.model.load_state_dict(shared, strict=False)
        return False

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        """Data-dependent start of the iteration gains: each ``g_t`` scales
        the residual of iteration ``t`` (given the earlier gains) to the rms
        of the first one, on one training batch, but never below 1: an
        untrained decoder can grow the residual, and gains below 1 amplify
        its increments further (a latent model started from transform
        weights went 1.0, 0.98, 0.79, 0.34, 0.05, 0, then NaN)."""
        model = self.model
        if not model.iteration_gain or self.gains_loaded:
            return
        h_enc, h_dec, canvas = model.init_state(x)
        target = model.target(x)
        first = None
        for t in range(GAIN_ITERATIONS):
            residual = model.residual(target, canvas, model.picture(canvas))
            rms = residual.pow(2).mean().sqrt()
            first = rms if first is None else first
            model.log_iteration_gain[t] = (first / rms).log().clamp_min(0.0).nan_to_num(0.0)
            steps = model.gru_steps(t, self.prime)
            codes, h_enc = model.encode_step(residual, h_enc, t, steps)
            canvas, h_dec = model.decode_step(codes, h_dec, canvas, t, steps)
        print("iteration gains", [round(g, 2) for g in model.log_iteration_gain.exp().tolist()], flush=True)

    def loss(self, x: torch.Tensor, rng: random.Random) -> tuple[torch.Tensor, dict]:
        model = self.model
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            target = model.target(x)
            steps = model.unroll(x, target, self.iterations, prime=self.prime, stochastic=self.stochastic)
            outputs = [x_hat for _, x_hat in steps]
            if model.latent_input:
                # The target's own image, so that g_a(x) is a latent g_s renders well.
                outputs.append(model.picture(target))
        d = torch.stack([distortion(o, x, MSE_WEIGHT) for o in outputs])  # (T, B)
        per_t = d.mean(1)
        stats = {"dist": per_t.mean().item(), "first": per_t[0].item(), "last": per_t[self.iterations - 1].item()}
        log_d = d.clamp_min(1e-6).log().mean(1)
        w = torch.cat([self.weights, torch.ones(len(outputs) - self.iterations)])
        loss = (w * log_d).sum() / w.sum()
        if model.latent_input:
            stats["target"] = per_t[-1].item()
        if model.latent_input and self.latent_pull:
            # Pull each iteration's latent toward the (fixed) target: relative
            # squared error, in logs like the image terms.
            goal = target.detach().float()
            scale = goal.pow(2).mean((1, 2, 3)).clamp_min(1e-6)
            lat = torch.stack([(c.float() - goal).pow(2).mean((1, 2, 3)) / scale for c, _ in steps])
            stats["latent"] = lat.mean().item()
            loss = loss + self.latent_pull * lat.clamp_min(1e-6).log().mean()
        return loss, stats

    @torch.no_grad()
    def validate(self, crops: torch.Tensor) -> dict:
        """bpp (exact: plain binary codes), MS-SSIM and PSNR after every
        iteration, plus MS-SSIM and PSNR interpolated at 0.25 and 0.5 bpp."""
        model = self.model.eval()
        per_t: list[list[tuple[float, float]]] = [[] for _ in range(self.iterations)]
        for i in range(0, crops.shape[0], 8):
            x = crops[i : i + 8]
            for t, x_hat in enumerate(model(x, self.iterations, prime=self.prime)):
                x_hat = (x_hat.clamp(0, 1) * 255).round() / 255
                psnr = -10 * torch.log10(((x_hat - x) ** 2).mean((1, 2, 3)))
                per_t[t] += zip(ms_ssim(x_hat, x).tolist(), psnr.tolist())
        model.train()
        bpp = model.bits / model.stride**2
        curve = [((t + 1) * bpp, *np.mean(v, 0).tolist()) for t, v in enumerate(per_t)]
        return {"curve": curve, **interpolate_at(curve)}
