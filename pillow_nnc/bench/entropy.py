"""Rate of the recurrent codes with plain bits, the global context model and
local entropy models, on Kodak and on generated low-complexity images, plus
the coder's throughput beside the network's time.

``python -m pillow_nnc.bench.entropy [--kodak DIR] [--out bench/results/entropy]``

Sizes are segment payloads at every iteration count of the default
recurrent model (the header is the same for all three); the low-complexity
set is drawn here (flat colours, gradients, a text screenshot, a line
drawing, a bar chart) so that it needs no download.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .. import zoo
from .run import DEFAULT_KODAK, DEFAULT_OUT
from .sets import load_arrays

MODES = ("raw", "global", "local")


def low_complexity() -> dict[str, np.ndarray]:
    """Five 384x256 images of low visual complexity, drawn deterministically."""
    images = {}
    flat = np.full((256, 384, 3), (120, 120, 120), np.uint8)
    flat[:, 192:] = (40, 90, 200)
    images["flat"] = flat
    y, x = np.mgrid[0:256, 0:384]
    images["gradient"] = np.stack([x * 255 // 383, y, (x + y) // 3], 2).astype(np.uint8)
    shot = Image.new("RGB", (384, 256), "white")
    draw = ImageDraw.Draw(shot)
    draw.rectangle((0, 0, 383, 24), fill=(50, 60, 80))
    for i in range(10):
        draw.text((12, 36 + 20 * i), f"Settings line {i}: option = value {i * 7}", fill=(20, 20, 20))
    draw.rectangle((260, 40, 370, 120), fill=(60, 120, 220))
    images["screenshot"] = np.asarray(shot)
    drawing = Image.new("RGB", (384, 256), (250, 245, 230))
    draw = ImageDraw.Draw(drawing)
    for i in range(8):
        draw.ellipse((20 + 40 * i, 40 + 10 * i, 80 + 40 * i, 120 + 10 * i), outline=(0, 0, 0), width=3)
    images["drawing"] = np.asarray(drawing)
    chart = Image.new("RGB", (384, 256), "white")
    draw = ImageDraw.Draw(chart)
    for i, h in enumerate((60, 140, 100, 200, 170, 90)):
        draw.rectangle((30 + 55 * i, 230 - h, 70 + 55 * i, 230), fill=((40 * i) % 255, 120, 200 - 30 * i))
    draw.line((20, 230, 370, 230), fill=(0, 0, 0), width=2)
    images["chart"] = np.asarray(chart)
    return images


def measure(engine: zoo.Engine, images: dict[str, np.ndarray]) -> dict:
    """Payload bytes per mode and iteration count, summed over ``images``,
    and the time spent in the network and in the coder."""
    sizes = {mode: [0] * engine.max_iterations for mode in MODES}
    network_s = coder_s = 0.0
    coded_bits = 0
    for rgb in images.values():
        state = engine.analyse(rgb)
        start = time.perf_counter()
        codes = state.codes(engine.max_iterations)[0]
        network_s += time.perf_counter() - start
        for n in range(1, engine.max_iterations + 1):
            level = engine.level_of_iterations(n)
            for mode in MODES:
                start = time.perf_counter()
                _, segments, *_ = engine.encode(state, level, mode)
                if mode == "local" and n == engine.max_iterations:
                    coder_s += time.perf_counter() - start
                    coded_bits += sum(c.size for c in codes)
                sizes[mode][n - 1] += sum(map(len, segments))
    return {
        "images": list(images), "bytes": sizes,
        "saving_vs_raw_pct": {m: [round(100 * (s / r - 1), 2) for s, r in zip(sizes[m], sizes["raw"])] for m in MODES},
        "network_s": network_s, "coder_encode_s": coder_s,
        "coder_encode_mbit_s": coded_bits / max(coder_s, 1e-9) / 1e6,
    }


def _decode_throughput(engine: zoo.Engine, rgb: np.ndarray) -> float:
    """Mbit/s of parsing the codes of one image (all iterations, local mode)."""
    state = engine.analyse(rgb)
    params, segments, *_ = engine.encode(state, 255, "local")
    codes, counts = state.codes(params[0])
    h, w = counts.shape
    start = time.perf_counter()
    engine._read_codes(params, segments, [np.ones(h * w, bool)] * len(codes), h, w)
    return sum(c.size for c in codes) / (time.perf_counter() - start) / 1e6


def study_parser(description: str, out: str) -> argparse.ArgumentParser:
    """Options shared by the studies of the default recurrent model
    (this module and :mod:`.sabr`)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kodak", type=Path, default=DEFAULT_KODAK)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT / out)
    ap.add_argument("--weights", help="a recurrent weights file to study instead of the default model (a candidate)")
    return ap


def study_setup(args: argparse.Namespace) -> tuple[int, zoo.Engine, dict[str, np.ndarray]]:
    """Thread count set; the id and engine of the studied recurrent model
    (``--weights``, else the default); the Kodak images."""
    torch.set_num_threads(args.threads)
    model_id = zoo.add_weights(args.weights) if args.weights else zoo.default_model("recurrent")
    return model_id, zoo.engine(model_id), load_arrays(args.kodak, args.images)


def main() -> None:
    args = study_parser(__doc__, "entropy").parse_args()
    model_id, engine, kodak = study_setup(args)
    results = {"model_id": model_id, "threads": args.threads, "sets": {}}
    for name, images in (("kodak", kodak), ("low-complexity", low_complexity())):
        results["sets"][name] = measure(engine, images)
        print(name, json.dumps(results["sets"][name]["saving_vs_raw_pct"]), flush=True)
    results["coder_decode_mbit_s"] = _decode_throughput(engine, next(iter(kodak.values())))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [f"# Entropy coding of the recurrent codes (model id {model_id}, {args.threads} threads)", "",
             "Payload bytes summed over each set; change against plain bits.", "",
             "| set | iterations | raw | global | local |", "|---|---|---|---|---|"]
    for name, r in results["sets"].items():
        for n in range(engine.max_iterations):
            raw = r["bytes"]["raw"][n]
            cells = [f"{r['bytes'][m][n]} ({r['saving_vs_raw_pct'][m][n]:+.1f}%)" for m in ("global", "local")]
            lines.append(f"| {name} | {n + 1} | {raw} | {cells[0]} | {cells[1]} |")
    k = results["sets"]["kodak"]
    lines += ["", f"Coder: encode {k['coder_encode_mbit_s']:.1f} Mbit/s (local mode, table choice included), "
              f"decode {results['coder_decode_mbit_s']:.1f} Mbit/s; network (encoder, 8 iterations) "
              f"{k['network_s']:.1f} s against {k['coder_encode_s']:.2f} s of coding for the Kodak set.", ""]
    (args.out / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
