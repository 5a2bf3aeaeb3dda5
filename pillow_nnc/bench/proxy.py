"""Rate lost against the training proxy: real coded payload bytes versus the
bits the training loss estimates for the same latents.

``python -m pillow_nnc.bench.proxy [--kodak DIR]`` (every third Kodak image,
three rate levels). The proxy integrates a continuous Gaussian over each
quantisation bin and charges log2(G) bits per importance-map entry; the file
uses the 64-rung integer tables and coded importance tables.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import zoo
from .run import DEFAULT_KODAK


@torch.no_grad()
def proxy_bits(engine, features: torch.Tensor, level_byte: int) -> float:
    model = engine.model
    q = torch.tensor([level_byte / 255 * 7])
    y = features * model.gain(q)
    bits = float(model.rounded_bits(y, model.importance_of(y, q))[0])
    return bits + math.log2(model.groups) * y.shape[2] * y.shape[3]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kodak", type=Path, default=DEFAULT_KODAK)
    args = ap.parse_args()
    engine = zoo.engine(zoo.default_model("transform"))
    real = proxy = 0.0
    for path in sorted(args.kodak.glob("*.png"))[::3]:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        features = engine.analyse(rgb)
        for level in (40, 128, 220):
            _, segments, *_ = engine.encode(features, level)
            real += sum(map(len, segments))
            proxy += proxy_bits(engine, features, level) / 8
    print(f"payload {real:.0f} bytes vs training proxy {proxy:.0f} bytes: {100 * (real / proxy - 1):+.1f}%")


if __name__ == "__main__":
    main()
