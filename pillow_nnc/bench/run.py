"""The benchmark loop: every codec x set x image x quality.

For each (set, codec): one untimed warm-up encode+decode (loads libraries
and, for NNC, model weights); a codec that fails there is recorded in
``errors`` and skipped for that set.  Then every image at every quality is
encoded ``repeats`` times and the encoding decoded ``repeats`` times; the
point keeps the median times (``time.perf_counter`` around
``img.save(...)`` and ``Image.open(...).convert("RGB")``), the real file
size, the header-less payload size, and the decoded image's PSNR (RGB),
MS-SSIM (RGB), SSIMULACRA 2 and Butteraugli max-norm and 3-norm distances
(``pillow_nnc.metrics``; Butteraugli null when ``butteraugli_main`` is not
installed).  A failing point is recorded in ``errors`` and the run goes on.

Peak memory is measured per (set, codec) in fresh subprocesses, one for
encoding and one for decoding the set's first image at the middle quality
of the sweep (see :func:`pillow_nnc.bench.codecs.probe_main`).

Last, unless ``visual`` is off, the standard visual sheets are written
(:func:`pillow_nnc.bench.visual.standard_sheets`).
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from . import analysis
from . import codecs as codecs_mod
from .codecs import Codec, get_codecs
from .sets import SET_NAMES, Item, build_set, list_images, load_rgb, set_info

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_KODAK = (REPO_ROOT / ".." / "shared" / "data" / "kodak").resolve()
DEFAULT_OUT = REPO_ROOT / "bench" / "results"


@dataclass
class Config:
    kodak: Path = DEFAULT_KODAK
    out: Path = DEFAULT_OUT
    codecs: list[str] | None = None  # None = every available codec
    sets: list[str] = field(default_factory=lambda: list(SET_NAMES))
    images: int | None = None
    quick: bool = False
    repeats: int = 3
    threads: int = 1
    memory: bool = True
    plots: bool = True
    visual: bool = True
    qualities: dict[str, list[int]] = field(default_factory=dict)
    command: str = "python -m pillow_nnc.bench"
    progress: bool = True


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def write_json(results: dict[str, Any], path: Path) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_finite(results), indent=1, allow_nan=False))
    tmp.replace(path)


def _err(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}"[:500]


def library_versions() -> dict[str, str | None]:
    from importlib import metadata

    import PIL
    from PIL import features

    out: dict[str, str | None] = {"python": platform.python_version(), "pillow": PIL.__version__}
    for key, feat in (("libjpeg-turbo", "libjpeg_turbo"),):
        try:
            out[key] = features.version_feature(feat)
        except Exception:
            out[key] = None
    for key, mod in (("libjpeg", "jpg"), ("libwebp", "webp"), ("libavif", "avif")):
        try:
            out[key] = features.version(mod)
        except Exception:
            out[key] = None
    try:
        from PIL import _avif

        out["avif_codecs"] = _avif.codec_versions()
    except Exception:
        out["avif_codecs"] = None
    for dist in ("pillow-jxl-plugin", "numpy", "torch", "pytorch-msssim", "ssimulacra2", "scipy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def image_quality(ref: np.ndarray, rec: np.ndarray) -> dict[str, float | None]:
    """The metrics recorded for a decoded image (uint8 (H, W, 3) arrays)."""
    from pillow_nnc.metrics import butteraugli_norms, ms_ssim_rgb, psnr, ssimulacra2_rgb

    norms = butteraugli_norms(ref, rec)
    return {
        "psnr": psnr(ref, rec), "msssim": ms_ssim_rgb(ref, rec), "ssimulacra2": ssimulacra2_rgb(ref, rec),
        "butteraugli": None if norms is None else norms[0], "butteraugli_3norm": None if norms is None else norms[1],
    }


def measure_point(codec: Codec, item: Item, quality: int, repeats: int) -> dict[str, Any]:
    enc_times, dec_times = [], []
    data = b""
    for _ in range(repeats):
        t0 = time.perf_counter()
        data = codec.encode(item.image, quality)
        enc_times.append(time.perf_counter() - t0)
    decoded = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        decoded = codec.decode(data)
        dec_times.append(time.perf_counter() - t0)
    assert decoded is not None
    if decoded.size != item.image.size:
        raise ValueError(f"decoded size {decoded.size} != original {item.image.size}")
    rec = np.array(decoded, dtype=np.uint8)  # writable copy (torch warns on read-only)
    payload_error = None
    try:
        payload = codec.payload(data)
    except Exception as exc:
        payload, payload_error = None, _err(exc)
    bits = 8.0 * len(data)
    return {
        "codec": codec.name,
        "quality": quality,
        "image": item.name,
        "width": item.image.width,
        "height": item.image.height,
        "bytes": len(data),
        "payload_bytes": payload,
        "bpp": bits / item.pixels,
        "payload_bpp": None if payload is None else 8.0 * payload / item.pixels,
        **image_quality(item.array, rec),
        "enc_s": statistics.median(enc_times),
        "dec_s": statistics.median(dec_times),
        "_payload_error": payload_error,
    }


def measure_memory(codec: Codec, item: Item, quality: int, threads: int, workdir: Path) -> list[dict[str, Any]]:
    """Peak RSS of one encode and one decode, each in a fresh interpreter."""
    src = workdir / "input.png"
    item.image.save(src, format="PNG")
    enc = workdir / "encoded.bin"
    enc.write_bytes(codec.encode(item.image, quality))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    rows = []
    for mode, path in (("encode", src), ("decode", enc)):
        spec = json.dumps({"codec": codec.name, "threads": threads, "mode": mode, "input": str(path), "quality": quality})
        cmd = [sys.executable, "-c", codecs_mod.PROBE_LOADER, codecs_mod.__file__, spec]
        row: dict[str, Any] = {"codec": codec.name, "mode": mode, "image": item.name, "quality": quality}
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=1800)
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
                raise RuntimeError(f"probe exited {proc.returncode}: {tail}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            row.update(
                peak_mib=r["peak_kib"] / 1024, delta_mib=r["delta_kib"] / 1024,
                rss_before_mib=r["rss_before_kib"] / 1024, method=r["method"],
            )
        except Exception as exc:
            row.update(peak_mib=None, delta_mib=None, error=_err(exc))
        rows.append(row)
    return rows


def select_codecs(cfg: Config, results: dict[str, Any], log) -> list[Codec]:
    registry = get_codecs(cfg.threads)
    names = cfg.codecs or list(registry)
    chosen = []
    for name in names:
        codec = registry[name]
        if name in cfg.qualities:
            qs = tuple(cfg.qualities[name])
        else:
            qs = codec.quick_qualities if cfg.quick else codec.qualities
        reason = codec.available()
        results["codecs"][name] = {
            "label": codec.label, "format": codec.fmt, "library": codec.library,
            "settings": codec.settings, "params": {k: v for k, v in codec.params.items()},
            "header": codec.header, "qualities": list(qs), "available": reason is None,
            "unavailable_reason": reason,
        }
        if reason is not None:
            if cfg.codecs:  # explicitly requested: that is an error worth recording
                results["errors"].append({"codec": name, "set": None, "image": None, "quality": None,
                                          "stage": "setup", "error": reason})
            log(f"  {name}: unavailable ({reason}), skipped")
            continue
        codec.qualities = qs
        chosen.append(codec)
    return chosen


def run(cfg: Config) -> dict[str, Any]:
    """Run the benchmark, write ``results.json`` and return the results."""
    from pillow_nnc.metrics import butteraugli_binary

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    log = (lambda s: print(s, flush=True)) if cfg.progress else (lambda s: None)
    repeats = max(1, cfg.repeats)
    paths = list_images(Path(cfg.kodak))
    n_images = cfg.images if cfg.images is not None else (2 if cfg.quick else None)
    if n_images is not None:
        paths = paths[: max(1, n_images)]
    started = datetime.now(timezone.utc).astimezone()
    results: dict[str, Any] = {
        "meta": {
            "command": cfg.command,
            "date": started.isoformat(timespec="seconds"),
            "finished": None,
            "complete": False,
            "host": {"platform": platform.platform(), "machine": platform.machine(),
                     "cpus": os.cpu_count(), "nice": os.nice(0) if hasattr(os, "nice") else None},
            "versions": library_versions(),
            "kodak_dir": str(Path(cfg.kodak).resolve()),
            "quick": cfg.quick, "repeats": repeats, "threads": cfg.threads,
            "memory_probe": cfg.memory,
            "quality_note": codecs_mod.QUALITY_NOTE,
            "butteraugli_main": butteraugli_binary(),
        },
        "codecs": {}, "run_codecs": [], "sets": {}, "points": [], "errors": [], "memory": [],
    }
    json_path = out / "results.json"
    log(f"bench: {len(paths)} image(s) from {cfg.kodak}; sets {','.join(cfg.sets)}; "
        f"repeats {repeats}; threads {cfg.threads}; out {out}")
    import torch  # pillow_nnc.metrics runs MS-SSIM with torch: keep it to --threads too

    torch.set_num_threads(max(1, cfg.threads))
    codecs = select_codecs(cfg, results, log)
    results["run_codecs"] = [c.name for c in codecs]
    sources = [(p.stem, load_rgb(p)) for p in paths]
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None

    for set_name in cfg.sets:
        items = build_set(set_name, sources, screens=2 if cfg.quick else None)
        results["sets"][set_name] = {
            "images": [it.name for it in items],
            "sizes": sorted({f"{it.image.width}x{it.image.height}" for it in items}),
            **set_info(set_name),
        }
        for codec in codecs:
            t_start = time.perf_counter()
            qualities = list(codec.qualities)
            mid = qualities[len(qualities) // 2]
            n_ok = n_err = 0
            try:  # untimed warm-up
                codec.decode(codec.encode(items[0].image, mid))
            except Exception as exc:
                results["errors"].append({"codec": codec.name, "set": set_name, "image": items[0].name,
                                          "quality": mid, "stage": "warmup", "error": _err(exc)})
                log(f"[{set_name}] {codec.name:<14} FAILED at warm-up ({_err(exc)}); skipped")
                write_json(results, json_path)
                continue
            todo = [(it, q) for it in items for q in qualities]
            bar = tqdm(todo, desc=f"{set_name}/{codec.name}", leave=False, disable=None if cfg.progress else True) if tqdm else todo
            for item, q in bar:
                try:
                    point = measure_point(codec, item, q, repeats)
                except Exception as exc:
                    n_err += 1
                    results["errors"].append({"codec": codec.name, "set": set_name, "image": item.name,
                                              "quality": q, "stage": "point", "error": _err(exc)})
                    continue
                perr = point.pop("_payload_error")
                if perr:
                    results["errors"].append({"codec": codec.name, "set": set_name, "image": item.name,
                                              "quality": q, "stage": "payload", "error": perr})
                point["set"] = set_name
                results["points"].append(point)
                n_ok += 1
            mem_note = ""
            if cfg.memory and n_ok:
                with tempfile.TemporaryDirectory(prefix="nnc-bench-mem-") as tmp:
                    for row in measure_memory(codec, items[0], mid, cfg.threads, Path(tmp)):
                        row["set"] = set_name
                        results["memory"].append(row)
                        if row.get("error"):
                            results["errors"].append({"codec": codec.name, "set": set_name, "image": items[0].name,
                                                      "quality": mid, "stage": f"memory-{row['mode']}",
                                                      "error": row["error"]})
                mem = {r["mode"]: r for r in results["memory"] if r["set"] == set_name and r["codec"] == codec.name}
                if all(mem.get(m, {}).get("peak_mib") is not None for m in ("encode", "decode")):
                    mem_note = f", peak RSS enc/dec {mem['encode']['peak_mib']:.0f}/{mem['decode']['peak_mib']:.0f} MiB"
            pts = [p for p in results["points"] if p["set"] == set_name and p["codec"] == codec.name]
            timing = ""
            if pts:
                enc = 1000 * sum(p["enc_s"] for p in pts) / len(pts)
                dec = 1000 * sum(p["dec_s"] for p in pts) / len(pts)
                bpps = [p["bpp"] for p in pts]
                timing = f", {min(bpps):.3f}-{max(bpps):.3f} bpp, enc {enc:.1f} ms, dec {dec:.1f} ms"
            log(f"[{set_name}] {codec.name:<14} {len(items)} img x {len(qualities)} q: {n_ok} points, "
                f"{n_err} errors{timing}{mem_note} ({time.perf_counter() - t_start:.1f} s)")
            write_json(results, json_path)

    if cfg.visual:
        from .visual import standard_sheets

        log("visual sheets:")
        results["visual"] = standard_sheets(Path(cfg.kodak), out, codecs, log)
    analysis.summarize(results)
    results["meta"]["finished"] = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
    results["meta"]["complete"] = True
    write_json(results, json_path)
    return results
