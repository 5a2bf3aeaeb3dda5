"""Write ``results.md`` (tables) and ``rd_<set>.png`` (rate-distortion plots).

Per set, ``results.md`` has BD-rate tables (rows: codecs or anchors;
columns: MS-SSIM, PSNR, SSIMULACRA 2, Butteraugli), one per rate kind,
then speed, memory and the averaged points; last the visual sheets.

``results.json`` itself is written by :mod:`pillow_nnc.bench.run`; this
module only reads the results dictionary (``analysis.summarize`` applied),
so ``python -m pillow_nnc.bench report --out DIR`` can regenerate the
Markdown and plots from an existing JSON file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .analysis import METRICS, rate_kinds, skipped_metrics, summarize
from .codecs import NNC_NAMES

RATE_TITLE = {"bpp": "file size (bpp)", "payload_bpp": "header-less payload (bpp)",
              "file_vs_payload": "real file vs the anchor's header-less payload"}
# (curve key, axis label) of the plotted metrics, one column each
PLOT_METRICS = (("msssim", "MS-SSIM (RGB)"), ("psnr", "PSNR (RGB, dB)"), ("ssimulacra2", "SSIMULACRA 2"),
                ("butteraugli", "Butteraugli max-norm (lower is better)"))

METHOD_NOTES = """\
- **bpp** = 8 x (real file size in bytes) / (width x height), from the exact
  bytes Pillow wrote. **Header-less bpp** (thumbnail sets, as Toderici et al.
  2015 reported JPEG/WebP) uses the payload only:
{headers}
- **Metrics**: PSNR over all RGB samples; MS-SSIM on RGB (`pillow_nnc.metrics.ms_ssim_rgb`,
  5 scales when the image allows it, fewer scales down to single-scale SSIM on
  small thumbnails); SSIMULACRA 2.1 (`pillow_nnc.metrics.ssimulacra2_rgb`: 100 = identical,
  ~90 visually lossless, ~50 medium quality; libjxl's blur and scales, within 0.2 points of
  libjxl on a reference pair); Butteraugli max-norm distance and 3-norm from libjxl's
  `butteraugli_main` at its default 80-nit intensity target (0 = identical, ~1 = just
  noticeable; lower is better). Curves average bpp and every metric over the images of a set
  at each quality setting; a setting is kept only if every image has a point there.
- **BD-rate**: Bjontegaard delta rate on the averaged curves, log-rate interpolated as a
  function of the metric by a shape-preserving piecewise cubic Hermite (PCHIP) interpolant
  and integrated exactly over the overlapping metric interval; MS-SSIM is used in dB
  (`-10 log10(1 - MS-SSIM)`), SSIMULACRA 2 as it is, Butteraugli (max-norm) as
  `-ln(distance)` so that it rises with rate. Dominated (non-monotone) points are dropped
  first. Negative = the tested codec needs fewer bits than the anchor at equal quality.
- **Speed**: wall-clock `time.perf_counter()` around `img.save(buf, format=..., quality=q, ...)`
  (encode) and `Image.open(buf).convert("RGB")` (decode), median of {repeats} run(s) per point
  after one untimed warm-up per codec and set; the table gives the mean over all points of the
  set (every image at every quality of the codec's sweep), in ms per image, and ratios to JPEG and
  AVIF measured in the same run (>1 = slower). All codecs limited to {threads} thread(s).
- **Memory**: peak resident set size of one encode and one decode (first image of the set,
  middle quality of the sweep), each in a fresh Python process that imports only Pillow
  and the codec's plugin (torch for NNC) and loads the input first; the kernel's peak-RSS mark
  is then reset (`/proc/self/clear_refs` = 5, falling back to `getrusage` `ru_maxrss`) and read
  back (`VmHWM`) after the operation. *Peak* is the whole process (interpreter + libraries +
  image), *delta* = peak - RSS just before the operation (what the codec itself allocated,
  including lazily loaded model weights). Ratios are of the peaks.
"""


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.1f}%"


def _num(v: float | None, fmt: str = "{:.2f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def _x(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}x"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines + [""]


def _label(results: dict, codec: str) -> str:
    return results["codecs"].get(codec, {}).get("label", codec)


def _bd_tables(results: dict[str, Any], set_name: str, per_codec: dict) -> list[str]:
    """BD-rate vs JPEG and of each NNC variant vs every other codec: one
    table per rate kind, one column per metric, footnotes for failures."""
    bd = {(r["kind"], r["anchor"], r["test"], r["rate"], r["metric"]): r
          for r in results.get("bdrate", []) if r["set"] == set_name}
    skipped = skipped_metrics(results, results.get("curves", {}))
    notes: list[str] = []

    def cell(kind: str, anchor: str, test: str, rate: str, point_key: str, key: str, label: str) -> str:
        if point_key in skipped:
            return "skipped"
        row = bd.get((kind, anchor, test, rate, key))
        if row is None:
            return "n/a"
        if row["bd_rate"] is None and row.get("error"):
            axis = {"msssim_db": "MS-SSIM dB", "butteraugli_neglog": "-ln Butteraugli"}.get(key, label)  # the error's axis
            note = f"{_label(results, test)} vs {_label(results, anchor)} ({axis}, {rate}): {row['error']}"
            if note not in notes:
                notes.append(note)
            return f"n/a [{notes.index(note) + 1}]"
        return _pct(row["bd_rate"])

    def tables(kind: str, pairs: list[tuple[str, str]], first: str) -> list[str]:
        out = []
        for rate in rate_kinds(set_name, kind):
            out += [f"*{RATE_TITLE[rate]}*", ""]
            rows = [[_label(results, test if first == "codec" else anchor)]
                    + [cell(kind, anchor, test, rate, *m) for m in METRICS] for anchor, test in pairs]
            out += _table([first] + [label for _, _, label in METRICS], rows)
        return out

    lines = []
    tested = [c for c in results["run_codecs"] if c in per_codec and c != "jpeg"]
    if "jpeg" in per_codec and tested:
        lines += ["### BD-rate vs JPEG", "", "Negative = fewer bits than JPEG at equal quality.", ""]
        lines += tables("vs_jpeg", [("jpeg", c) for c in tested], "codec")
    for nnc in (c for c in results["run_codecs"] if c in NNC_NAMES and c in per_codec):
        others = [c for c in results["run_codecs"] if c in per_codec and c != nnc]
        if others:
            lines += [f"### BD-rate of {_label(results, nnc)} vs every other codec", "",
                      f"Negative = {_label(results, nnc)} needs fewer bits than the anchor.", ""]
            lines += tables("nnc_vs", [(o, nnc) for o in others], "anchor")
    return lines + ([f"[{i}] {n}  " for i, n in enumerate(notes, 1)] + [""] if notes else [])


def _sheet_row(results: dict[str, Any], r: dict[str, Any]) -> list[str]:
    if "error" in r:
        return [_label(results, r["codec"]), "failed: " + r["error"].replace("|", "\\|")] + [""] * 6
    return [_label(results, r["codec"]), str(r["quality"]) + (" (over budget)" if r["over_budget"] else ""),
            str(r["bytes"]), _num(r["bpp"], "{:.3f}"), _num(r["psnr"]), _num(r["msssim"], "{:.4f}"),
            _num(r["ssimulacra2"], "{:.1f}"), _num(r["butteraugli"])]


def _visual_section(results: dict[str, Any]) -> list[str]:
    """The standard visual sheets (``results["visual"]``), each with its per-codec numbers."""
    vis = results.get("visual")
    if not vis:
        return []
    lines = ["## Visual comparisons", ""]
    if not vis["sheets"]:
        return lines + [f"No sheets: {vis['skipped']}.", ""]
    anchor = _label(results, vis["anchor"])
    for s in vis["sheets"]:
        lines += [f"### {s['image']}: every codec at the file size of {anchor} q={s['anchor_quality']} "
                  f"({s['budget']} bytes)", "", f"![{s['out']}]({s['out']})", ""]
        rows = [_sheet_row(results, r) for r in s["codecs"]]
        lines += _table(["codec", "quality", "bytes", "bpp", "PSNR dB", "MS-SSIM", "SSIMULACRA 2", "Butteraugli"], rows)
    return lines


def markdown(results: dict[str, Any], plots: bool = True) -> str:
    meta = results["meta"]
    v = meta.get("versions", {})
    lines = [
        "# pillow_nnc benchmark",
        "",
        f"- Date: {meta['date']} (finished {meta.get('finished') or 'n/a'})",
        f"- Command: `{meta['command']}`",
        f"- Host: {meta['host']['platform']}, {meta['host']['cpus']} CPU(s)"
        + (f", nice {meta['host']['nice']}" if meta["host"].get("nice") is not None else ""),
        f"- Images: `{meta['kodak_dir']}`; repeats {meta['repeats']}; threads {meta['threads']}"
        + ("; **quick (smoke) mode**" if meta.get("quick") else ""),
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
        "",
        *[f"**Skipped metric** - {why}; its BD-rate columns say *skipped*.  "
          for why in skipped_metrics(results, results.get("curves", {})).values()],
        "",
        "## Codecs",
        "",
    ]
    rows = []
    for name, c in results["codecs"].items():
        status = "yes" if c["available"] else f"no: {c['unavailable_reason']}"
        rows.append([f"`{name}`", c["library"], c["settings"], ", ".join(map(str, c["qualities"])), status])
    lines += _table(["codec", "library", "settings", "qualities", "available"], rows)
    lines.append(f"{meta.get('quality_note', '')}")
    lines.append("")
    headers = "\n".join(f"  - {c['label']}: {c['header']}" for c in results["codecs"].values())
    lines += ["## Method", "", METHOD_NOTES.format(headers=headers, repeats=meta["repeats"], threads=meta["threads"])]

    for set_name, info in results["sets"].items():
        per_codec = results.get("curves", {}).get(set_name, {})
        lines += [f"## Set `{set_name}`", "",
                  f"{len(info['images'])} image(s) ({', '.join(info['images'])}), size {', '.join(info['sizes'])}.", ""]
        if info.get("fonts"):
            lines += ["Fonts: " + ", ".join(f"{k} = {v}" for k, v in info["fonts"].items()) + ".", ""]
        lines += _bd_tables(results, set_name, per_codec)
        if not per_codec:
            lines += ["No complete curves for this set.", ""]

        sp = [r for r in results.get("speed", []) if r["set"] == set_name]
        if sp:
            lines += ["### Speed (ms per image, mean over the quality sweep)", ""]
            rows = [[_label(results, r["codec"]), str(r["points"]), _num(r["enc_ms"], "{:.1f}"), _num(r["dec_ms"], "{:.1f}"),
                     _x(r["enc_vs_jpeg"]), _x(r["dec_vs_jpeg"]), _x(r["enc_vs_avif"]), _x(r["dec_vs_avif"])] for r in sp]
            lines += _table(["codec", "points", "enc ms", "dec ms", "enc x JPEG", "dec x JPEG", "enc x AVIF", "dec x AVIF"], rows)
        mem = [r for r in results.get("memory_summary", []) if r["set"] == set_name]
        if mem:
            lines += ["### Peak memory (MiB)", ""]
            rows = [[_label(results, r["codec"]), _num(r["enc_peak_mib"], "{:.0f}"), _num(r["dec_peak_mib"], "{:.0f}"),
                     _num(r["enc_delta_mib"], "{:.1f}"), _num(r["dec_delta_mib"], "{:.1f}"),
                     _x(r["enc_peak_vs_jpeg"]), _x(r["dec_peak_vs_jpeg"]), _x(r["enc_peak_vs_avif"]), _x(r["dec_peak_vs_avif"])]
                    for r in mem]
            lines += _table(["codec", "enc peak", "dec peak", "enc delta", "dec delta",
                             "enc x JPEG", "dec x JPEG", "enc x AVIF", "dec x AVIF"], rows)
        if per_codec:
            if plots:
                lines += [f"![rate-distortion {set_name}](rd_{set_name}.png)", ""]
            lines += ["<details><summary>Averaged rate-distortion points</summary>", ""]
            rows = []
            for codec, pts in per_codec.items():
                for p in pts:
                    rows.append([_label(results, codec), str(p["quality"]), _num(p["bpp"], "{:.4f}"),
                                 _num(p["payload_bpp"], "{:.4f}"), _num(p["psnr"]), _num(p["msssim"], "{:.4f}"),
                                 _num(p.get("ssimulacra2")), _num(p.get("butteraugli"), "{:.3f}"),
                                 _num(p.get("butteraugli_3norm"), "{:.3f}"),
                                 _num(None if p["enc_s"] is None else 1000 * p["enc_s"], "{:.1f}"),
                                 _num(None if p["dec_s"] is None else 1000 * p["dec_s"], "{:.1f}")])
            lines += _table(["codec", "quality", "bpp", "header-less bpp", "PSNR dB", "MS-SSIM", "SSIMULACRA 2",
                             "Butteraugli", "Butteraugli 3-norm", "enc ms", "dec ms"], rows)
            lines += ["</details>", ""]

    lines += _visual_section(results)

    errors = results.get("errors", [])
    lines += ["## Errors", ""]
    if errors:
        rows = [[e["codec"], str(e.get("set")), str(e.get("image")), str(e.get("quality")), e["stage"],
                 e["error"].replace("|", "\\|")] for e in errors[:200]]
        lines += _table(["codec", "set", "image", "quality", "stage", "error"], rows)
        if len(errors) > 200:
            lines += [f"... and {len(errors) - 200} more (see results.json)", ""]
    else:
        lines += ["None.", ""]
    return "\n".join(lines)


def plot_set(results: dict[str, Any], set_name: str, path: Path) -> bool:
    """bpp vs each metric of :data:`PLOT_METRICS` that has values, one column
    each (and a header-less row for thumbnails)."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot global state

    per_codec = results.get("curves", {}).get(set_name, {})
    if not per_codec:
        return False
    rates = [r for r in rate_kinds(set_name)
             if any(p[r] is not None for pts in per_codec.values() for p in pts)]
    metrics = [(k, label) for k, label in PLOT_METRICS
               if any(p.get(k) is not None for pts in per_codec.values() for p in pts)]
    colors = {c: f"C{i % 10}" for i, c in enumerate(results["run_codecs"])}
    fig = Figure(figsize=(5.5 * len(metrics), 4.2 * len(rates)), layout="constrained")
    axes = fig.subplots(len(rates), len(metrics), squeeze=False)
    for i, rate in enumerate(rates):
        for j, (key, label) in enumerate(metrics):
            ax = axes[i][j]
            for codec, pts in per_codec.items():
                xy = [(p[rate], p[key]) for p in pts if p[rate] is not None and p.get(key) is not None]
                if not xy:
                    continue
                xy.sort()
                style = "-" if codec in NNC_NAMES else "--"
                ax.plot([a for a, _ in xy], [b for _, b in xy], style, marker="o", ms=3.5, lw=1.5,
                        color=colors.get(codec), label=_label(results, codec))
            ax.set_xlabel("bits per pixel" + (" (header-less payload)" if rate == "payload_bpp" else " (file size)"))
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
            ax.set_title(f"{set_name}: {label} vs {'header-less ' if rate == 'payload_bpp' else ''}bpp", fontsize=10)
            ax.legend(fontsize=8)
    fig.suptitle(f"{set_name} ({len(results['sets'][set_name]['images'])} images, averaged per quality)")
    fig.savefig(path, dpi=100)
    return True


def write_reports(results: dict[str, Any], out: Path, plots: bool = True) -> list[Path]:
    out = Path(out)
    written = []
    md = out / "results.md"
    md.write_text(markdown(results, plots))
    written.append(md)
    if plots:
        for set_name in results["sets"]:
            p = out / f"rd_{set_name}.png"
            if plot_set(results, set_name, p):
                written.append(p)
    return written


def regenerate(out: Path, plots: bool = True) -> list[Path]:
    """Re-summarise an existing results.json and rewrite the Markdown/plots."""
    results = json.loads((Path(out) / "results.json").read_text())
    summarize(results)
    return write_reports(results, out, plots)


def console_summary(results: dict[str, Any]) -> str:
    """Compact plain-text table per set: BD-rates vs JPEG, speed, memory."""
    speed = {(r["set"], r["codec"]): r for r in results.get("speed", [])}
    mem = {(r["set"], r["codec"]): r for r in results.get("memory_summary", [])}
    bd = {(r["set"], r["kind"], r["anchor"], r["test"], r["rate"], r["metric"]): r for r in results.get("bdrate", [])}
    short = {"msssim_db": "MS-SSIM", "psnr": "PSNR", "ssimulacra2": "SSIMU2", "butteraugli_neglog": "Butter"}
    out = []
    for set_name in results["sets"]:
        per_codec = results.get("curves", {}).get(set_name, {})
        cols = [(rate, key, f"BD {short[key]}{'*' if rate == 'payload_bpp' else ''}")
                for rate in rate_kinds(set_name) for _, key, _label in METRICS]
        head = f"{'codec':<14} {'bpp range':>13}" + "".join(f" {h:>9}" for _, _, h in cols)
        head += f" {'enc ms':>8} {'dec ms':>8} {'enc xJPG':>8} {'dec xJPG':>8} {'enc xAVIF':>9} {'dec xAVIF':>9} {'peak MiB e/d':>12}"
        out += [f"== {set_name} ({len(results['sets'][set_name]['images'])} images; BD-rate vs JPEG"
                + (", * = header-less" if "payload_bpp" in rate_kinds(set_name) else "") + ")", head]
        for codec in results["run_codecs"]:
            pts = per_codec.get(codec)
            if not pts:
                out.append(f"{codec:<14} no complete curve")
                continue
            bpps = [p["bpp"] for p in pts]
            line = f"{codec:<14} {min(bpps):>6.3f}-{max(bpps):<6.3f}"
            for rate, key, h in cols:
                r = bd.get((set_name, "vs_jpeg", "jpeg", codec, rate, key))
                line += " " + ("--" if codec == "jpeg" else _pct(r["bd_rate"] if r else None)).rjust(max(9, len(h)))
            s = speed.get((set_name, codec), {})
            line += f" {_num(s.get('enc_ms'), '{:.1f}'):>8} {_num(s.get('dec_ms'), '{:.1f}'):>8}"
            line += f" {_x(s.get('enc_vs_jpeg')):>8} {_x(s.get('dec_vs_jpeg')):>8} {_x(s.get('enc_vs_avif')):>9} {_x(s.get('dec_vs_avif')):>9}"
            m = mem.get((set_name, codec), {})
            line += f" {_num(m.get('enc_peak_mib'), '{:.0f}'):>5}/{_num(m.get('dec_peak_mib'), '{:.0f}'):<6}"
            out.append(line)
        out.append("")
    n_err = len(results.get("errors", []))
    out.append(f"{len(results['points'])} points, {n_err} error(s)" + (" (see results.md)" if n_err else ""))
    return "\n".join(out)
