"""What encoder effort buys: BD-rates of each effort against effort 1, and
encode time per image, on real files of the transform model ``save()`` picks for the set's images.

``python -m pillow_nnc.bench.effort --images 4 --efforts 1,3,5,9 --threads 2``

Every image is coded at the same rate levels at each effort (a level grid
over the model's range, the same for every effort, so the curves differ
only by the refinement), decoded with the plugin, and scored with PSNR,
MS-SSIM and SSIMULACRA 2; the curves average over the images. Encode time
is the mean wall time of ``engine.encode`` per image and level (the
analysis transform, shared by every level, is timed once per image and
added). Writes ``bench/results/effort/results.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from .. import zoo
from ..metrics import ms_ssim_rgb, psnr, ssimulacra2_rgb
from .analysis import msssim_db
from .bdrate import BDRateError, bd_rate
from .candidate import whole_file
from .run import DEFAULT_KODAK, DEFAULT_OUT
from .sets import build_set, list_images, load_rgb

LEVELS = (0, 40, 80, 130, 190, 255)
METRICS = (("msssim", "MS-SSIM (dB)", msssim_db), ("psnr", "PSNR", float), ("ssimulacra2", "SSIMULACRA 2", float))


def measure(images: list, efforts: list[int], levels: tuple[int, ...]) -> dict:
    """Per effort: mean bpp and metrics per level, and mean encode seconds per image
    (the model ``save()`` picks for the first image's size)."""
    model_id = zoo.default_model("transform", images[0].image.width, images[0].image.height)
    engine = zoo.engine(model_id)
    out: dict = {}
    for effort in efforts:
        rows: dict[int, list[dict]] = {lv: [] for lv in levels}
        seconds = []
        for item in images:
            rgb = item.array
            t0 = time.perf_counter()
            analysis = engine.analyse(rgb)
            analyse_s = time.perf_counter() - t0
            for level in levels:
                t0 = time.perf_counter()
                payload = engine.encode(analysis, level, effort=effort)
                seconds.append(analyse_s + time.perf_counter() - t0)
                dec = engine.decode(payload.params, payload.segments, rgb.shape[1], rgb.shape[0])
                size = len(whole_file(model_id, rgb, payload))
                rows[level].append({"bpp": 8 * size / (rgb.shape[0] * rgb.shape[1]), "psnr": psnr(rgb, dec),
                                    "msssim": ms_ssim_rgb(rgb, dec), "ssimulacra2": ssimulacra2_rgb(rgb, dec)})
            print(f"effort {effort}: {item.name} done", flush=True)
        curve = [{"level": lv, **{k: float(np.mean([r[k] for r in v])) for k in v[0]}} for lv, v in rows.items()]
        out[effort] = {"curve": curve, "encode_s": float(np.mean(seconds))}
    return out


def report(results: dict, efforts: list[int]) -> str:
    base = results[efforts[0]]["curve"]
    lines = [f"| effort | {' | '.join(m[1] for m in METRICS)} | encode s / image and level |",
             "|---" * (len(METRICS) + 2) + "|"]
    for effort in efforts:
        curve, cells = results[effort]["curve"], []
        for key, _, f in METRICS:
            try:
                bd = bd_rate([p["bpp"] for p in base], [f(p[key]) for p in base],
                             [p["bpp"] for p in curve], [f(p[key]) for p in curve])
                cells.append(f"{bd:+.1f}%")
            except BDRateError:
                cells.append("n/a")
        lines.append(f"| {effort} | {' | '.join(cells)} | {results[effort]['encode_s']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m pillow_nnc.bench.effort", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kodak", type=Path, default=DEFAULT_KODAK)
    ap.add_argument("--set", default="kodak", help="kodak, thumbN or screen")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--efforts", default="1,3,5,9")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT / "effort")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    efforts = [int(e) for e in args.efforts.split(",")]
    paths = list_images(args.kodak)[: args.images]
    images = build_set(args.set, [(p.stem, load_rgb(p)) for p in paths], screens=args.images)[: args.images]
    results = measure(images, efforts, LEVELS)
    table = report(results, efforts)
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"command": f"python -m pillow_nnc.bench.effort --set {args.set} --images {args.images} "
                         f"--efforts {args.efforts} --threads {args.threads}",
              "images": [i.name for i in images], "levels": list(LEVELS), "results": results}
    (args.out / f"results-{args.set}.json").write_text(json.dumps(record, indent=1))
    md = f"# Encoder effort on {args.set}\n\n`{record['command']}`\n\nBD-rate against effort {efforts[0]} " \
         f"(negative = fewer bits at equal quality), images {', '.join(record['images'])}:\n\n{table}\n"
    (args.out / f"results-{args.set}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
