"""Peak memory and time of encoding and decoding one large photo.

``python -m pillow_nnc.bench.bigimage [--size 6000x4000] [--image PATH]
[--codec recurrent] [--weights FILE]``: the image (default: the bundled
sample, upscaled) is encoded at the default quality and decoded; peak
resident memory comes from ``getrusage``.
"""

from __future__ import annotations

import argparse
import io
import resource
import time
from pathlib import Path

from PIL import Image

import pillow_nnc  # noqa: F401  (registers "NNC")

SAMPLE = Path(pillow_nnc.__file__).resolve().parent / "samples" / "chelsea.png"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="6000x4000", help="WIDTHxHEIGHT to upscale to")
    ap.add_argument("--image", type=Path, default=SAMPLE)
    ap.add_argument("--codec", help="model family (default: the plugin's default)")
    ap.add_argument("--weights", help="weights file to encode with instead of a released model")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    Image.MAX_IMAGE_PIXELS = None
    im = Image.open(args.image).convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    start = time.perf_counter()
    buf = io.BytesIO()
    im.save(buf, format="NNC", codec=args.codec, weights=args.weights)
    encode_s = time.perf_counter() - start
    del im
    start = time.perf_counter()
    Image.open(io.BytesIO(buf.getvalue())).load()
    decode_s = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{width}x{height}: {buf.tell()} bytes, encode {encode_s:.1f} s, decode {decode_s:.1f} s, "
          f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
