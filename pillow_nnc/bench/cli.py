"""Command line of ``python -m pillow_nnc.bench`` (see the package docstring)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .codecs import get_codecs
from .run import DEFAULT_KODAK, DEFAULT_OUT, Config
from .screen import SCREENS
from .sets import SET_NAMES, set_size

PROG = "python -m pillow_nnc.bench"

EPILOG = f"""\
other commands:
  {PROG} visual --image kodim23 --bytes 12000 --out crops.png
  {PROG} visual --image screen/editor --match nnc=90 --zoom 2 --out text.png
        side-by-side crops of one image (a Kodak file or a generated screen)
        from every codec at (the largest file not over) the same size; see
        `{PROG} visual --help`
  {PROG} sheets [--codecs LIST] [--out DIR]
        only the standard visual sheets a run writes (screen at NNC q=30 and
        q=75 sizes, photo and text at NNC q=90 size), into DIR
  {PROG} report [--out DIR]
        rewrite results.md and the plots from an existing results.json

examples:
  {PROG} --quick                              # smoke run: 2 images, 3 qualities, 1 repeat
  {PROG} --codecs jpeg,webp,avif,jxl --sets kodak,thumb32 --images 4
  {PROG} --codecs nnc,jpeg,avif --q nnc=10,30,50,70,90
  {PROG} --codecs nnc,jpeg,webp,avif,jxl --sets kodak,thumb32,screen --images 8
"""


def _codec_list(value: str) -> list[str] | None:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names or names == ["all"]:
        return None
    known = get_codecs()
    bad = [n for n in names if n not in known]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown codec(s) {', '.join(bad)}; choose from {', '.join(known)}")
    return list(dict.fromkeys(names))


def _set_list(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    try:
        for n in names:
            set_size(n)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if not names:
        raise argparse.ArgumentTypeError("no set given")
    return list(dict.fromkeys(names))


def _quality_override(value: str) -> tuple[str, list[int]]:
    try:
        name, qs = value.split("=", 1)
        qualities = [int(q) for q in qs.split(",") if q.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected CODEC=Q1,Q2,..., got {value!r}") from exc
    if name not in get_codecs() or not qualities:
        raise argparse.ArgumentTypeError(f"bad quality override {value!r}")
    return name, sorted(set(qualities))


def _match(value: str) -> tuple[str, int]:
    name, quality = _quality_override(value)
    if len(quality) != 1:
        raise argparse.ArgumentTypeError(f"expected CODEC=Q, got {value!r}")
    return name, quality[0]


def _positive(value: str) -> int:
    v = int(value)
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return v


def run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Rate-distortion, speed and memory benchmark of the NNC Pillow plugin against "
        "JPEG, WebP, AVIF and JPEG XL on Kodak, Kodak thumbnails and generated screen content, "
        "measured by PSNR, MS-SSIM, SSIMULACRA 2 and Butteraugli. Writes results.json, "
        "results.md (BD-rate, speed and memory tables), rd_<set>.png plots and visual_*.png sheets.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--kodak", type=Path, default=DEFAULT_KODAK, metavar="DIR",
                   help=f"directory of lossless source images (default {DEFAULT_KODAK})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help=f"output directory (default {DEFAULT_OUT})")
    p.add_argument("--codecs", type=_codec_list, default=None, metavar="LIST",
                   help="comma-separated codecs (default: all available): " + ",".join(get_codecs()))
    p.add_argument("--sets", type=_set_list, default=list(SET_NAMES), metavar="LIST",
                   help="comma-separated sets (default %(default)s); thumbN = centre square crop, Lanczos to NxN; "
                   "screen = 9 generated screens (terminal, editor, dialog, charts, ...)")
    p.add_argument("--images", type=_positive, default=None, metavar="N",
                   help="use only the first N images of --kodak (the screen set stays whole)")
    p.add_argument("--quick", action="store_true",
                   help="smoke mode: 2 images per set, 3 qualities per codec, 1 repeat (explicit options win)")
    p.add_argument("--repeats", type=_positive, default=None, metavar="N",
                   help="timed runs per point, median kept (default 3, 1 with --quick)")
    p.add_argument("--threads", type=_positive, default=1, metavar="N",
                   help="threads for AVIF/JXL/torch (default 1: all codecs single-threaded)")
    p.add_argument("--q", dest="qualities", type=_quality_override, action="append", default=[],
                   metavar="CODEC=Q1,Q2,...", help="override a codec's quality sweep (repeatable)")
    p.add_argument("--no-memory", dest="memory", action="store_false",
                   help="skip the per-codec peak-memory subprocess probes")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="do not write PNG plots")
    p.add_argument("--no-visual", dest="visual", action="store_false",
                   help="do not write the standard visual sheets (see the sheets command)")
    p.add_argument("--list-codecs", action="store_true", help="list codecs, settings and availability, then exit")
    return p


def visual_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} visual",
        description="Crops of the same image from each codec at (the largest file not over) the same "
        "byte budget, side by side in one labelled PNG.",
    )
    p.add_argument("--kodak", type=Path, default=DEFAULT_KODAK, metavar="DIR", help="image directory")
    p.add_argument("--image", default="kodim23",
                   help="image name (kodim23, 23, a path, or screen/NAME for a generated screen: "
                   f"{', '.join(SCREENS)}); default %(default)s")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--bytes", dest="budget", type=_positive, default=None, metavar="N",
                      help="byte budget per codec (whole image)")
    size.add_argument("--bpp", type=float, default=None, help="budget as bits per pixel (default 0.25)")
    size.add_argument("--match", type=_match, default=None, metavar="CODEC=Q",
                      help="budget = the file size of CODEC at quality Q (e.g. nnc=90)")
    p.add_argument("--codecs", type=_codec_list, default=None, metavar="LIST", help="codecs (default all available)")
    p.add_argument("--crop", default=None, metavar="X,Y,W,H", help="crop box (default: centred square)")
    p.add_argument("--crop-size", type=_positive, default=256, metavar="S", help="centred crop side (default 256)")
    p.add_argument("--zoom", type=_positive, default=1, help="nearest-neighbour magnification of crops")
    p.add_argument("--cols", type=_positive, default=None, help="tiles per row (default up to 4)")
    p.add_argument("--thumb", type=_positive, default=None, metavar="N",
                   help="use the NxN thumbnail (centre crop + Lanczos) instead of the full image")
    p.add_argument("--threads", type=_positive, default=1)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT / "visual.png", help="output PNG (default %(default)s)")
    return p


def sheets_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} sheets",
        description="The standard visual sheets of a benchmark run, alone: each codec at the file size "
        "of NNC at quality 30 and 75 on a screen, and at quality 90 on a photo and a text crop.",
    )
    p.add_argument("--kodak", type=Path, default=DEFAULT_KODAK, metavar="DIR", help="image directory (the photo)")
    p.add_argument("--codecs", type=_codec_list, default=None, metavar="LIST",
                   help="codecs (default all available); the first NNC one sets the budget")
    p.add_argument("--threads", type=_positive, default=1)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="output directory (default %(default)s)")
    return p


def report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"{PROG} report", description="Rewrite results.md and plots from results.json.")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR")
    p.add_argument("--no-plots", dest="plots", action="store_false")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "visual":
        from .visual import visual

        a = visual_parser().parse_args(argv[1:])
        info = visual(a.kodak, a.image, a.out, budget=a.budget, bpp=a.bpp, match=a.match, codecs=a.codecs,
                      crop=a.crop, crop_size=a.crop_size, zoom=a.zoom, cols=a.cols, threads=a.threads, thumb=a.thumb)
        print(f"wrote {info['out']}")
        return 0 if any("bytes" in r for r in info["codecs"]) else 1
    if argv and argv[0] == "sheets":
        from .visual import standard_sheets

        a = sheets_parser().parse_args(argv[1:])
        registry = get_codecs(a.threads)
        chosen = [registry[n] for n in a.codecs or registry if registry[n].available() is None]
        done = standard_sheets(a.kodak, a.out, chosen)
        for s in done["sheets"]:
            print(f"wrote {a.out / s['out']}")
        return 0 if done["sheets"] else 1
    if argv and argv[0] == "report":
        from .report import regenerate

        a = report_parser().parse_args(argv[1:])
        for path in regenerate(a.out, a.plots):
            print(f"wrote {path}")
        return 0

    a = run_parser().parse_args(argv)
    if a.list_codecs:
        for name, c in get_codecs(a.threads).items():
            reason = c.available()
            print(f"{name:<14} {'ok' if reason is None else 'unavailable: ' + reason}\n"
                  f"{'':<14} {c.library}; {c.settings}\n"
                  f"{'':<14} qualities {list(c.qualities)} (quick {list(c.quick_qualities)})\n"
                  f"{'':<14} header-less payload: {c.header}")
        return 0
    cfg = Config(
        kodak=a.kodak, out=a.out, codecs=a.codecs, sets=a.sets, images=a.images, quick=a.quick,
        repeats=a.repeats if a.repeats is not None else (1 if a.quick else 3), threads=a.threads,
        memory=a.memory, plots=a.plots, visual=a.visual, qualities=dict(a.qualities),
        command=" ".join([PROG] + [shlex.quote(x) for x in argv]),
    )
    from .report import console_summary, write_reports
    from .run import run

    results = run(cfg)
    written = write_reports(results, cfg.out, cfg.plots)
    print()
    print(console_summary(results))
    for path in [Path(cfg.out) / "results.json", *written]:
        print(f"wrote {path}")
    return 0 if results["points"] else 1
