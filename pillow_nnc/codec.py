"""Whole-file encoding and decoding: modes, alpha, metadata, rate control.

This is the layer between the Pillow plugin and the model engines: it turns
an image of any supported mode into the RGB the networks code (plus a
losslessly coded alpha plane), maps ``quality`` onto the model's rate
parameter, fits ``max_bytes`` budgets, and assembles the container.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from . import container, zoo
from .alpha import decode_alpha, encode_alpha
from .container import Header
from .errors import UnsupportedFileError

THREADS_ENV = "NNC_THREADS"
_threads: int | None = None


def set_threads(n: int | None) -> None:
    """Torch threads that encoding and decoding use (``None``: leave torch's
    own setting alone, unless ``NNC_THREADS`` is set). Results do not depend
    on it; only speed does."""
    global _threads
    _threads = None if n is None else _int_option("threads", n, 1, 256)


@contextmanager
def _torch_threads() -> Iterator[None]:
    """Run with the configured thread count, then put torch's setting back;
    with nothing configured, torch's global settings are not touched."""
    n = _threads
    if n is None and os.environ.get(THREADS_ENV):
        try:
            n = _int_option(THREADS_ENV, int(os.environ[THREADS_ENV]), 1, 256)
        except ValueError:
            msg = f"nnc: {THREADS_ENV} must be an integer in 1..256, got {os.environ[THREADS_ENV]!r}"
            raise ValueError(msg) from None
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _one_thread_after_fork() -> None:
    """A forked child inherits torch's OpenMP pool without its threads and
    hangs in the first parallel op (pytorch#17199, #2245): run one thread
    there, as torch's DataLoader workers do, whatever the parent configured."""
    global _threads
    _threads = 1
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_one_thread_after_fork)


CODECS = ("transform", "recurrent")
DEFAULT_CODEC = "transform"
DEFAULT_QUALITY = 75
# Effort 1 is the analysis transform's guess; higher efforts refine the
# latents per image (engines/refine.py) at the cost of encode time.
DEFAULT_EFFORT = 1


@dataclass
class EncodeOptions:
    """Validated ``save()`` options (see :func:`options_from`)."""

    quality: int = DEFAULT_QUALITY
    max_bytes: int | None = None
    codec: str = DEFAULT_CODEC
    codec_chosen: bool = False  # codec given by the caller (else max_bytes may switch it)
    exif: bytes | None = None
    icc_profile: bytes | None = None
    xmp: bytes | None = None
    weights: str | None = None
    entropy: str = "local"
    sabr: bool = True
    effort: int = DEFAULT_EFFORT
    progress: Callable[[int, int], None] | None = None


ENTROPY_MODES = ("local", "global", "raw")
# Spatially adaptive bit rates (recurrent codec): the loss one iteration of
# plain bits is worth when each block picks its iteration count
# (engines.recurrent.RecurrentState.codes). Measured: on validation photos,
# 0.0025 and 0.005 gave the same rate-distortion with an earlier stopping
# rule; with model 2 on the generated low-complexity images, 0.001 and
# 0.0025 gave MS-SSIM BD-rates of +2.8% and +2.5% against sabr=False, and
# with model 6 at 0.0025, -4.5% (bench.sabr). A tolerance that falls with
# the iteration count instead (every quality codes up to 8 iterations, the
# tolerance sets the rate) did no better on those images (+0.5%).
SABR_TOLERANCE = 0.0025


def _int_option(name: str, value: object, lo: int, hi: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo or (hi is not None and value > hi):
        allowed = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        msg = f"nnc: {name} must be an integer in {allowed}, got {value!r}"
        raise ValueError(msg)
    return int(value)


TIFF_MAGIC = (b"II*\0", b"MM\0*")


def tiff_exif(value: object) -> bytes | None:
    """EXIF as the file stores it: TIFF bytes without JPEG's ``Exif\\0\\0``
    prefix (None for none), from bytes or ``Image.Exif``. Anything else raises
    ``ValueError``: spec 3.2 makes the chunk TIFF-structured, so that every
    reader's ``getexif()`` can parse it."""
    exif = _bytes_option("exif", value)
    if exif and exif.startswith(b"Exif\0\0"):
        exif = exif[6:]
    if exif and not exif.startswith(TIFF_MAGIC):
        msg = "nnc: exif must be TIFF-structured EXIF (Image.Exif.tobytes(), starting II*\\0 or MM\\0*)"
        raise ValueError(msg)
    return exif


def _bytes_option(name: str, value: object) -> bytes | None:
    if value is None or value == b"":
        return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if hasattr(value, "tobytes"):  # PIL.Image.Exif
        return value.tobytes()
    msg = f"nnc: {name} must be bytes, got {type(value).__name__}"
    raise ValueError(msg)


# Options of Pillow's WebP, AVIF and JPEG writers that .nnc cannot honour,
# with what to do instead: silently ignoring them would hand the user an
# image other than the one asked for (a lossy file for lossless=True).
UNSUPPORTED = {
    "lossless": "NNC is always lossy: save as PNG, or WebP/JPEG XL with lossless=True, for exact pixels",
    "method": "NNC has no encoder-speed setting; leave it out",
    "speed": "NNC has no encoder-speed setting; leave it out",
    "exact": "NNC keeps no colour under fully transparent pixels; use PNG or lossless WebP for that",
    "alpha_quality": "NNC always stores alpha losslessly; leave it out",
    "subsampling": "NNC has no chroma subsampling setting; leave it out",
    "range": "NNC stores full-range 8-bit samples only; leave it out",
    "tile_rows": "NNC tiles internally; leave it out",
    "tile_cols": "NNC tiles internally; leave it out",
    "autotiling": "NNC tiles internally; leave it out",
    "advanced": "NNC has no codec-specific settings; leave it out",
    "max_threads": "set the thread count with pillow_nnc.set_threads(n) or NNC_THREADS",
    "qtables": "NNC has no quantisation tables; use quality",
    "minimize_size": "NNC holds a single image; leave it out",
    "kmin": "NNC holds a single image; leave it out",
    "kmax": "NNC holds a single image; leave it out",
    "allow_mixed": "NNC holds a single image; leave it out",
}
# Values of those options that ask for nothing beyond what .nnc does anyway.
_HARMLESS = {"lossless": (False,), "alpha_quality": (100,), "exact": (False,)}


def options_from(params: dict) -> EncodeOptions:
    """Validate the keyword arguments given to ``Image.save``.

    Unknown keys are ignored, as Pillow does; a wrong value of a known key
    raises ``ValueError`` naming the option and its allowed range; an option
    of Pillow's WebP/AVIF/JPEG writers that .nnc cannot honour
    (:data:`UNSUPPORTED`) raises ``ValueError`` saying what to do instead.
    """
    for name, advice in UNSUPPORTED.items():
        value = params.get(name)
        if value is not None and not any(value is v or (type(value) is type(v) and value == v) for v in _HARMLESS.get(name, ())):
            msg = f"nnc: option {name}={value!r} is not supported: {advice}"
            raise ValueError(msg)
    opts = EncodeOptions()
    if params.get("quality") is not None:
        opts.quality = _int_option("quality", params["quality"], 1, 100)
    if params.get("max_bytes") is not None:
        opts.max_bytes = _int_option("max_bytes", params["max_bytes"], 1, None)
    if params.get("codec") is not None:
        if params["codec"] not in CODECS:
            msg = f"nnc: codec must be one of {', '.join(CODECS)}, got {params['codec']!r}"
            raise ValueError(msg)
        if params["codec"] not in zoo.families():
            msg = f"nnc: codec {params['codec']!r} has no released model yet (available: {', '.join(zoo.families())})"
            raise ValueError(msg)
        opts.codec, opts.codec_chosen = params["codec"], True
    opts.exif = tiff_exif(params.get("exif"))
    opts.icc_profile = _bytes_option("icc_profile", params.get("icc_profile"))
    opts.xmp = _bytes_option("xmp", params.get("xmp"))
    if params.get("entropy") is not None:
        if params["entropy"] not in ENTROPY_MODES:
            msg = f"nnc: entropy must be one of {', '.join(ENTROPY_MODES)}, got {params['entropy']!r}"
            raise ValueError(msg)
        opts.entropy = params["entropy"]
    if params.get("sabr") is not None:
        if not isinstance(params["sabr"], (bool, np.bool_)):
            msg = f"nnc: sabr must be True or False, got {params['sabr']!r}"
            raise ValueError(msg)
        opts.sabr = bool(params["sabr"])
    if params.get("weights") is not None:
        opts.weights = str(params["weights"])
    if params.get("effort") is not None:
        opts.effort = _int_option("effort", params["effort"], 1, 9)
    if params.get("progress") is not None:
        if not callable(params["progress"]):
            msg = f"nnc: progress must be a callable progress(done, total), got {params['progress']!r}"
            raise ValueError(msg)
        opts.progress = params["progress"]
    return opts


def encode(pixels: np.ndarray, mode: str, opts: EncodeOptions) -> bytes:
    """A complete ``.nnc`` file for ``pixels`` ((H, W) or (H, W, C) uint8 in ``mode``)."""
    if mode not in container.MODES:
        msg = f"nnc: cannot encode mode {mode}"
        raise ValueError(msg)
    height, width = pixels.shape[:2]
    if not (1 <= width <= container.MAX_SIDE and 1 <= height <= container.MAX_SIDE):
        msg = f"nnc: image size {width}x{height} is outside 1..{container.MAX_SIDE} per side"
        raise ValueError(msg)
    pixels = pixels.reshape(height, width, -1)
    color = pixels[..., :1].repeat(3, 2) if mode in ("L", "LA") else pixels[..., :3]
    alpha = encode_alpha(pixels[..., -1]) if mode in ("LA", "RGBA") else None
    model_id = zoo.add_weights(opts.weights) if opts.weights else zoo.default_model(opts.codec, width, height)
    engine = zoo.engine(model_id)
    header = Header(
        width=width, height=height, mode=mode, model_id=model_id,
        exif=opts.exif, icc_profile=opts.icc_profile, xmp=opts.xmp, alpha=alpha,
    )

    with _torch_threads():
        try:
            return _encode_with(engine, header, color, opts)
        except BudgetTooSmallError:
            if opts.codec_chosen or opts.weights or engine.family == "recurrent" or "recurrent" not in zoo.families():
                raise
        # The transform codec's coarsest file (0.10-0.17 bpp on Kodak, model 15) is larger than
        # one recurrent iteration (0.125 bpp before entropy coding): a budget
        # the default codec cannot meet may still fit the recurrent codec.
        header.model_id = zoo.default_model("recurrent", width, height)
        return _encode_with(zoo.engine(header.model_id), header, color, opts)


class BudgetTooSmallError(ValueError):
    """``max_bytes`` below the smallest file of the model, ``metadata`` bytes
    of which are EXIF, ICC and XMP (the usual culprit: an ICC profile carried
    over from the source)."""

    def __init__(self, budget: int, smallest: int, metadata: int) -> None:
        self.budget, self.smallest, self.metadata = budget, smallest, metadata
        super().__init__(self.describe(f"max_bytes={budget}", "exif=b'', icc_profile=b'', xmp=b''"))

    def describe(self, budget: str, how_to_drop: str) -> str:
        """The message, with the budget and the way to drop metadata in the
        caller's terms (the ``nnc`` command names its options)."""
        msg = f"nnc: {budget} is too small; the smallest file for this image is {self.smallest} bytes"
        if self.metadata:
            msg += f", {self.metadata} of them metadata (drop it with {how_to_drop})"
        return msg


def _encode_with(engine: zoo.Engine, header: Header, color: np.ndarray, opts: EncodeOptions) -> bytes:
    features = engine.analyse(color)
    sabr = opts.sabr and engine.family == "recurrent"

    def build(level: int, tolerance: float | None = SABR_TOLERANCE if sabr else None, effort: int = 1) -> list[bytes]:
        """The file at one rate level, as header + framed segments."""
        payload = engine.encode(features, level, opts.entropy, tolerance, effort, opts.progress)
        header.codec_params, header.rate_map, header.flat_blocks = payload.params, payload.rate_map, payload.flat_blocks
        head = container.encode_header(header)
        return [head, *container.frame_segments(head, payload.segments)]

    if opts.max_bytes is None:
        return b"".join(build(engine.level_of(opts.quality), effort=opts.effort))
    metadata = sum(len(v) for v in (opts.exif, opts.icc_profile, opts.xmp) if v)
    fitted = _fit(build, opts.max_bytes, metadata, FIT_TOLERANCES if sabr else ())
    if opts.effort == 1 or engine.family != "transform":
        return fitted
    # The search runs at effort 1 (cheap); the level it found is then
    # refined, stepping down up to two levels while the refined file does
    # not fit, else the effort-1 file: never over the budget.
    level = container.read_header(io.BytesIO(fitted)).codec_params[0]
    for lower in range(level, max(-1, level - 3), -1):
        data = b"".join(build(lower, effort=opts.effort))
        if len(data) <= opts.max_bytes:
            return data
    return fitted


# Looser SABR tolerances tried at the first rate level that does not fit a
# max_bytes budget: the recurrent codec has one level per iteration, and
# stopping more blocks early fills the budget between two of them.
FIT_TOLERANCES = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16)


def _fit(
    build: Callable[..., list[bytes]], budget: int, metadata: int = 0, tolerances: tuple[float, ...] = ()
) -> bytes:
    """Best file within ``budget`` bytes: the highest rate level whose full
    file fits (then, with ``tolerances``, the largest file of the next level
    with one of them that still fits), else the longest segment prefix of
    the lowest level (without spatially adaptive bit rates if the FLAT_BLOCKS
    chunk alone makes its first segment too large)."""
    lo, hi, best = 0, 255, None
    while lo <= hi:
        mid = (lo + hi) // 2
        data = b"".join(build(mid))
        if len(data) <= budget:
            best, lo = data, mid + 1
        else:
            hi = mid - 1
    if best is not None:
        for tolerance in tolerances if lo <= 255 else ():
            data = b"".join(build(lo, tolerance))
            if len(data) <= budget:
                return data if len(data) > len(best) else best
        return best
    parts = build(0)
    if sum(map(len, parts[:2])) > budget:  # without SABR's flat blocks the lowest level may be smaller
        parts = build(0, None)
    keep = 1
    while keep < len(parts) and sum(map(len, parts[: keep + 1])) <= budget:
        keep += 1
    if keep == 1:
        raise BudgetTooSmallError(budget, len(parts[0]) + len(parts[1]), metadata)
    return b"".join(parts[:keep])


def decode(header: Header, data: bytes, allow_truncated: bool = False) -> np.ndarray:
    """Pixels ((H, W, C) uint8 in ``header.mode``) of a whole or truncated file."""
    if header.side_info is not None:
        msg = "nnc: this decoder does not support the critical chunk 'side_info'; upgrade pillow-nnc"
        raise UnsupportedFileError(msg)
    segments, _ = container.read_segments(data, header, allow_truncated=allow_truncated)
    alpha = None
    if header.mode in ("LA", "RGBA"):  # cheap, so a bad alpha chunk fails before the network runs
        alpha = decode_alpha(header.alpha, header.width, header.height)[..., None]
    if not segments:
        return np.zeros((header.height, header.width, len(header.mode)), np.uint8)
    engine = zoo.engine(header.model_id)
    with _torch_threads():
        rgb = engine.decode(
            header.codec_params, [s.data for s in segments], header.width, header.height, header.rate_map, header.flat_blocks
        )
    if header.mode in ("L", "LA"):
        luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        rgb = np.clip(np.round(luma), 0, 255).astype(np.uint8)[..., None]
    return rgb if alpha is None else np.concatenate([rgb, alpha], axis=2)
