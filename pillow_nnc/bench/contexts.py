"""Which already-decoded information predicts the recurrent codes: the ideal
code length of the codes under context tables counted on training photos,
for the shipped context (spec 7.2) and for richer ones with spatial
neighbours, evaluated on the held-out training photos and on Kodak.

``python -m pillow_nnc.bench.contexts [--model ID] [--out bench/results/contexts]``

The contexts compared, each adding to the one before it or to the shipped one:

* ``iteration+channel``: the iteration and the code channel only;
* ``+previous iteration``: the same code in the previous iteration;
* ``shipped``: plus the code of channel ``c - 1`` at the same block;
* ``+causal neighbours``: plus, for the half of the blocks coded second in a
  checkerboard order, the sign of the sum of the same channel's codes at the
  four neighbouring blocks (already decoded in the first half); the first
  half gets a "none" state. This is the vectorisable form of a causal
  spatial context (two array passes per channel);
* ``+previous-iteration neighbours``: plus the sign of the sum of the four
  neighbours' codes of the same channel in the previous iteration.

Tables are frequencies with a +0.5 prior (as the exported ones); bits are
``-log2 p`` summed over the codes of 8 iterations of every image.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .. import zoo
from ..entropy import bits as bitmodel
from ..train.data import centre_crop, is_validation, list_images, load_rgb
from ..train.loop import DEFAULT_DATA
from .run import DEFAULT_KODAK, DEFAULT_OUT
from .sets import load_arrays

Codes = list[np.ndarray]  # 0/1 codes (C, h*w) per iteration


def _neighbour_sign(codes: np.ndarray, h: int, w: int) -> np.ndarray:
    """0, 1, 2 for a negative, zero, positive sum of the +1/-1 codes of the
    four neighbouring blocks (outside the grid counts 0), per channel."""
    pm = np.pad(codes.reshape(-1, h, w).astype(np.int64) * 2 - 1, ((0, 0), (1, 1), (1, 1)))
    total = pm[:, :-2, 1:-1] + pm[:, 2:, 1:-1] + pm[:, 1:-1, :-2] + pm[:, 1:-1, 2:]
    return 1 + np.sign(total).reshape(codes.shape[0], -1)


def _variants(channels: int) -> dict[str, Callable[[Codes, int, int, int], np.ndarray]]:
    """Context index functions ``(image, t, h, w) -> (C, h*w)``, each below
    ``4 * context_count(channels)``."""

    def shipped(image: Codes, t: int, h: int, w: int) -> np.ndarray:
        return bitmodel.iteration_contexts(image[t], image[t - 1] if t else None, t)

    def iteration_channel(image: Codes, t: int, h: int, w: int) -> np.ndarray:
        c = np.arange(channels)[:, None]
        return np.broadcast_to(min(t, bitmodel.ITERATION_CONTEXTS - 1) * channels + c, image[t].shape)

    def previous_iteration(image: Codes, t: int, h: int, w: int) -> np.ndarray:
        prev = np.full_like(image[t], bitmodel.NONE) if t == 0 else image[t - 1]
        return iteration_channel(image, t, h, w) * 3 + prev

    def causal(image: Codes, t: int, h: int, w: int) -> np.ndarray:
        second = (np.add(*np.divmod(np.arange(h * w), w)) % 2 == 1)[None]
        state = np.where(second, 1 + _neighbour_sign(image[t], h, w), 0)
        return shipped(image, t, h, w) * 4 + state

    def previous_neighbours(image: Codes, t: int, h: int, w: int) -> np.ndarray:
        state = np.zeros_like(image[t]) if t == 0 else 1 + _neighbour_sign(image[t - 1], h, w)
        return shipped(image, t, h, w) * 4 + state

    return {
        "iteration+channel": iteration_channel, "+previous iteration": previous_iteration, "shipped": shipped,
        "+causal neighbours": causal, "+previous-iteration neighbours": previous_neighbours,
    }


def _codes(engine: zoo.Engine, rgb: np.ndarray, iterations: int) -> tuple[Codes, int, int]:
    codes, counts = engine.analyse(rgb).codes(iterations)
    return codes, *counts.shape


def measure(train: list[tuple[Codes, int, int]], sets: dict[str, list[tuple[Codes, int, int]]], channels: int) -> dict:
    """Bits per code of every variant on every evaluation set."""
    out: dict[str, dict[str, float]] = {}
    size = 4 * bitmodel.context_count(channels)
    for name, contexts in _variants(channels).items():
        ones, total = np.zeros(size), np.zeros(size)
        for image, h, w in train:
            for t, codes in enumerate(image):
                ctx = contexts(image, t, h, w).ravel()
                ones += np.bincount(ctx, weights=codes.ravel(), minlength=size)
                total += np.bincount(ctx, minlength=size)
        p1 = (ones + 0.5) / (total + 1)
        out[name] = {}
        for set_name, images in sets.items():
            bits = count = 0.0
            for image, h, w in images:
                for t, codes in enumerate(image):
                    ctx = contexts(image, t, h, w)
                    p = np.where(codes == 1, p1[ctx], 1 - p1[ctx])
                    bits += -np.log2(p).sum()
                    count += codes.size
            out[name][set_name] = bits / count
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=int, default=None, help="recurrent model id (default: the default one)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="training photos (tables, held-out set)")
    ap.add_argument("--kodak", type=Path, default=DEFAULT_KODAK)
    ap.add_argument("--iterations", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT / "contexts")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model_id = args.model or zoo.default_model("recurrent")
    engine = zoo.engine(model_id)
    paths = list_images(args.data)
    # Tables from every 12th training photo (256x256 centre crops, as the export counts them).
    train = [_codes(engine, centre_crop(load_rgb(p, 384), 256), args.iterations)
             for p in paths[::12] if not is_validation(p, args.data)]
    sets = {
        "held-out photos": [_codes(engine, load_rgb(p, 512), args.iterations) for p in paths if is_validation(p, args.data)],
        "kodak": [_codes(engine, rgb, args.iterations) for rgb in load_arrays(args.kodak, 24).values()],
    }
    results = {"model_id": model_id, "iterations": args.iterations, "train_images": len(train),
               "bits_per_code": measure(train, sets, engine.model.bits)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    names = list(sets)
    lines = [f"# Contexts for the recurrent codes (model id {model_id}, {args.iterations} iterations)", "",
             f"Ideal bits per code (1.0 = plain bits) under tables counted on {len(train)} training photos.", "",
             "| context | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for name, row in results["bits_per_code"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row[s]:.4f}" for s in names) + " |")
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
