"""Training loop: resumable, logged, checkpointed; runs for hours in the
background (``python -m pillow_nnc.train --out runs/tc``).

Each step samples one quality level per patch (so one model learns every
rate), truncates the channel groups of a quarter of the patches (so every
payload prefix decodes), and minimises ``lambda(q) * D + bpp`` with
D = (1 - MS-SSIM) + 3 * MSE, under bf16 autocast.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

from ..metrics import ms_ssim
from ..models.transform import LAMBDAS, LEVELS, TransformCodec
from .data import PatchSampler, is_validation, list_images, load_rgb, validation_crops

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "train"
MSE_WEIGHT = 3.0


def lambda_of(q: torch.Tensor) -> torch.Tensor:
    """Log-linear interpolation of the per-level lambdas at continuous q."""
    logs = torch.tensor([math.log(v) for v in LAMBDAS])
    lo = q.floor().clamp(0, LEVELS - 1).long()
    hi = (lo + 1).clamp(max=LEVELS - 1)
    t = q - lo
    return (logs[lo] * (1 - t) + logs[hi] * t).exp()


def distortion(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # Clamped to [0, 1] with a straight-through gradient: a plain clamp has no
    # gradient outside the range, and a model whose output leaves it early
    # never comes back (observed); no clamp lets the IGDN layers blow up.
    x_hat = x_hat.float()
    x_hat = x_hat + (x_hat.clamp(0, 1) - x_hat).detach()
    mse = ((x_hat - x) ** 2).mean((1, 2, 3))
    return (1 - ms_ssim(x_hat, x, levels=4)) + MSE_WEIGHT * mse


def to_batch(patches: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(patches)).permute(0, 3, 1, 2).float() / 255


@torch.no_grad()
def validate(model: TransformCodec, crops: torch.Tensor) -> dict:
    """Estimated bpp, MS-SSIM and PSNR at every quality level, plus MS-SSIM
    interpolated at 0.25 and 0.5 bpp (the learning-curve numbers)."""
    model.eval()
    curve = []
    for level in range(LEVELS):
        q = torch.full((crops.shape[0],), float(level))
        bpps, msss, psnrs, groups = [], [], [], []
        for i in range(0, crops.shape[0], 8):
            x = crops[i : i + 8]
            y, kept = model.analysis(x, q[: len(x)])
            bits = model.rounded_bits(y, kept)
            x_hat = model.synthesis(y.round() * model.group_mask(kept), q[: len(x)]).clamp(0, 1)
            x_hat = (x_hat * 255).round() / 255
            bpps += (bits / (x.shape[2] * x.shape[3])).tolist()
            msss += ms_ssim(x_hat, x).tolist()
            psnrs += (-10 * torch.log10(((x_hat - x) ** 2).mean((1, 2, 3)))).tolist()
            groups += kept.ceil().clamp(1, model.groups).mean((1, 2, 3)).tolist()
        curve.append((float(np.mean(bpps)), float(np.mean(msss)), float(np.mean(psnrs)), float(np.mean(groups))))
    model.train()
    at = {}
    xs = [c[0] for c in curve]
    for target in (0.25, 0.5):
        at[f"msssim@{target}"] = float(np.interp(target, xs, [c[1] for c in curve]))
        at[f"psnr@{target}"] = float(np.interp(target, xs, [c[2] for c in curve]))
    return {"curve": curve, **at}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m pillow_nnc.train", description=__doc__)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of training photos")
    ap.add_argument("--out", type=Path, default=Path("runs/transform"), help="checkpoint/log folder")
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--decay-at", type=int, default=10**9, help="step after which lr is divided by 10")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val-every", type=int, default=1000)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init-from", type=Path, help="start from released weights (.safetensors) instead of scratch")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.out / "checkpoint.pt"
    log = open(args.out / "log.jsonl", "a")

    paths = list_images(args.data)
    if not paths:
        sys.exit(f"no images under {args.data}")
    t0 = time.time()
    train_im = [load_rgb(p) for p in paths if not is_validation(p, args.data)]
    val_im = [load_rgb(p, 512) for p in paths if is_validation(p, args.data)]
    crops = to_batch(validation_crops(val_im))
    print(f"{len(train_im)} training / {len(val_im)} validation images "
          f"({len(crops)} crops) loaded in {time.time() - t0:.0f} s", flush=True)

    model = TransformCodec()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    step, cpu_seconds = 0, 0.0
    if ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, cpu_seconds = state["step"], state["cpu_seconds"]
        rng.setstate(state["py_rng"])
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {step}", flush=True)
        if args.init_from:
            print(f"--init-from ignored: {ckpt_path} exists and wins", flush=True)
    elif args.init_from:
        with safe_open(str(args.init_from), framework="pt") as f:
            model.load_state_dict({k[6:]: f.get_tensor(k).float() for k in f.keys() if k.startswith("float.")})
            record = json.loads(f.metadata()["training"])
        step, cpu_seconds = record["step"], record["cpu_hours"] * 3600
        print(f"initialised from {args.init_from} (step {step}, fresh optimizer)", flush=True)
    sampler = PatchSampler(train_im, args.patch, rng)

    def save() -> None:
        state = {
            "model": model.state_dict(), "opt": opt.state_dict(), "step": step,
            "cpu_seconds": cpu_seconds, "py_rng": rng.getstate(), "torch_rng": torch.get_rng_state(),
            "config": {"n": model.n, "m": model.m, "nz": model.nz, "groups": model.groups},
            "args": {k: str(v) for k, v in vars(args).items()},
        }
        torch.save(state, ckpt_path.with_suffix(".tmp"))
        ckpt_path.with_suffix(".tmp").replace(ckpt_path)

    last_ckpt = time.time()
    running = []
    skipped = 0
    stop = []  # SIGTERM/SIGINT: finish the step, checkpoint, exit
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    while step < args.steps and not stop:
        t = time.time()
        for group in opt.param_groups:
            warmup = min(1.0, (step + 1) / 500)  # the transforms diverged without it (observed)
            group["lr"] = warmup * (args.lr if step < args.decay_at else args.lr / 10)
        x = to_batch(sampler.batch(args.batch))
        q = torch.rand(args.batch) * (LEVELS - 1)
        cap = None
        if rng.random() < 0.25:
            cap = torch.randint(1, model.groups + 1, (args.batch,))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.no_bf16):
            x_hat, bits = model(x, q, cap)
        d = distortion(x_hat, x)
        bpp = bits / (args.patch**2)
        loss = (lambda_of(q) * d + bpp).mean()
        opt.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if not torch.isfinite(loss) or not torch.isfinite(grad_norm):
            skipped += 1
            if skipped > 50:
                sys.exit(f"step {step}: 50 non-finite losses or gradients in a row; resume from the last checkpoint")
            continue
        skipped = 0
        opt.step()
        step += 1
        cpu_seconds += (time.time() - t) * args.threads
        running.append((loss.item(), bpp.mean().item(), d.mean().item()))
        if step % 100 == 0:
            m = np.mean(running, 0)
            running.clear()
            rec = {"step": step, "loss": m[0], "bpp": m[1], "dist": m[2], "cpu_hours": cpu_seconds / 3600,
                   "s_per_step": time.time() - t}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(rec, flush=True)
        if step % args.val_every == 0:
            rec = {"step": step, "cpu_hours": cpu_seconds / 3600, "val": validate(model, crops)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(rec, flush=True)
        if time.time() - last_ckpt > args.ckpt_minutes * 60:
            save()
            last_ckpt = time.time()
    save()


if __name__ == "__main__":
    main()
