"""Spatially adaptive bit rates (SABR) of the recurrent codec against the
same model with ``sabr=False``: rate-distortion on Kodak, what SABR costs in
encoding time, whether block seams appear, and the saving on images of low
visual complexity; plus a picture of one rate map.

``python -m pillow_nnc.bench.sabr [--kodak DIR] [--images N] [--out bench/results/sabr] [--weights FILE]``

``--weights`` studies a candidate recurrent model instead of the default one.

Every size is a whole file as ``save()`` writes it (header, rate map and
segment framing included; no metadata). Curves run over every iteration
count of the studied recurrent model (the rate steps ``quality`` maps to);
BD-rates are given for each set's mean curve and for every image's own
(a set's mean hides an image where SABR saves a lot or loses).

Seams: at every 16-pixel block edge between two blocks that stopped at
different iterations, the mean absolute step across the edge in the decoded
image, minus the same in the original ("excess step"), for the SABR file and
for the ``sabr=False`` file of the same quality. Invisible seams mean the
SABR excess is no larger than the uniform file's at the same edges.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import torch

from .. import codec, container, zoo
from ..entropy.flat_blocks import decode_flat
from ..entropy.rate_map import decode_map
from ..metrics import ms_ssim_rgb, psnr
from .analysis import msssim_db
from .bdrate import BDRateError, bd_rate
from .candidate import whole_file
from .entropy import low_complexity, study_parser, study_setup
from .ratemap import rate_map_picture



def _decode(data: bytes) -> np.ndarray:
    return codec.decode(container.read_header(io.BytesIO(data)), data)


def _side_bytes(data: bytes) -> int:
    """Bytes of the RATE_MAP and FLAT_BLOCKS chunks of a file."""
    header = container.read_header(io.BytesIO(data))
    return len(header.rate_map or b"") + len(header.flat_blocks or b"")


def excess_step(decoded: np.ndarray, original: np.ndarray, counts: np.ndarray) -> tuple[float, int]:
    """Mean |step| across block edges whose two blocks have different counts
    (painted flat blocks passed as count 0),
    in ``decoded`` minus in ``original``; and how many edge pixels that is."""
    dec, ori = decoded.astype(np.float64), original.astype(np.float64)
    h, w = original.shape[:2]
    full = counts.repeat(16, 0).repeat(16, 1)[:h, :w]
    total, pixels = 0.0, 0
    for axis in (0, 1):
        idx = np.arange(16, (h, w)[axis], 16)
        a, b = np.take(full, idx - 1, axis), np.take(full, idx, axis)
        mask = a != b
        step = lambda im: np.abs(np.take(im, idx - 1, axis) - np.take(im, idx, axis)).mean(-1)  # noqa: E731
        total += float((step(dec) - step(ori))[mask].sum())
        pixels += int(mask.sum())
    return (total / pixels if pixels else 0.0), pixels


def measure(engine, model_id: int, images: dict[str, np.ndarray], tolerance: float) -> dict:
    """Per image, mode and iteration count: bpp, PSNR, MS-SSIM, rate-map
    bytes and seam excess (:func:`average` takes the mean over images)."""
    steps = range(1, engine.max_iterations + 1)
    modes = {"sabr": tolerance, "uniform": None}
    per_image = {}
    for name, rgb in images.items():
        rows = per_image[name] = {m: [] for m in modes}
        state = engine.analyse(rgb)
        for n in steps:
            files = {m: whole_file(model_id, rgb, engine.encode(state, engine.level_of_iterations(n), "local", tol))
                     for m, tol in modes.items()}
            header = container.read_header(io.BytesIO(files["sabr"]))
            h, w = -(-rgb.shape[0] // 16), -(-rgb.shape[1] // 16)
            counts = (np.full((h, w), header.codec_params[0]) if header.rate_map is None
                      else decode_map(header.rate_map, h, w, header.codec_params[0]))
            flat = np.zeros((h, w), bool) if header.flat_blocks is None else decode_flat(header.flat_blocks, h, w)[0]
            for m, data in files.items():
                out = _decode(data)
                seam, edge_pixels = excess_step(out, rgb, np.where(flat, 0, counts))  # painted: its own kind
                rows[m].append({
                    "bpp": 8 * len(data) / (rgb.shape[0] * rgb.shape[1]), "psnr": psnr(rgb, out),
                    "msssim": ms_ssim_rgb(rgb, out), "map_bytes": _side_bytes(data),
                    "mean_iterations": float(counts.mean()) if m == "sabr" else float(n),
                    "flat_share": float(flat.mean()) if m == "sabr" else 0.0,
                    "seam_excess": seam, "edge_pixels": edge_pixels, "iterations": n,
                })
        print(f"{name}: done", flush=True)
    return per_image


def average(per_image: dict) -> dict:
    """Per mode and iteration count, the mean of :func:`measure`'s rows over the images."""
    first = next(iter(per_image.values()))
    return {m: [{k: float(np.mean([curves[m][i][k] for curves in per_image.values()])) for k in row}
                | {"iterations": row["iterations"]} for i, row in enumerate(first[m])] for m in first}


def bd(curves: dict) -> dict:
    """BD-rate of SABR against uniform, on MS-SSIM (dB) and PSNR."""
    out = {}
    for key, f in (("msssim", msssim_db), ("psnr", float)):
        a, t = curves["uniform"], curves["sabr"]
        try:
            out[key] = bd_rate([p["bpp"] for p in a], [f(p[key]) for p in a], [p["bpp"] for p in t], [f(p[key]) for p in t])
        except BDRateError as exc:
            out[key] = str(exc)
    return out


def encode_time(images: dict[str, np.ndarray], weights: str | None) -> dict:
    """Seconds per image for ``save()`` at the default quality, both modes."""
    out = {}
    for m in ("sabr", "uniform"):
        opts = codec.EncodeOptions(codec="recurrent", sabr=m == "sabr", weights=weights)
        start = time.perf_counter()
        for rgb in images.values():
            codec.encode(rgb, "RGB", opts)
        out[m] = (time.perf_counter() - start) / len(images)
    return out


def main() -> None:
    ap = study_parser(__doc__, "sabr")
    ap.add_argument("--picture", nargs="+", default=["kodim03", "chart"],
                    help="images (Kodak or low-complexity) whose rate maps are drawn")
    ap.add_argument("--tolerance", type=float, default=codec.SABR_TOLERANCE,
                    help="SABR tolerance of the curves (default: save()'s); timing and picture use save()'s")
    args = ap.parse_args()
    model_id, engine, kodak = study_setup(args)
    results = {"model_id": model_id, "threads": args.threads, "tolerance": args.tolerance, "sets": {}}
    sets = {"low-complexity": low_complexity(), "kodak": kodak}
    for name, images in sets.items():
        per_image = measure(engine, model_id, images, args.tolerance)
        curves = average(per_image)
        results["sets"][name] = {"images": list(images), "curves": curves, "bd_rate_pct": bd(curves),
                                 "bd_rate_pct_per_image": {image: bd(c) for image, c in per_image.items()},
                                 "curves_per_image": per_image}
        print(name, results["sets"][name]["bd_rate_pct"], flush=True)
    results["encode_s_per_kodak_image"] = encode_time(kodak, args.weights)
    args.out.mkdir(parents=True, exist_ok=True)
    draw_rate_maps(args.picture, sets["low-complexity"] | kodak, args.out, args.weights)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "results.md").write_text(report(results))
    print(report(results))


def draw_rate_maps(names: list[str], images: dict[str, np.ndarray], out: Path, weights: str | None) -> None:
    """``ratemap-NAME.png`` for each named image, coded as ``save()`` does."""
    for name in names:
        if name in images:
            data = codec.encode(images[name], "RGB", codec.EncodeOptions(codec="recurrent", weights=weights))
            rate_map_picture(data).save(out / f"ratemap-{name}.png")


def report(results: dict) -> str:
    t = results["encode_s_per_kodak_image"]
    lines = [f"# Spatially adaptive bit rates (recurrent model id {results['model_id']}, "
             f"tolerance {results['tolerance']}, {results['threads']} threads)", "",
             "Whole files (header, rate map, framing). BD-rate of SABR against the same model with `sabr=False` "
             "(negative: SABR needs fewer bits for the same quality).", ""]
    for name, r in results["sets"].items():
        b = r["bd_rate_pct"]
        fmt = lambda v: f"{v:+.1f}%" if isinstance(v, float) else v  # noqa: E731
        each = ", ".join(f"{image} {fmt(v['msssim'])}" for image, v in r["bd_rate_pct_per_image"].items())
        lines += [f"## {name} ({len(r['images'])} images)", "",
                  f"BD-rate: MS-SSIM {fmt(b['msssim'])}, PSNR {fmt(b['psnr'])}", "",
                  f"Per image (MS-SSIM): {each}", "",
                  "| iterations | uniform bpp | uniform MS-SSIM | uniform PSNR | SABR bpp | SABR MS-SSIM | SABR PSNR "
                  "| mean iterations | painted flat | map + flat bytes | seam excess SABR / uniform |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for u, s in zip(r["curves"]["uniform"], r["curves"]["sabr"]):
            lines.append(f"| {u['iterations']} | {u['bpp']:.3f} | {u['msssim']:.4f} | {u['psnr']:.2f} | {s['bpp']:.3f} | "
                         f"{s['msssim']:.4f} | {s['psnr']:.2f} | {s['mean_iterations']:.2f} | {s['flat_share']:.0%} | {s['map_bytes']:.0f} | "
                         f"{s['seam_excess']:+.2f} / {u['seam_excess']:+.2f} |")
        lines.append("")
    lines += [f"Encoding time at the default quality, per Kodak image: {t['sabr']:.2f} s with SABR, "
              f"{t['uniform']:.2f} s without ({t['sabr'] / t['uniform']:.2f}x).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
