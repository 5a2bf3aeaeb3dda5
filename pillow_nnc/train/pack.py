"""Pack what a training run needs on a bare GPU machine into one folder of
at most 64 MiB: the training photos (large ones shrunk), the weights to
start from, the training options, and wheels of the packages the machine
lacks.

``python -m pillow_nnc.train.pack --init weights/x.safetensors --out gpu-pack -- --mse-weight 10``

then, on the GPU machine, ``bash training/gpu_train.sh gpu-pack 9`` (see
that script). Photos keep their relative paths, so the validation split
(a hash of the path) is the same as here.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

from .data import list_images
from .loop import DEFAULT_DATA

LIMIT = 64 << 20
# Missing on the GPU machine (it has torch, numpy, pillow, safetensors, tqdm).
WHEELS = ("pytorch-msssim==1.0.0", "constriction==0.5.*", "imageio==2.*")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def pack_photos(data: Path, out: Path, max_short: int, quality: int) -> None:
    """Copy the photos, shrinking those whose short side exceeds ``max_short``
    (re-encoded in their own format; JPEG at ``quality``)."""
    for path in list_images(data):
        target = out / path.relative_to(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as im:
            if min(im.size) <= max_short:
                shutil.copyfile(path, target)
                continue
            scale = max_short / min(im.size)
            small = im.convert("RGB").resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
        # Same name and format: the validation split hashes the relative path.
        small.save(target, quality=quality)


def download_wheels(out: Path) -> None:
    """Wheels for CPython 3.12 on x86-64 Linux, without their dependencies."""
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", "-d", str(out), *[f"--platform={p}" for p in PLATFORMS], *WHEELS]
    subprocess.run(cmd, check=True)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m pillow_nnc.train.pack", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of training photos")
    ap.add_argument("--out", type=Path, default=Path("gpu-pack"))
    ap.add_argument("--init", type=Path, required=True, help="weights (.safetensors) the run starts from")
    ap.add_argument("--max-short", type=int, default=512, help="shrink photos whose short side is longer")
    ap.add_argument("--quality", type=int, default=92, help="JPEG quality of the shrunk photos")
    ap.add_argument("train_args", nargs=argparse.REMAINDER, help="options for python -m pillow_nnc.train, after --")
    args = ap.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    pack_photos(args.data, args.out / "train", args.max_short, args.quality)
    shutil.copyfile(args.init, args.out / "init.safetensors")
    extra = [a for a in args.train_args if a != "--"]
    (args.out / "train-args").write_text(" ".join(extra) + "\n")
    download_wheels(args.out / "wheels")
    size = folder_bytes(args.out)
    if size > LIMIT:
        sys.exit(f"{args.out} holds {size / 2**20:.1f} MiB, over the 64 MiB a device call carries; lower --max-short")
    print(f"{args.out}: {size / 2**20:.1f} MiB ({len(list_images(args.out / 'train'))} photos)")


if __name__ == "__main__":
    main()
