"""The ``nnc`` command: encode, decode, inspect, demo, train, bench.

Exit status: 0 on success, 1 when any input failed or there was nothing to
do (each failure is reported on stderr as ``nnc: PATH: reason``, and so is
each file a folder run skips, without changing the status), 2 for usage
errors. A reader that stops early (``nnc info --json | head``) is not an
error: the command stops quietly with status 0, as ripgrep does.

``-`` as the input or output of encode and decode is stdin or stdout.
Outputs are written to a temporary file and renamed into place, so an
interrupted run never leaves a half-written file, and existing outputs are
only replaced with ``--force``; through a symbolic link the target is
replaced, never the link; a FIFO or character device (``/dev/null``) is
written into, as a shell redirection would; other non-files are refused.

Metadata: encode carries EXIF, ICC and XMP over from the source (``--strip``
and ``--no-exif/--no-icc/--no-xmp`` drop them) and decode hands them to the
output's Pillow writer, which keeps those its format holds. Unlike the
Python API, which keeps the EXIF orientation tag and leaves the pixels
alone as Pillow plugins do, encode applies the orientation to the pixels
and removes the tag (``ImageOps.exif_transpose``): the command's files end
up in viewers and formats (BMP, PPM, ``nnc decode`` to them) that ignore
the tag, and without the tag no viewer rotates them twice.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from . import __version__, container, zoo
from .codec import CODECS, ENTROPY_MODES, BudgetTooSmallError
from .errors import NncError, UnsupportedFileError
from .metrics import ms_ssim_rgb, psnr

SAMPLE = Path(__file__).resolve().parent / "samples" / "chelsea.png"
# Failures of one input that are reported as "nnc: PATH: reason" (exit 1)
# rather than a traceback; UnidentifiedImageError is an OSError.
BATCH_ERRORS = (OSError, ValueError, Image.DecompressionBombError, RuntimeError, MemoryError)
STDIO = Path("-")
DROP_METADATA = "--strip, or --no-exif, --no-icc, --no-xmp"


def _reason(exc: BaseException) -> str:
    return str(exc).removeprefix("nnc: ")


def _shown(path: Path) -> str:
    return "<stdin>" if path == STDIO else str(path)


def _readable_suffixes() -> set[str]:
    """Extensions of every format Pillow can open here (.jfif, .avif, ...), .nnc aside."""
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN and fmt != "NNC"}


def _ranged(lo: int, hi: int | None) -> Callable[[str], int]:
    """argparse type: an int in lo..hi, else a usage error (exit status 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            allowed = f"{lo}..{hi}" if hi is not None else f"{lo} or more"
            raise argparse.ArgumentTypeError(f"expected an integer in {allowed}, got {text!r}")
        return value

    return parse


def _writable_format(text: str) -> str:
    """argparse type: a format Pillow writes, by name or extension (png, jpg, webp, tiff...)."""
    fmt = Image.registered_extensions().get(f".{text.lower()}", text.upper())
    if fmt not in Image.SAVE:
        known = ", ".join(sorted(Image.SAVE)).lower()
        raise argparse.ArgumentTypeError(f"Pillow cannot write {text!r}; formats: {known}")
    return fmt


def _output_format(path: Path, chosen: str | None) -> str:
    """The format to write: --format, else the output's extension (PNG on
    stdout); an extension Pillow cannot write is refused rather than given
    PNG bytes under a wrong name."""
    if chosen or path == STDIO:
        return chosen or "PNG"
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt not in Image.SAVE:
        msg = f"cannot tell which format to write to {path} from its extension (use --format, e.g. --format png)"
        raise ValueError(msg)
    return fmt


def _suffix_of(fmt: str) -> str:
    """The extension folder outputs of ``fmt`` get: .png, .jpeg, .webp, else Pillow's first one."""
    exts = [ext for ext, f in Image.registered_extensions().items() if f == fmt]
    return f".{fmt.lower()}" if f".{fmt.lower()}" in exts or not exts else exts[0]


def _write_output(path: Path, data: bytes, force: bool) -> None:
    """Write ``data`` to stdout (``-``), into a FIFO or character device, or
    atomically to a file, following a symbolic link to its target (module
    docstring); refuse anything else that is not a regular file."""
    if path == STDIO:
        if sys.stdout.isatty():
            msg = "refusing to write image data to a terminal (redirect stdout or name an output file)"
            raise OSError(msg)
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
        with open(target, "wb") as f:
            f.write(data)
        return
    if mode is not None and not stat.S_ISREG(mode):
        msg = f"{path} is not a regular file; not replacing it"
        raise OSError(msg)
    if mode is not None and not force:
        msg = f"{path} exists (use --force to replace it)"
        raise FileExistsError(msg)
    _replace_atomically(target, data)


def _replace_atomically(path: Path, data: bytes) -> None:
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


def _open_image(src: Path, formats: list[str] | None = None) -> Image.Image:
    """Open ``src``, or stdin for ``-`` (read whole: Pillow needs to seek)."""
    if src == STDIO:
        return Image.open(io.BytesIO(sys.stdin.buffer.read()), formats=formats)
    return Image.open(src, formats=formats)


def _to_8bit(im: Image.Image) -> Image.Image:
    """A 16-bit or float greyscale image as 8-bit L (--convert-to-8bit):
    I;16 and I are read as 0..65535 (I clipped to it) and scaled by
    255/65535, so 257 input levels make one output level; F is read as
    Pillow's convert("L") reads it, 0..255, clipped."""
    values = np.nan_to_num(np.asarray(im, dtype=np.float64))
    if im.mode != "F":
        values = np.clip(values, 0, 65535) / 257
    out = Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8))
    out.info = dict(im.info)
    return out


def _metadata(im: Image.Image, args: argparse.Namespace) -> dict[str, bytes]:
    """save() options for the source's metadata: the plugin carries EXIF and
    ICC over itself; XMP is passed here, as avifenc, cjxl and heif-enc copy
    it; each kind dropped is given as b""."""
    options = {"xmp": im.info["xmp"]} if im.info.get("xmp") else {}
    for key, dropped in (("exif", args.no_exif), ("icc_profile", args.no_icc), ("xmp", args.no_xmp)):
        if dropped or args.strip:
            options[key] = b""
    return options


class _ProgressBar:
    """A tqdm bar on stderr for the encoder's effort, shown only once the
    encode has taken more than a second and a half."""

    def __init__(self, name: str) -> None:
        self.name, self.bar = name, None

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.name, unit="step", leave=False, delay=1.5)
        elif done < self.bar.n:  # a new search (max_bytes tries another level): start over
            self.bar.reset(total)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _encode_one(src: Path, dst: Path, args: argparse.Namespace) -> None:
    with _open_image(src) as im:
        im = ImageOps.exif_transpose(im)  # pixels upright, orientation tag removed (module docstring)
        if im.mode == "F" or im.mode.startswith("I"):
            if not args.convert_to_8bit:
                msg = f"mode {im.mode} has more than 8 bits per sample and .nnc stores 8 (use --convert-to-8bit)"
                raise ValueError(msg)
            im = _to_8bit(im)
        buf = io.BytesIO()
        bar = _ProgressBar(src.name)
        try:
            im.save(buf, format="NNC", quality=args.quality, max_bytes=args.max_bytes, codec=args.codec,
                    weights=args.weights, entropy=args.entropy, sabr=not args.no_sabr, effort=args.effort,
                    progress=bar.update, **_metadata(im, args))
        except BudgetTooSmallError as exc:
            raise ValueError(exc.describe(f"--max-bytes {exc.budget}", DROP_METADATA)) from None
        finally:
            bar.close()
    _write_output(dst, buf.getvalue(), args.force)


def _decode_one(src: Path, dst: Path, args: argparse.Namespace) -> None:
    fmt = _output_format(dst, args.format)
    with _open_image(src, formats=["NNC"]) as im:
        im.load()
        metadata = {key: im.info[key] for key in ("exif", "icc_profile", "xmp") if im.info.get(key)}
        buf = io.BytesIO()
        im.save(buf, format=fmt, **metadata)
    _write_output(dst, buf.getvalue(), args.force)


Pairs = list[tuple[Path, Path]]


def _pairs(args: argparse.Namespace, inputs: set[str], kind: str, out_suffix: str) -> tuple[Pairs, list[str], int]:
    """(input, output) pairs: one file, or every file of a folder (with -r,
    of its sub-folders too) with an extension in ``inputs``; also the
    reports about the folder's other entries and about inputs whose output
    name another input already takes, and how many of those there are."""
    src, dst = args.input, args.output
    if src == STDIO or not src.is_dir():
        return [(src, dst)], [], 0
    if dst == STDIO:
        msg = f"{src} is a folder: its outputs need a folder, not stdout"
        raise ValueError(msg)
    pairs, reports, clashes, taken = [], [], 0, {}
    for path in sorted(src.rglob("*") if args.recursive else src.iterdir()):
        if path.is_dir():
            if not args.recursive:
                reports.append(f"{path}: skipped: a folder (-r includes sub-folders)")
        elif path.suffix.lower() not in inputs:
            reports.append(f"{path}: skipped: not {kind} (by its extension)")
        elif (out := dst / path.relative_to(src).with_suffix(out_suffix)) in taken:
            reports.append(f"{path}: not converted: {taken[out].name} in the same folder is also written to {out}")
            clashes += 1
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            taken[out] = path
            pairs.append((path, out))
    if not pairs:
        reports.append(f"{src}: nothing to do: no {kind} in it")
    return pairs, reports, clashes


def _run_batch(args: argparse.Namespace, inputs: set[str], kind: str, out_suffix: str, work) -> int:
    pairs, reports, failures = _pairs(args, inputs, kind, out_suffix)
    for report in reports:
        print(f"nnc: {report}", file=sys.stderr)
    for src, dst in tqdm(pairs, disable=len(pairs) < 2, unit="img", file=sys.stderr):
        try:
            work(src, dst, args)
        except BrokenPipeError:
            raise  # the reader of stdout is gone: main() ends the run
        except BATCH_ERRORS as exc:
            failures += 1
            tqdm.write(f"nnc: {_shown(src)}: {_reason(exc)}", file=sys.stderr)
    return 1 if failures or not pairs else 0


def cmd_encode(args: argparse.Namespace) -> int:
    return _run_batch(args, _readable_suffixes(), "an image Pillow reads", ".nnc", _encode_one)


def cmd_decode(args: argparse.Namespace) -> int:
    return _run_batch(args, {".nnc"}, "an .nnc file", _suffix_of(args.format) if args.format else ".png", _decode_one)


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


def _info_or_error(path: Path) -> dict:
    """file_info(), or ``{"file", "error"}`` when the file cannot be described."""
    try:
        return file_info(path)
    except SyntaxError:
        return {"file": str(path), "error": "not an .nnc file"}
    except (OSError, ValueError) as exc:
        return {"file": str(path), "error": _reason(exc)}


def cmd_info(args: argparse.Namespace) -> int:
    """One file, or each .nnc file of a folder (JSON: a list of them); a
    file that cannot be described is reported on stderr and, with --json,
    as ``{"file", "error"}`` so that stdout stays JSON."""
    folder = args.file.is_dir()
    paths = sorted(p for p in args.file.iterdir() if p.suffix.lower() == ".nnc") if folder else [args.file]
    if not paths:
        print(f"nnc: {args.file}: no .nnc files in it", file=sys.stderr)
        return 1
    infos = [_info_or_error(path) for path in paths]
    for info in infos:
        if "error" in info:
            print(f"nnc: {info['file']}: {info['error']}", file=sys.stderr)
        elif not args.json:
            _print_info(info)
    if args.json:
        print(json.dumps(infos if folder else infos[0], indent=2))
    return 1 if any("error" in info for info in infos) else 0


def _print_info(info: dict) -> None:
    if not info["supported"]:
        print(f"{info['file']}: NNC format version {info['format_version']}, {info['file_bytes']} bytes; "
              f"not readable by this pillow-nnc: {info['reason']}")
        return
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


def cmd_ratemap(args: argparse.Namespace) -> int:
    from .bench.ratemap import rate_map_picture

    try:
        picture = rate_map_picture(args.input.read_bytes())
        buf = io.BytesIO()
        picture.save(buf, format=_output_format(args.output, None))
        _write_output(args.output, buf.getvalue(), args.force)
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
        _write_output(args.out / "demo.nnc", nnc, True)
        Image.fromarray(decoded).save(args.out / "demo-nnc.png")
        Image.fromarray(jdec).save(args.out / "demo-jpeg.png")
        print(f"wrote {args.out}/demo.nnc, demo-nnc.png, demo-jpeg.png")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="nnc", description="Learned image codec (.nnc) tools.")
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    enc = sub.add_parser("encode", help="image(s) to .nnc")
    enc.add_argument("input", type=Path, help="image file, folder, or - for stdin")
    enc.add_argument("output", type=Path, help=".nnc file, folder, or - for stdout")
    rate = enc.add_mutually_exclusive_group()
    rate.add_argument("--quality", "-q", type=_ranged(1, 100), default=75, help="1-100 (default 75)")
    rate.add_argument("--max-bytes", type=_ranged(1, None), help="largest file size allowed, in bytes")
    enc.add_argument("--effort", type=_ranged(1, 9), default=1,
                     help="1-9 (default 1): higher efforts search for a smaller file at equal quality "
                          "(transform codec), taking longer to encode")
    enc.add_argument("--codec", choices=CODECS, help="model family (default: transform)")
    enc.add_argument("--weights", help="encode with your own trained weights (.safetensors)")
    enc.add_argument("--entropy", choices=ENTROPY_MODES,
                     help="local entropy models (default), global tables only, or raw (no probability model)")
    enc.add_argument("--no-sabr", action="store_true",
                     help="recurrent codec: every block gets every iteration (no spatially adaptive bit rates)")
    enc.add_argument("--convert-to-8bit", action="store_true",
                     help="store 16-bit and float greyscale (modes I;16, I, F) as 8-bit: 0..65535 is scaled "
                          "to 0..255, losing the low 8 bits (257 levels become one); I outside 0..65535 and "
                          "F outside 0..255 are clipped")
    meta = enc.add_argument_group("metadata", "EXIF, ICC and XMP are carried over from the source; the EXIF "
                                  "orientation is applied to the pixels and its tag removed")
    meta.add_argument("--strip", action="store_true", help="drop all metadata")
    meta.add_argument("--no-exif", action="store_true", help="drop EXIF (camera, date, location)")
    meta.add_argument("--no-icc", action="store_true", help="drop the ICC profile (colours are then read as sRGB)")
    meta.add_argument("--no-xmp", action="store_true", help="drop XMP")
    _add_batch_options(enc)
    enc.set_defaults(func=cmd_encode)
    dec = sub.add_parser("decode", help=".nnc to an image (format from --format or the output extension)")
    dec.add_argument("input", type=Path, help=".nnc file, folder, or - for stdin")
    dec.add_argument("output", type=Path, help="image file, folder, or - for stdout")
    dec.add_argument("--format", type=_writable_format,
                     help="image format to write (png, jpeg, webp, tiff...; default: from the output extension, "
                          "PNG for stdout and folders)")
    _add_batch_options(dec)
    dec.set_defaults(func=cmd_decode)
    inf = sub.add_parser("info", help="describe an .nnc file, or each one in a folder, without decoding it")
    inf.add_argument("file", type=Path, help=".nnc file or folder")
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


def _add_batch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recursive", "-r", action="store_true", help="folders: include sub-folders")
    parser.add_argument("--force", "-f", action="store_true", help="replace existing outputs")


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
        status = args.func(args)
        sys.stdout.flush()  # a reader gone early shows here, inside this try
        return status
    except BrokenPipeError:
        # Point stdout at /dev/null, or Python's flush at exit reports the
        # broken pipe again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except BATCH_ERRORS as exc:
        print(f"nnc: {_reason(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
