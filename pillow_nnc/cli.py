"""The ``nnc`` command: encode, decode, inspect, demo, train, bench.

Exit status: 0 on success, 1 when any input failed (each failure is
reported on stderr as ``nnc: PATH: reason``), 2 for usage errors.
Outputs are written to a temporary file and renamed into place, so an
interrupted run never leaves a half-written file, and existing outputs are
only replaced with ``--force``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from . import container, zoo
from .codec import CODECS, ENTROPY_MODES
from .errors import NncError, UnsupportedFileError
from .metrics import ms_ssim_rgb, psnr

SAMPLE = Path(__file__).resolve().parent / "samples" / "chelsea.png"
# Failures of one input that are reported as "nnc: PATH: reason" (exit 1)
# rather than a traceback; UnidentifiedImageError is an OSError.
BATCH_ERRORS = (OSError, ValueError, Image.DecompressionBombError, RuntimeError, MemoryError)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".avif"}


def _reason(exc: BaseException) -> str:
    return str(exc).removeprefix("nnc: ")


def _ranged(lo: int, hi: int | None) -> Callable[[str], int]:
    """argparse type: an int in lo..hi, else a usage error (exit status 2)."""

    def parse(text: str) -> int:
        value = int(text)
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi if hi is not None else ''}")
        return value

    return parse


def _write_atomic(path: Path, data: bytes, force: bool) -> None:
    if path.exists() and not force:
        msg = f"{path} exists (use --force to replace it)"
        raise FileExistsError(msg)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; outputs follow the umask like any file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _encode_one(src: Path, dst: Path, args: argparse.Namespace) -> None:
    with Image.open(src) as im:
        # .nnc keeps EXIF only when asked, so bake the orientation into the
        # pixels here, or phone photos would come out rotated.
        im = ImageOps.exif_transpose(im)
        buf = io.BytesIO()
        im.save(buf, format="NNC", quality=args.quality, max_bytes=args.max_bytes, codec=args.codec,
                weights=args.weights, entropy=args.entropy, sabr=not args.no_sabr)
    _write_atomic(dst, buf.getvalue(), args.force)


def _decode_one(src: Path, dst: Path, args: argparse.Namespace) -> None:
    with Image.open(src, formats=["NNC"]) as im:
        im.load()
        buf = io.BytesIO()
        im.save(buf, format=Image.registered_extensions().get(dst.suffix.lower(), "PNG"))
    _write_atomic(dst, buf.getvalue(), args.force)


def _pairs(src: Path, dst: Path, suffixes: set[str], out_suffix: str) -> list[tuple[Path, Path]]:
    """(input, output) pairs: one file, or every matching file of a folder."""
    if not src.is_dir():
        return [(src, dst)]
    dst.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in suffixes)
    return [(p, dst / (p.stem + out_suffix)) for p in files]


def _run_batch(pairs: list[tuple[Path, Path]], work, args: argparse.Namespace) -> int:
    failures = 0
    for src, dst in tqdm(pairs, disable=len(pairs) < 2, unit="img", file=sys.stderr):
        try:
            work(src, dst, args)
        except BATCH_ERRORS as exc:
            failures += 1
            tqdm.write(f"nnc: {src}: {_reason(exc)}", file=sys.stderr)
    return 1 if failures else 0


def cmd_encode(args: argparse.Namespace) -> int:
    return _run_batch(_pairs(args.input, args.output, IMAGE_SUFFIXES, ".nnc"), _encode_one, args)


def cmd_decode(args: argparse.Namespace) -> int:
    return _run_batch(_pairs(args.input, args.output, {".nnc"}, ".png"), _decode_one, args)


def file_info(path: Path) -> dict:
    """Everything ``nnc info`` reports about a file, without decoding pixels."""
    data = path.read_bytes()
    try:
        header = container.read_header(io.BytesIO(data))
    except UnsupportedFileError as exc:
        # A newer format version (or a feature this version does not know):
        # report what is certain, interpret nothing beyond it.
        return {"file": str(path), "format_version": data[4], "supported": False,
                "reason": _reason(exc), "file_bytes": len(data)}
    segments, truncated = container.read_segments(data, header, allow_truncated=True)
    chunks = {k: len(getattr(header, k)) for k in container.CHUNKS.values() if getattr(header, k) is not None}
    return {
        "file": str(path),
        "format_version": container.VERSION,
        "supported": True,
        "width": header.width,
        "height": header.height,
        "mode": header.mode,
        "model_id": header.model_id,
        "model": zoo.describe(header.model_id),
        "codec_params": header.codec_params.hex(),
        "codec_params_meaning": _describe_params(header.model_id, header.codec_params),
        "model_ceiling": zoo.released().get(header.model_id, {}).get("quality_ceiling"),
        "header_bytes": header.size,
        "rate_map": _rate_map_summary(header),
        "flat_blocks": _flat_count(header),
        "chunks": chunks,
        "segments": [{"index": i, "offset": s.offset, "bytes": len(s.data)} for i, s in enumerate(segments)],
        "truncated": truncated,
        "file_bytes": len(data),
        "bpp": round(len(data) * 8 / (header.width * header.height), 4),
    }


def _rate_map_summary(header: container.Header) -> dict[int, int] | None:
    """Blocks per iteration count of a recurrent file's rate map (None
    without one, or when the model's family is unknown here)."""
    entry = zoo.released().get(header.model_id)
    if header.rate_map is None or entry is None or entry["family"] != "recurrent" or not header.codec_params:
        return None
    from .entropy.rate_map import decode_map

    h, w = -(-header.height // 16), -(-header.width // 16)
    try:
        counts = decode_map(header.rate_map, h, w, header.codec_params[0])
    except NncError:
        return None
    values, freq = np.unique(counts, return_counts=True)
    return {int(v): int(f) for v, f in zip(values, freq)}


def _flat_count(header: container.Header) -> int | None:
    """How many blocks a recurrent file paints flat (None without a valid FLAT_BLOCKS chunk)."""
    if header.flat_blocks is None:
        return None
    from .entropy.flat_blocks import decode_flat

    try:
        return int(decode_flat(header.flat_blocks, -(-header.height // 16), -(-header.width // 16))[0].sum())
    except NncError:
        return None


def _describe_params(model_id: int, params: bytes) -> str | None:
    """The codec parameters in words when the model's family is known
    (released models; user weights need loading, so they stay hex)."""
    entry = zoo.released().get(model_id)
    if entry is None:
        return None
    from .engines import recurrent, transform

    describe = {"transform": transform.describe_params, "recurrent": recurrent.describe_params}.get(entry["family"])
    return describe(params) if describe else None


def cmd_info(args: argparse.Namespace) -> int:
    try:
        info = file_info(args.file)
    except SyntaxError:
        print(f"nnc: {args.file}: not an .nnc file", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"nnc: {args.file}: {_reason(exc)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    if not info["supported"]:
        print(f"{info['file']}: NNC format version {info['format_version']}, {info['file_bytes']} bytes; "
              f"not readable by this pillow-nnc: {info['reason']}")
        return 0
    print(f"{info['file']}: NNC v{info['format_version']}, {info['width']}x{info['height']} {info['mode']}, "
          f"{info['file_bytes']} bytes, {info['bpp']} bpp")
    meaning = f" ({info['codec_params_meaning']})" if info["codec_params_meaning"] else ""
    print(f"  model: {info['model']}; codec parameters: {info['codec_params'] or '-'}{meaning}")
    if info["model_ceiling"]:
        ceiling = info["model_ceiling"]
        print(f"  model ceiling: SSIMULACRA 2 {ceiling['ssimulacra2']} at its top rate (JPEG's quality "
              f"{ceiling['quality']} on held-out photos); higher qualities give that")
    if info["rate_map"]:
        per = ", ".join(f"{n}: {count}" for n, count in info["rate_map"].items())
        print(f"  rate map: blocks per iteration count {{{per}}}")
    if info["flat_blocks"]:
        print(f"  flat blocks: {info['flat_blocks']} painted from their colours")
    print(f"  header: {info['header_bytes']} bytes; chunks: "
          + (", ".join(f"{k} ({n} bytes)" for k, n in info["chunks"].items()) or "none"))
    for s in info["segments"]:
        print(f"  segment {s['index']}: offset {s['offset']}, {s['bytes']} bytes")
    if info["truncated"]:
        print("  truncated: the last segment is incomplete")
    return 0


def cmd_ratemap(args: argparse.Namespace) -> int:
    from .bench.ratemap import rate_map_picture

    try:
        picture = rate_map_picture(args.input.read_bytes())
        buf = io.BytesIO()
        picture.save(buf, format=Image.registered_extensions().get(args.output.suffix.lower(), "PNG"))
        _write_atomic(args.output, buf.getvalue(), args.force)
    except BATCH_ERRORS as exc:
        print(f"nnc: {args.input}: {_reason(exc)}", file=sys.stderr)
        return 1
    return 0


def _jpeg_at_size(rgb: np.ndarray, budget: int) -> tuple[bytes, int]:
    """Largest JPEG (4:2:0, optimized) not over ``budget`` bytes (or the
    quality-1 JPEG if even that is larger), and its quality."""
    best = None
    for q in range(1, 96):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=q, subsampling=2, optimize=True)
        if buf.tell() > budget and best is not None:
            break
        best = (buf.getvalue(), q)
    return best


def cmd_demo(args: argparse.Namespace) -> int:
    with Image.open(args.image) as im:
        rgb = np.asarray(im.convert("RGB"))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="NNC", quality=args.quality)
    nnc = buf.getvalue()
    decoded = np.asarray(Image.open(io.BytesIO(nnc)).convert("RGB"))
    jpeg, jq = _jpeg_at_size(rgb, len(nnc))
    jdec = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    pixels = rgb.shape[0] * rgb.shape[1]
    print(f"{args.image.name}: {rgb.shape[1]}x{rgb.shape[0]}, {len(nnc)} bytes as .nnc (quality {args.quality})")
    print(f"{'codec':<22}{'bytes':>8}{'bpp':>8}{'PSNR dB':>9}{'MS-SSIM':>9}")
    for name, size, out in ((".nnc", len(nnc), decoded), (f"JPEG q{jq} 4:2:0", len(jpeg), jdec)):
        print(f"{name:<22}{size:>8}{size * 8 / pixels:>8.3f}{psnr(rgb, out):>9.2f}{ms_ssim_rgb(rgb, out):>9.4f}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        _write_atomic(args.out / "demo.nnc", nnc, True)
        Image.fromarray(decoded).save(args.out / "demo-nnc.png")
        Image.fromarray(jdec).save(args.out / "demo-jpeg.png")
        print(f"wrote {args.out}/demo.nnc, demo-nnc.png, demo-jpeg.png")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="nnc", description="Learned image codec (.nnc) tools.")
    sub = ap.add_subparsers(dest="command", required=True)
    enc = sub.add_parser("encode", help="image(s) to .nnc")
    enc.add_argument("input", type=Path, help="image file or folder")
    enc.add_argument("output", type=Path, help=".nnc file or folder")
    rate = enc.add_mutually_exclusive_group()
    rate.add_argument("--quality", "-q", type=_ranged(1, 100), default=75, help="1-100 (default 75)")
    rate.add_argument("--max-bytes", type=_ranged(1, None), help="largest file size allowed, in bytes")
    enc.add_argument("--codec", choices=CODECS, help="model family (default: transform)")
    enc.add_argument("--weights", help="encode with your own trained weights (.safetensors)")
    enc.add_argument("--entropy", choices=ENTROPY_MODES,
                     help="local entropy models (default), global tables only, or raw (no probability model)")
    enc.add_argument("--no-sabr", action="store_true",
                     help="recurrent codec: every block gets every iteration (no spatially adaptive bit rates)")
    enc.add_argument("--force", "-f", action="store_true", help="replace existing outputs")
    enc.set_defaults(func=cmd_encode)
    dec = sub.add_parser("decode", help=".nnc to an image (format from the output extension, default PNG)")
    dec.add_argument("input", type=Path, help=".nnc file or folder")
    dec.add_argument("output", type=Path, help="image file or folder")
    dec.add_argument("--force", "-f", action="store_true", help="replace existing outputs")
    dec.set_defaults(func=cmd_decode)
    inf = sub.add_parser("info", help="describe an .nnc file without decoding it")
    inf.add_argument("file", type=Path)
    inf.add_argument("--json", action="store_true", help="machine-readable output")
    inf.set_defaults(func=cmd_info)
    rmap = sub.add_parser("ratemap", help="picture of a recurrent file's rate map (iterations per 16x16 block) over its image")
    rmap.add_argument("input", type=Path, help=".nnc file saved with codec='recurrent'")
    rmap.add_argument("output", type=Path, help="picture (format from the extension, default PNG)")
    rmap.add_argument("--force", "-f", action="store_true", help="replace an existing output")
    rmap.set_defaults(func=cmd_ratemap)
    demo = sub.add_parser("demo", help="encode and decode a photo, compare with JPEG of the same size")
    demo.add_argument("image", type=Path, nargs="?", default=SAMPLE, help="default: the bundled sample")
    demo.add_argument("--quality", "-q", type=_ranged(1, 100), default=75)
    demo.add_argument("--out", type=Path, help="folder for the .nnc and decoded PNGs")
    demo.set_defaults(func=cmd_demo)
    sub.add_parser("train", help="train a model (see: nnc train --help)", add_help=False)
    sub.add_parser("bench", help="rate-distortion benchmark (see: nnc bench --help)", add_help=False)
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:
        from .train.loop import main as train_main

        train_main(argv[1:])
        return 0
    if argv[:1] == ["bench"]:
        from .bench.cli import main as bench_main

        return bench_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BATCH_ERRORS as exc:
        print(f"nnc: {_reason(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
