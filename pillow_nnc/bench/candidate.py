"""Rate-distortion of an unreleased weights file on Kodak, against the
recorded JPEG curve: the check a trained model must pass before release.

``python -m pillow_nnc.bench.candidate runs/rc.safetensors [--images N] [--set thumb32]``

Real ``.nnc`` files are written at every rate step of the model (every
iteration count of a recurrent model, 8 level bytes of a transform model)
with ``save(weights=...)``, decoded, and averaged per step as the benchmark
does; BD-rates on the benchmark's four metrics (MS-SSIM in dB, PSNR,
SSIMULACRA 2, Butteraugli) are taken against every codec recorded in
``bench/results/results.json`` on the same images (``--set screen`` for the
generated screen set). On a thumbnail set (``--set thumbN``) they are taken
against the header-less payloads, the thumbnail target; ``--against
OTHER.safetensors`` adds the BD-rates against another model on the same
images (real files both). ``--levels`` gives the rate steps to code.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np

from .. import zoo
from ..container import Header, write
from ..engines import Payload
from .analysis import METRICS, msssim_db, neglog
from .bdrate import BDRateError, bd_rate
from .run import DEFAULT_KODAK, DEFAULT_OUT, image_quality
from .sets import Item, build_set, list_images, load_rgb, set_size


def _levels(engine: zoo.Engine) -> list[int]:
    """One level byte per distinct rate step of the model."""
    if engine.family == "recurrent":
        return [engine.level_of_iterations(n) for n in range(1, engine.max_iterations + 1)]
    return [*range(0, 256, 36), 255]


def whole_file(model_id: int, rgb: np.ndarray, payload: Payload) -> bytes:
    """The file ``save()`` would write for an RGB image and an engine's
    payload (no metadata)."""
    header = Header(width=rgb.shape[1], height=rgb.shape[0], mode="RGB", model_id=model_id,
                    codec_params=payload.params, rate_map=payload.rate_map, flat_blocks=payload.flat_blocks)
    return write(header, payload.segments)


def evaluate(weights: str, images: list[Item]) -> list[dict]:
    """Mean bpp and every benchmark metric per rate step over ``images``."""
    model_id = zoo.add_weights(weights)
    engine = zoo.engine(model_id)
    rows: dict[int, list[dict]] = {}
    for item in images:
        rgb = item.array
        state = engine.analyse(rgb)
        for level in _levels(engine):
            payload = engine.encode(state, level)
            size = len(whole_file(model_id, rgb, payload))
            out = engine.decode(payload.params, payload.segments, rgb.shape[1], rgb.shape[0])
            rows.setdefault(level, []).append({"bpp": 8 * size / (rgb.shape[0] * rgb.shape[1]), **image_quality(rgb, out)})
        print(f"{item.name}: done", flush=True)
    return [{"level": level, **_means(v)} for level, v in sorted(rows.items())]


def _means(points: list[dict]) -> dict[str, float | None]:
    """Mean of each measured key over points (None where any point lacks it)."""
    keys = ("bpp", *[key for key, _, _ in METRICS])
    return {k: None if any(p.get(k) is None for p in points) else float(np.mean([p[k] for p in points])) for k in keys}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights")
    ap.add_argument("--kodak", type=Path, default=DEFAULT_KODAK)
    ap.add_argument("--images", type=int, default=24, help="first N Kodak images (JPEG is averaged over the same)")
    ap.add_argument("--set", default="kodak", help="kodak, or a thumbnail set of them (thumbN)")
    ap.add_argument("--results", type=Path, default=DEFAULT_OUT / "results.json", help="benchmark results with JPEG points")
    ap.add_argument("--against", metavar="WEIGHTS", help="also the BD-rate against this model on the same images")
    args = ap.parse_args()
    paths = list_images(args.kodak)[: args.images]
    images = build_set(args.set, [(p.stem, load_rgb(p)) for p in paths])
    thumbnails = set_size(args.set) is not None
    anchors = ("jpeg", "webp", "avif") if thumbnails else ("jpeg", "webp", "avif", "jxl")  # JPEG XL: no payload measure
    bpp_key = "payload_bpp" if thumbnails else "bpp"
    recorded = json.loads(args.results.read_text())["points"]
    curve = evaluate(args.weights, images)
    print(json.dumps({"weights": args.weights, "set": args.set, "images": len(images), "curve": curve}, indent=1))
    references = [(f"{a}{' payload' if thumbnails else ''}",
                   anchor_curve(recorded, a, args.set, {i.name for i in images}, bpp_key)) for a in anchors]
    if args.against:
        references.append((args.against, evaluate(args.against, images)))
    transforms = {"msssim": msssim_db, "butteraugli": neglog}
    for label, points in references:
        for key, _, name in METRICS:
            f = transforms.get(key, float)
            if not points or any(p[key] is None for p in points + curve):
                print(f"BD-rate vs {label} on {name}: not measured")
                continue
            try:
                bd = bd_rate([p["bpp"] for p in points], [f(p[key]) for p in points],
                             [p["bpp"] for p in curve], [f(p[key]) for p in curve])
                print(f"BD-rate vs {label} on {name}: {bd:+.1f}%")
            except BDRateError as exc:
                print(f"BD-rate vs {label} on {name}: {exc}")


def anchor_curve(recorded: list[dict], codec: str, set_name: str, names: set[str], bpp_key: str) -> list[dict]:
    """A recorded codec's mean bpp and metrics per quality over ``names``
    (qualities measured on every image only)."""
    points = [p for p in recorded if p["codec"] == codec and p["set"] == set_name and p["image"] in names]
    curve = []
    for quality in sorted({p["quality"] for p in points}):
        g = [p for p in points if p["quality"] == quality]
        if len(g) == len(names) and all(p.get(bpp_key) is not None for p in g):
            curve.append({**_means([{**p, "bpp": p[bpp_key]} for p in g])})
    return curve


if __name__ == "__main__":
    main()
