"""Turn a training checkpoint into a released weights file.

``python -m pillow_nnc.train.export runs/transform/checkpoint.pt weights/x.safetensors``

The file holds the float networks in fp16 and everything the entropy
decoder needs as integers: for a transform model the integer
hyper-synthesis, the Gaussian ladder tables, the rung of each hyper-latent
channel and the importance-map tables (one per integer quality level,
counted on the held-out training photos, or on their thumbnails for a
model trained on thumbnails); for a recurrent model the
context tables of its binary codes (counted on training photos). Both get a
quality -> level table calibrated against JPEG's SSIMULACRA 2, and the
model's ceiling. No optimizer state, no pickle.

``--recalibrate weights/x.safetensors`` redoes only the quality map of a
released file (its tensors, and so its decoding, stay the same).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..engines.recurrent import RecurrentEngine
from ..engines.transform import TransformEngine
from ..entropy import bits, intnet
from ..entropy.scales import LOG_STEP, NUM_SCALES, SCALE_MIN
from ..entropy.tables import gaussian_tables, quantize_pmf
from ..metrics import ssimulacra2_rgb
from ..models.objective import DEFAULT_OBJECTIVE
from ..models.transform import LEVELS, TransformCodec
from .data import centre_crop, is_validation, list_images, load_rgb, validation_set
from .loop import DEFAULT_DATA, to_batch
from .objective import jpeg_roundtrip


@torch.no_grad()
def mask_tables(model: TransformCodec, crops: torch.Tensor) -> np.ndarray:
    """Integer frequencies of 'groups kept' per integer quality level."""
    tables = []
    for level in range(LEVELS):
        _, kept = model.analysis(crops, torch.full((len(crops),), float(level)))
        counts = np.bincount(kept.ceil().clamp(1, model.groups).long().ravel().numpy() - 1, minlength=model.groups)
        tables.append(quantize_pmf(counts + 0.5))
    return np.stack(tables)


LOCAL_SETS = 8  # table sets in a recurrent model's local entropy model dictionary


def code_tables(engine: RecurrentEngine, images: list[np.ndarray]) -> dict[str, torch.Tensor]:
    """Context tables of the recurrent codes, counted on training photos
    (centre crops of up to 256x256): the global set and the dictionary of
    local sets."""
    iterations, shapes = [], []
    for im in images:
        codes, counts = engine.analyse(centre_crop(im, 256)).codes(engine.max_iterations)
        shapes.append(counts.shape)
        iterations.append(codes)
    channels = engine.model.bits
    return {
        "bits.freqs": torch.from_numpy(bits.count_frequencies(iterations, shapes, channels)),
        "bits.local": torch.from_numpy(bits.learn_dictionary(iterations, shapes, channels, LOCAL_SETS)),
    }


CALIBRATION_GRID = tuple(range(0, 256, 15))  # 0..255: ends on the top level


def jpeg_ssimulacra2(images: list[np.ndarray]) -> list[float]:
    """Mean SSIMULACRA 2 of JPEG (4:2:0) at each quality 1..100 on ``images``."""
    means = []
    for quality in range(1, 101):
        means.append(float(np.mean([ssimulacra2_rgb(im, jpeg_roundtrip(im, quality)[1]) for im in images])))
    return means


def quality_levels(engine: TransformEngine | RecurrentEngine, images: list[np.ndarray]) -> tuple[list[int], dict]:
    """Rate byte for each quality 1..100 and the model's ceiling.

    Quality q gets the lowest level whose mean SSIMULACRA 2 on the held-out
    ``images`` reaches JPEG's (4:2:0) at quality q, so the same number means
    about the same picture as in JPEG. Qualities beyond the model's reach
    get its top level: the ceiling (the last quality matched and the top
    level's SSIMULACRA 2) is returned for ``nnc info`` and the README."""
    features = [engine.analyse(im) for im in images]
    nnc = []
    for level in CALIBRATION_GRID:
        scores = []
        for im, f in zip(images, features):
            params, segments, *_ = engine.encode(f, level)
            scores.append(ssimulacra2_rgb(im, engine.decode(params, segments, im.shape[1], im.shape[0])))
        nnc.append(float(np.mean(scores)))
    grid = list(CALIBRATION_GRID)
    nnc = list(np.maximum.accumulate(nnc))  # np.interp needs it increasing
    levels: list[int] = []
    reached = 0
    for quality, target in enumerate(jpeg_ssimulacra2(images), 1):
        if target <= nnc[-1]:
            reached = quality
            level = round(np.interp(target, nnc, grid)) if target > nnc[0] else 0
        else:
            level = 255
        levels.append(max(levels[-1] if levels else 0, level))
    return levels, {"quality": reached, "ssimulacra2": round(nnc[-1], 1)}


def recalibrate(weights: Path, data: Path) -> str:
    """Rewrite the quality map and ceiling of a weights file in place (the
    tensors, and so every file it decodes, stay the same); returns the new
    SHA-256."""
    with safe_open(str(weights), framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    settings = json.loads(weights.with_suffix(".json").read_text()).get("settings", {})
    held_out = [load_rgb(p, 512) for p in list_images(data) if is_validation(p, data)]
    raw = validation_set(held_out, int(settings.get("patch", 0)), settings.get("thumbnails") == "True")
    engine = {"transform": TransformEngine, "recurrent": RecurrentEngine}[metadata["family"]](tensors, metadata)
    levels, ceiling = quality_levels(engine, list(raw))
    metadata["quality_levels"], metadata["quality_ceiling"] = json.dumps(levels), json.dumps(ceiling)
    save_file(tensors, str(weights), metadata)
    return hashlib.sha256(weights.read_bytes()).hexdigest()


def _transform_tensors(state: dict, crops: torch.Tensor) -> dict[str, torch.Tensor]:
    """Float transforms plus every integer table the entropy decoder uses."""
    model = TransformCodec(**state["config"]).eval()
    model.load_state_dict(state["model"])
    # The float h_s is not used for coding (its integer twin is), but keeps
    # the release a complete starting point for further training.
    tensors = _float_tensors(model.state_dict())
    tensors.update({f"int.{k}": v.contiguous() for k, v in intnet.quantize(model.h_s).items()})
    freqs, radius = gaussian_tables()
    tensors["ladder.freqs"] = torch.from_numpy(freqs)
    tensors["ladder.radius"] = torch.from_numpy(radius)
    z_rung = ((model.z_log_scale.detach().double() - math.log(SCALE_MIN)) / LOG_STEP).round()
    tensors["z.rungs"] = z_rung.clamp(0, NUM_SCALES - 1).to(torch.int32)
    tensors["mask.freqs"] = torch.from_numpy(mask_tables(model, crops))
    return tensors


def export(checkpoint: Path, out: Path, name: str, data: Path) -> str:
    """Weights file (fp16 safetensors, no optimizer state) and its record from a
    training checkpoint, with what coding needs beside the network: integer
    tables and the quality map, measured on the held-out photos of ``data``.
    Returns the file's SHA-256, which ``weights/models.json`` pins."""
    state = torch.load(checkpoint, weights_only=False)
    family = state.get("family", "transform")
    paths = [p for p in list_images(data) if is_validation(p, data)]
    settings = state.get("args", {})
    held_out = [load_rgb(p, 512) for p in paths]
    raw = validation_set(held_out, int(settings.get("patch", 0)), settings.get("thumbnails") == "True")
    metadata = {"family": family, "name": name, "config": json.dumps(state["config"]), "quality_levels": "[]",
                "training": _training_record(state)}
    if family == "transform":
        # What the encoder's effort minimises (engines/refine.py): the run's own objective.
        metadata["objective"] = json.dumps({k: float(settings.get(k, v)) for k, v in DEFAULT_OBJECTIVE.items()})
        tensors = _transform_tensors(state, to_batch(raw))
        engine = TransformEngine(tensors, metadata)
    else:
        tensors = _float_tensors(state["model"])
        metadata["max_iterations"] = state["args"]["iterations"]
        train = [load_rgb(p, 384) for p in list_images(data)[::10] if not is_validation(p, data)]
        tensors.update(code_tables(RecurrentEngine(tensors, metadata), train))
        engine = RecurrentEngine(tensors, metadata)
    levels, ceiling = quality_levels(engine, list(raw))
    metadata["quality_levels"], metadata["quality_ceiling"] = json.dumps(levels), json.dumps(ceiling)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata)
    out.chmod(0o644)
    _write_training_record(checkpoint, out, state, data)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def _write_training_record(checkpoint: Path, out: Path, state: dict, data: Path) -> None:
    """``<weights>.json`` beside the weights: what data, settings and steps
    produced them, and the validation learning curve from the run's log."""
    log = checkpoint.parent / "log.jsonl"
    curve = []
    if log.exists():
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            if "val" in rec:
                val = {k: v if v is None else round(v, 4) for k, v in rec["val"].items() if not isinstance(v, list)}
                curve.append({"step": rec["step"], "cpu_hours": round(rec["cpu_hours"], 3), **val})
    record = {
        "data": str(data),
        "validation": "1 in 20 training photos by path hash, plus skimage/chelsea.png and coffee.png (train/data.py)",
        "config": state["config"],
        "settings": state.get("args", {}),
        "step": state["step"],
        "cpu_hours": round(state["cpu_seconds"] / 3600, 3),
        "learning_curve": curve,
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")


def snapshot(checkpoint: Path, out: Path) -> None:
    """The network of a training checkpoint (fp16) and its step and CPU-hours,
    without entropy tables or quality map: enough for ``--init-from`` (a later
    run, here or on a GPU machine, goes on from it), not for coding. Checkpoints
    outside the repository may not survive a session; this can be committed."""
    state = torch.load(checkpoint, weights_only=False, map_location="cpu")
    metadata = {"family": state.get("family", "transform"), "config": json.dumps(state["config"]),
                "training": _training_record(state), "settings": json.dumps(state.get("args", {}))}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(_float_tensors(state["model"]), str(out), metadata)


def _float_tensors(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The networks as a weights file holds them: fp16, under ``float.``."""
    return {f"float.{k}": v.half().contiguous() for k, v in state_dict.items()}


def _training_record(state: dict) -> str:
    """The ``training`` metadata: steps and compute of the checkpoint."""
    return json.dumps({"step": state["step"], "cpu_hours": state["cpu_seconds"] / 3600,
                       "gpu_hours": state.get("gpu_seconds", 0.0) / 3600})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint", type=Path, help="training checkpoint, or with --recalibrate a weights file")
    ap.add_argument("out", type=Path, nargs="?", help="weights file to write")
    ap.add_argument("--name", help="human-readable model name recorded in the file")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--recalibrate", action="store_true",
                    help="only recompute the quality map and ceiling of an exported weights file, in place")
    ap.add_argument("--snapshot", action="store_true",
                    help="write only the network and its training record (for --init-from), not a codable model")
    args = ap.parse_args()
    if args.recalibrate:
        print(recalibrate(args.checkpoint, args.data))
    elif args.out is None or (args.name is None and not args.snapshot):
        ap.error("out (and --name, unless --snapshot) are required to export a checkpoint")
    elif args.snapshot:
        snapshot(args.checkpoint, args.out)
    else:
        print(export(args.checkpoint, args.out, args.name, args.data))


if __name__ == "__main__":
    main()
