"""Turn raw benchmark points into averaged curves, BD-rates, speed and memory tables.

* Averaged curve of a codec on a set: for each quality setting, the mean
  over images of bpp (and header-less bpp), PSNR (mean of per-image dB),
  MS-SSIM, SSIMULACRA 2 and the Butteraugli distances; a quality enters
  the curve only if *every* image of the set has a point there (a failed
  image would bias the mean).
* BD-rate (see :mod:`pillow_nnc.bench.bdrate`) on those averaged curves,
  rate = bpp (or header-less bpp on thumbnail sets), for four metrics:
  PSNR (dB); MS-SSIM expressed in dB, ``-10 log10(1 - MS-SSIM)``, a
  monotone change of axis that spreads the high-quality end where curves
  bunch up near 1 (the usual practice); SSIMULACRA 2 as it is (higher is
  better, already spread like a quality scale); and Butteraugli's max-norm
  distance as ``-ln(distance)``: BD-rate needs a metric that rises with
  rate, and the log weighs a step from 1 to 2 like one from 4 to 8 rather
  than letting the low-quality end dominate. The raw values are plotted
  and tabulated. A metric with no values in the run (Butteraugli without
  ``butteraugli_main``, or an older results.json) is skipped.
* Speed: mean over all points of the set (every image at every quality of
  the codec's sweep) of the per-point median encode / decode time, and the
  ratio of those means to JPEG's and AVIF's in the same run.
* Memory: the per-codec peak RSS probes (see :func:`run.measure_memory`),
  with the ratio of the peak to JPEG's and AVIF's peak.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from .bdrate import BDRateError, bd_rate
from .codecs import NNC_NAMES
from .sets import set_size

# (point key, the key its BD-rate is computed on, label)
METRICS = (("msssim", "msssim_db", "MS-SSIM"), ("psnr", "psnr", "PSNR"),
           ("ssimulacra2", "ssimulacra2", "SSIMULACRA 2"), ("butteraugli", "butteraugli_neglog", "Butteraugli"))


def _mean(values: list[float | None]) -> float | None:
    if not values or any(v is None or not math.isfinite(v) for v in values):
        return None
    return sum(values) / len(values)


def msssim_db(value: float | None) -> float | None:
    if value is None:
        return None
    return -10.0 * math.log10(max(1.0 - value, 1e-10))


def neglog(value: float | None) -> float | None:
    """``-ln(distance)``; an exact 0 (lossless) is floored at 1e-4."""
    return None if value is None else -math.log(max(value, 1e-4))


def skipped_metrics(results: dict[str, Any], curve_data: dict) -> dict[str, str]:
    """Point key -> why, for each metric of :data:`METRICS` that no averaged curve has values of."""
    meta = results.get("meta", {})
    out = {}
    points = [p for per_codec in curve_data.values() for pts in per_codec.values() for p in pts]
    for key, bd_key, label in METRICS:
        if not any(p.get(bd_key) is not None for p in points):
            absent = key == "butteraugli" and "butteraugli_main" in meta and not meta["butteraugli_main"]
            out[key] = f"{label}: " + ("butteraugli_main was not found (Debian package libjxl-devtools), "
                                      "its values are null" if absent else "not measured in this run")
    return out


def curves(results: dict[str, Any]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """set -> codec -> averaged points sorted by quality."""
    groups: dict[tuple[str, str, Any], list[dict]] = defaultdict(list)
    for p in results["points"]:
        groups[(p["set"], p["codec"], p["quality"])].append(p)
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for set_name, info in results["sets"].items():
        n_images = len(info["images"])
        per_codec: dict[str, list[dict[str, Any]]] = {}
        for codec in results["run_codecs"]:
            pts = []
            qualities = sorted({q for (s, c, q) in groups if s == set_name and c == codec})
            for q in qualities:
                g = groups[(set_name, codec, q)]
                if len({p["image"] for p in g}) != n_images:
                    continue
                ms = _mean([p["msssim"] for p in g])
                butter = _mean([p.get("butteraugli") for p in g])
                pts.append({
                    "quality": q, "n": len(g),
                    "bytes": _mean([p["bytes"] for p in g]),
                    "payload_bytes": _mean([p["payload_bytes"] for p in g]),
                    "bpp": _mean([p["bpp"] for p in g]),
                    "payload_bpp": _mean([p["payload_bpp"] for p in g]),
                    "psnr": _mean([p["psnr"] for p in g]),
                    "msssim": ms, "msssim_db": msssim_db(ms),
                    "ssimulacra2": _mean([p.get("ssimulacra2") for p in g]),
                    "butteraugli": butter, "butteraugli_neglog": neglog(butter),
                    "butteraugli_3norm": _mean([p.get("butteraugli_3norm") for p in g]),
                    "enc_s": _mean([p["enc_s"] for p in g]),
                    "dec_s": _mean([p["dec_s"] for p in g]),
                })
            if pts:
                per_codec[codec] = pts
        out[set_name] = per_codec
    return out


# What each kind of BD-rate compares: (the tested codec's rate, the anchor's).
# "file_vs_payload" is the thumbnail bar: NNC's real file against the
# anchor's header-less payload.
RATE_KEYS = {"bpp": ("bpp", "bpp"), "payload_bpp": ("payload_bpp", "payload_bpp"),
             "file_vs_payload": ("bpp", "payload_bpp")}


def _bd(anchor: list[dict], test: list[dict], rate: str, metric: str) -> tuple[float | None, str | None]:
    test_key, anchor_key = RATE_KEYS[rate]
    a = [(p[anchor_key], p[metric]) for p in anchor if p[anchor_key] is not None and p.get(metric) is not None]
    t = [(p[test_key], p[metric]) for p in test if p[test_key] is not None and p.get(metric) is not None]
    if not a or not t:
        return None, f"no points with both {anchor_key if not a else test_key} and {metric}"
    try:
        return bd_rate([x for x, _ in a], [y for _, y in a], [x for x, _ in t], [y for _, y in t]), None
    except BDRateError as exc:
        return None, str(exc)


def rate_kinds(set_name: str, kind: str = "vs_jpeg") -> tuple[str, ...]:
    """Rates a BD-rate of ``kind`` is computed on: file sizes, plus on
    thumbnail sets payloads, and for NNC against the others its file against
    their payloads."""
    if set_size(set_name) is None:  # full-size images: headers are a small share
        return ("bpp",)
    return ("bpp", "payload_bpp", "file_vs_payload") if kind == "nnc_vs" else ("bpp", "payload_bpp")


def bdrates(results: dict[str, Any], curve_data: dict) -> list[dict[str, Any]]:
    """Each codec vs JPEG, and every NNC variant vs every other codec, on
    every metric not in :func:`skipped_metrics`."""
    skipped = skipped_metrics(results, curve_data)
    rows = []
    for set_name, per_codec in curve_data.items():
        codecs = [c for c in results["run_codecs"] if c in per_codec]
        pairs = []
        if "jpeg" in per_codec:
            pairs += [("vs_jpeg", "jpeg", c) for c in codecs if c != "jpeg"]
        for nnc in (c for c in codecs if c in NNC_NAMES):
            pairs += [("nnc_vs", other, nnc) for other in codecs if other != nnc]
        for kind, anchor, test in pairs:
            for rate in rate_kinds(set_name, kind):
                for point_key, key, _label in METRICS:
                    if point_key in skipped:
                        continue
                    value, error = _bd(per_codec[anchor], per_codec[test], rate, key)
                    rows.append({
                        "set": set_name, "kind": kind, "anchor": anchor, "test": test,
                        "rate": rate, "metric": key, "bd_rate": value, "error": error,
                    })
    return rows


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def speed(results: dict[str, Any]) -> list[dict[str, Any]]:
    acc: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for p in results["points"]:
        acc[(p["set"], p["codec"])].append(p)
    rows = []
    for set_name in results["sets"]:
        means = {}
        for codec in results["run_codecs"]:
            pts = acc.get((set_name, codec))
            if pts:
                means[codec] = (
                    len(pts),
                    1000 * sum(p["enc_s"] for p in pts) / len(pts),
                    1000 * sum(p["dec_s"] for p in pts) / len(pts),
                )
        for codec, (n, enc, dec) in means.items():
            row = {"set": set_name, "codec": codec, "points": n, "enc_ms": enc, "dec_ms": dec}
            for ref in ("jpeg", "avif"):
                r = means.get(ref)
                row[f"enc_vs_{ref}"] = _ratio(enc, r[1] if r else None)
                row[f"dec_vs_{ref}"] = _ratio(dec, r[2] if r else None)
            rows.append(row)
    return rows


def memory(results: dict[str, Any]) -> list[dict[str, Any]]:
    by: dict[tuple[str, str], dict[str, dict]] = defaultdict(dict)
    for m in results.get("memory", []):
        if m.get("peak_mib") is not None:
            by[(m["set"], m["codec"])][m["mode"]] = m
    rows = []
    for set_name in results["sets"]:
        for codec in results["run_codecs"]:
            d = by.get((set_name, codec))
            if not d:
                continue
            row: dict[str, Any] = {"set": set_name, "codec": codec}
            for mode, short in (("encode", "enc"), ("decode", "dec")):
                m = d.get(mode, {})
                row[f"{short}_peak_mib"] = m.get("peak_mib")
                row[f"{short}_delta_mib"] = m.get("delta_mib")
                for ref in ("jpeg", "avif"):
                    rm = by.get((set_name, ref), {}).get(mode, {})
                    row[f"{short}_peak_vs_{ref}"] = _ratio(m.get("peak_mib"), rm.get("peak_mib"))
            rows.append(row)
    return rows


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Add ``curves``, ``bdrate``, ``speed`` and ``memory_summary`` to results."""
    c = curves(results)
    results["curves"] = c
    results["bdrate"] = bdrates(results, c)
    results["speed"] = speed(results)
    results["memory_summary"] = memory(results)
    return results
