"""Training harness: resumable, logged, checkpointed; runs for hours in the
background (``python -m pillow_nnc.train --family recurrent --out runs/rc``).

What a step and a validation mean is up to the model family
(:mod:`.transform_task`, :mod:`.recurrent_task`); this module owns the
data, the optimizer and its schedule, checkpoints (every few minutes, and on
SIGTERM/SIGINT), exact resumption and the JSON-lines log.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .data import PatchSampler, PatchStream, is_validation, list_images, load_rgb, validation_screens, validation_set
from .objective import bd_vs, file_metadata, jpeg_reference
from .recurrent_task import RecurrentTask
from .transform_task import TransformTask

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "train"
TASKS = {"transform": TransformTask, "recurrent": RecurrentTask}
WARMUP_STEPS = 500  # the transforms diverged without warm-up (observed)
GAIN_PARAMETERS = {"log_gain", "log_inv_gain"}


def to_batch(patches: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 patches to (B, 3, H, W) floats in [0, 1], on the patches' device."""
    if isinstance(patches, np.ndarray):
        patches = torch.from_numpy(np.ascontiguousarray(patches))
    return patches.permute(0, 3, 1, 2).float() / 255


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m pillow_nnc.train", description=__doc__)
    ap.add_argument("--family", choices=sorted(TASKS), default="transform",
                    help="model family (a resumed run keeps the family of its checkpoint)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of training photos")
    ap.add_argument("--out", type=Path, default=Path("runs/model"), help="checkpoint/log folder")
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=128, help="patch side in pixels (multiple of 16)")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--decay-at", type=int, default=10**9, help="step after which lr is divided by 10")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val-every", type=int, default=1000, help="steps between validations (0: none)")
    ap.add_argument("--device", default="cpu", help="torch device to train on (cpu, cuda)")
    ap.add_argument("--workers", type=int, default=0,
                    help="processes cutting patches (a GPU outruns one); 0: in this process, exactly resumable")
    ap.add_argument("--minutes", type=float, default=None,
                    help="stop (with a checkpoint) after this many minutes of training, whatever --steps says")
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smooth", type=float, default=0.0,
                    help="share of smooth patches (blurred photo crops, flat graphics) beside the hard-sampled photo patches")
    ap.add_argument("--screen", type=float, default=0.0,
                    help="share of generated screen-content patches (text, UI, charts, line art; train/screen.py)")
    ap.add_argument("--thumbnails", action="store_true",
                    help="train on whole photos shrunk to --patch (a model for tiny images) and validate on "
                         "the held-out photos' thumbnails against JPEG's header-less payload")
    ap.add_argument("--init-from", type=Path,
                    help="start from released weights (.safetensors) instead of scratch; a recurrent "
                         "run also accepts a transform model (it takes its convolution stacks)")
    tf = ap.add_argument_group("transform family")
    tf.add_argument("--mse-weight", type=float, default=3.0,
                    help="distortion = (1 - MS-SSIM) + W x MSE (models 1-15: 3)")
    tf.add_argument("--gain-lr", type=float, default=1.0,
                    help="learning rate of the rate levels' gains, as a multiple of --lr")
    tf.add_argument("--lambda-top", type=float, default=600.0,
                    help="rate-distortion trade-off of the top quality level (models 1-15: 600); the "
                         "levels between 2.5 and it are log-spaced")
    rc = ap.add_argument_group("recurrent family")
    rc.add_argument("--iterations", type=int, default=8, help="iterations unrolled per step")
    rc.add_argument("--prime", type=int, default=3, help="priming steps (fixed at the first step of a run)")
    rc.add_argument("--binarizer", choices=("stochastic", "sign"), default="stochastic",
                    help="training codes: random draws (Toderici 2015) or their sign (straight-through)")
    rc.add_argument("--iteration-gain", action="store_true",
                    help="scaled-additive reconstruction: a learned residual gain per iteration "
                         "(fixed at the first step of a run)")
    rc.add_argument("--reconstruction", choices=("image", "latent"), default="image",
                    help="what the iterations add to: the image, or a latent that the synthesis renders "
                         "(fixed at the first step of a run)")
    rc.add_argument("--code-readout", action="store_true",
                    help="latent models: a direct path from each iteration's codes to its latent increment")
    rc.add_argument("--iteration-readout", action="store_true",
                    help="code-readout models: each iteration adds its own 3x3 readout of its codes (fixed at the first step)")
    rc.add_argument("--freeze-decoder", action="store_true",
                    help="train the encoder only: the decoder of the start model (and how its files decode) stays as it is")
    rc.add_argument("--diffusion", type=int, default=0,
                    help="extra GRU steps on every iteration after the first (Johnston 2018; fixed at the first step)")
    rc.add_argument("--encoder-input", choices=("image", "latent"), default="image",
                    help="latent models: encode the image residual, or the latent residual g_a(x) - Y (fixed at the first step)")
    rc.add_argument("--gated-readout", action="store_true",
                    help="latent models: the increment is linear in the codes through channels the decoder state "
                         "gates, instead of a readout of the state (fixed at the first step)")
    rc.add_argument("--latent-pull", type=float, default=0.0,
                    help="latent-residual models: weight of a loss term pulling each iteration's latent toward the target g_a(x)")
    rc.add_argument("--late-weight", type=float, default=0.0,
                    help="weight the loss of the last iteration 1 + W times the first's, rising linearly between")
    args = ap.parse_args(argv)
    if args.patch % 16:
        ap.error("--patch must be a multiple of 16")
    if not 0 <= args.smooth <= 1 or not 0 <= args.screen <= 1 or args.smooth + args.screen > 1:
        ap.error("--smooth and --screen must be shares between 0 and 1 that add up to at most 1")
    if args.late_weight < 0:
        ap.error("--late-weight must be 0 or more")
    if args.family == "recurrent" and args.device != "cpu":
        ap.error("--device: the recurrent family trains on the CPU only")
    return args


DEFAULTS = parse_args([])


def bd_table(anchor: list[tuple[float, ...]], curve: list[tuple[float, ...]]) -> dict[str, float | None]:
    """BD-rates against JPEG on every metric the curve reports (``bd_vs_jpeg`` is MS-SSIM, as in older logs)."""
    out = {"bd_vs_jpeg": bd_vs(anchor, curve)}
    for metric in ("psnr", "ssimulacra2"):
        out[f"bd_vs_jpeg_{metric}"] = bd_vs(anchor, curve, metric)
    return out


# A run's objective is fixed at its first step (the checkpoint's wins); the
# content mix and gain rate carry over unless given again.
OBJECTIVE_SETTINGS = ("mse_weight", "lambda_top")
CARRIED_SETTINGS = ("screen", "smooth", "gain_lr")


def restore_run_settings(args: argparse.Namespace, saved: dict[str, str], given: dict) -> None:
    """Take a resumed run's objective and recipe from its checkpoint (see above)."""
    for key in OBJECTIVE_SETTINGS + CARRIED_SETTINGS:
        if key not in saved:
            continue
        value = type(getattr(DEFAULTS, key))(saved[key])
        if key in OBJECTIVE_SETTINGS and key in given and given[key] != value:
            print(f"--{key.replace('_', '-')} {given[key]} ignored: the run was started with {value}", flush=True)
        if key in OBJECTIVE_SETTINGS or key not in given:
            setattr(args, key, value)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.out / "checkpoint.pt"
    log = open(args.out / "log.jsonl", "a")

    state = torch.load(ckpt_path, weights_only=False, map_location="cpu") if ckpt_path.exists() else None
    given = {k: v for k, v in vars(args).items() if v != getattr(DEFAULTS, k, v)}
    if state is not None:
        restore_run_settings(args, state.get("args", {}), given)
    try:
        if state is not None:
            family = state.get("family", "transform")
            config = dict(state["config"])
            if family == "recurrent":
                args.prime = config.pop("prime")
            task = TASKS[family](args, config)
        else:
            task = TASKS[args.family](args)
    except ValueError as exc:  # a combination of model options that does not exist
        sys.exit(f"nnc train: {exc}")
    model = task.model
    # What the checkpoint (and an export's record) reports as the run's
    # settings: a resumed run's family and model options come from its
    # checkpoint, not from the command line that resumed it.
    effective = {"family": task.family, **getattr(model, "options", dict)(), **task.config()}
    for key, value in effective.items():
        if key not in vars(args):
            continue
        if key in given and given[key] != value:
            print(f"--{key.replace('_', '-')} {given[key]} ignored: the checkpoint's model has {value}", flush=True)
        setattr(args, key, value)

    paths = list_images(args.data)
    if not paths:
        sys.exit(f"no images under {args.data}")
    t0 = time.time()
    train_im = [load_rgb(p) for p in paths if not is_validation(p, args.data)]
    val_im = [load_rgb(p, 512) for p in paths if is_validation(p, args.data)]
    crops = to_batch(validation_set(val_im, args.patch, args.thumbnails))
    jpeg = jpeg_reference(crops, payload=args.thumbnails) if args.val_every else None
    # Screen content is validated beside the photos (not for thumbnail runs).
    screens = None if args.thumbnails or not args.val_every else to_batch(validation_screens())
    jpeg_screens = None if screens is None else jpeg_reference(screens)
    print(f"{task.family}: {len(train_im)} training / {len(val_im)} validation images "
          f"({len(crops)} crops) loaded in {time.time() - t0:.0f} s", flush=True)

    device = torch.device(args.device)
    model.to(device)
    # Rate-level gains get a faster learning rate: at the network's rate a
    # run that moves the levels to new trade-offs (--lambda-top) needs tens of
    # thousands of steps before the gains follow.
    gains = [p for n, p in model.named_parameters() if n in GAIN_PARAMETERS]
    rest = [p for n, p in model.named_parameters() if n not in GAIN_PARAMETERS]
    groups = [{"params": rest, "scale": 1.0}] + ([{"params": gains, "scale": args.gain_lr}] if gains else [])
    opt = torch.optim.Adam(groups, lr=args.lr)
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    step, cpu_seconds, gpu_seconds = 0, 0.0, 0.0
    opt_born = 0  # step at which this optimizer started: warm-up counts from here
    if state is not None:
        model.load_state_dict(state["model"])
        try:
            opt.load_state_dict(state["opt"])
            for group, fresh in zip(opt.param_groups, groups):
                group["scale"] = fresh["scale"]  # --gain-lr as given now
        except ValueError:  # a checkpoint from before the gains had their own group
            print("optimizer state not reusable (other parameter groups): a fresh Adam, warmed up again", flush=True)
            state["opt_born"] = state["step"]
        step, cpu_seconds, gpu_seconds = state["step"], state["cpu_seconds"], state.get("gpu_seconds", 0.0)
        opt_born = state.get("opt_born", 0)
        rng.setstate(state["py_rng"])
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {step}", flush=True)
        if args.init_from:
            print(f"--init-from ignored: {ckpt_path} exists and wins", flush=True)
    elif args.init_from:
        if task.init_from(args.init_from):
            # Same family: the released model's steps and CPU time carry on.
            record_ = json.loads(file_metadata(args.init_from)["training"])
            step, cpu_seconds = record_["step"], record_["cpu_hours"] * 3600
            gpu_seconds = record_.get("gpu_hours", 0.0) * 3600
            opt_born = step  # a fresh Adam needs the warm-up again
        print(f"initialised from {args.init_from} at step {step} (fresh optimizer)", flush=True)
    sampler = PatchSampler(train_im, args.patch, rng, args.smooth, args.thumbnails, args.screen)
    if args.workers:
        stream = PatchStream(train_im, args.patch, args.batch, f"{args.seed}/{step}", smooth=args.smooth,
                             thumbnails=args.thumbnails, screen=args.screen)
        loader = iter(torch.utils.data.DataLoader(stream, batch_size=None, num_workers=args.workers,
                                                  prefetch_factor=4, pin_memory=device.type == "cuda"))
        patches = lambda: next(loader)  # noqa: E731
    else:
        patches = lambda: torch.from_numpy(sampler.batch(args.batch))  # noqa: E731
    if state is None and hasattr(task, "calibrate"):
        task.calibrate(to_batch(sampler.batch(args.batch)))

    def save() -> None:
        state = {
            "family": task.family, "model": {k: v.cpu() for k, v in model.state_dict().items()},
            "opt": opt.state_dict(), "step": step,
            "cpu_seconds": cpu_seconds, "gpu_seconds": gpu_seconds, "opt_born": opt_born, "py_rng": rng.getstate(), "torch_rng": torch.get_rng_state(),
            "config": task.config(), "args": {k: str(v) for k, v in vars(args).items()},
        }
        torch.save(state, ckpt_path.with_suffix(".tmp"))
        ckpt_path.with_suffix(".tmp").replace(ckpt_path)

    def record(rec: dict) -> None:
        log.write(json.dumps(rec) + "\n")
        log.flush()
        print(rec, flush=True)

    last_ckpt = time.time()
    running: list[dict] = []
    skipped = 0
    stop = []  # SIGTERM/SIGINT: finish the step, checkpoint, exit
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    deadline = None if args.minutes is None else time.time() + 60 * args.minutes
    while step < args.steps and not stop and (deadline is None or time.time() < deadline):
        t = time.time()
        for group in opt.param_groups:
            warmup = min(1.0, (step - opt_born + 1) / WARMUP_STEPS)
            group["lr"] = group["scale"] * warmup * (args.lr if step < args.decay_at else args.lr / 10)
        # uint8 crosses to the device: a quarter of the bytes of floats
        loss, stats = task.loss(to_batch(patches().to(device, non_blocking=True)), rng)
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
        if device.type == "cpu":
            cpu_seconds += (time.time() - t) * args.threads
        else:  # accelerator time is logged apart from CPU time
            gpu_seconds += time.time() - t
        running.append({"loss": loss.item(), **stats})
        if step % 100 == 0:
            means = {k: float(np.mean([r[k] for r in running])) for k in running[0]}
            running.clear()
            record({"step": step, **means, "cpu_hours": cpu_seconds / 3600, "gpu_hours": gpu_seconds / 3600,
                    "s_per_step": time.time() - t})
        if args.val_every and step % args.val_every == 0:
            val = task.validate(crops)
            val.update(bd_table(jpeg, val["curve"]))
            if screens is not None:
                screen_curve = task.validate(screens)["curve"]
                val["screen_curve"] = screen_curve
                val.update({f"screen_{k}": v for k, v in bd_table(jpeg_screens, screen_curve).items()})
            record({"step": step, "cpu_hours": cpu_seconds / 3600, "val": val})
        if time.time() - last_ckpt > args.ckpt_minutes * 60:
            save()
            last_ckpt = time.time()
    save()


if __name__ == "__main__":
    main()
