"""How each benchmarked codec encodes, decodes and how its header is measured.

Every codec goes through Pillow: ``img.save(buf, format=FMT, quality=q,
**params)`` to encode and ``Image.open(buf).convert("RGB")`` to decode, so
the timings include Pillow's (small, equal) overhead for all codecs.

Codec settings (``--threads`` is 1 by default: every codec runs
single-threaded, which keeps timings comparable on a busy machine):

* ``jpeg``  libjpeg(-turbo) via Pillow, ``subsampling=2`` (4:2:0),
  ``optimize=True`` (optimised Huffman tables), baseline.
* ``webp``  libwebp via Pillow, lossy, ``method=6`` (slowest/best).
* ``avif``  libavif (aom encoder, dav1d decoder when present) built into
  Pillow 13, ``speed=6`` (Pillow's default), 4:2:0, full range,
  ``max_threads=--threads`` for encoding and decoding.
* ``jxl``   libjxl via ``pillow_jxl`` (pillow-jxl-plugin), ``effort=7``
  (libjxl's default), naked codestream (``use_container=False``),
  ``num_threads=--threads`` for encoding, decoder threads likewise.
* ``nnc``   this project's plugin (``import pillow_nnc`` registers "NNC"),
  automatic codec choice; ``nnc-transform`` / ``nnc-recurrent`` force
  ``codec="transform"`` / ``codec="recurrent"``.  torch runs with
  ``torch.set_num_threads(--threads)``.

Header-less payload (``payload_bytes``), reported for the thumbnail sets as
in Toderici et al. 2015 ("Variable rate image compression with recurrent
neural networks"), which compared against JPEG and WebP with headers
removed.  Everything that is not entropy-coded image data counts as header:

* JPEG: the sum, over every SOS segment, of the entropy-coded bytes that
  follow the SOS header up to the next marker other than RST0-7 (byte
  stuffing and RST markers included).  SOI, APP0/JFIF, DQT, SOF, DHT, the
  SOS header itself and EOI are excluded.  Note that the optimised Huffman
  tables (DHT) and quantisation tables (DQT) are needed to decode, so this
  is a lower bound that favours JPEG, as in the original comparison.
* WebP: the payload of the ``VP8 `` / ``VP8L`` chunk (plus ``ALPH`` if any)
  as given by the chunk size fields: the RIFF/WEBP header (12 bytes), the
  8-byte chunk headers, padding and any VP8X/ICCP/EXIF chunks are
  excluded.  (The 10-byte VP8 frame header inside the chunk is counted.)
* AVIF: the contents of the ``mdat`` box(es), i.e. the AV1 OBUs of the
  coded image (they include the ~12-byte AV1 sequence header OBU); the
  ``ftyp`` and ``meta`` boxes (item info, ``av1C``, colour and size
  properties) and the 8-byte ``mdat`` box header are excluded.
* JPEG XL: not defined (``None``).  The bench writes a naked codestream
  (no container boxes); its image header is bit-packed together with the
  first frame header and has no byte boundary to cut at (for these images
  it is only a few bytes), so only the real file size is reported.
* NNC: the sum of the segment payloads (``spec/nnc-format.md`` section 3.3):
  magic, version, flags, size, model id, codec parameters, the extension
  block, and each segment's length varint and 2-byte CRC are header (for a
  32x32 RGB thumbnail that framing is 14-16 bytes, section 6.2).

This module imports only the standard library and Pillow at import time
so that the memory probe (:func:`probe_main`) can load it standalone in a
fresh interpreter without importing torch or the ``pillow_nnc`` package
unless the probed codec needs them.
"""

from __future__ import annotations

import gc
import io
import json
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from PIL import Image

QUALITY_NOTE = (
    "Sweeps chosen on Kodak so that every reference codec covers roughly 0.1-2 bpp; "
    "quick mode uses the 3-point sub-lists."
)


class CodecUnavailable(RuntimeError):
    """The codec's plugin is not importable / not registered with Pillow."""


# --------------------------------------------------------------------------
# header / payload measurement


def jpeg_payload(data: bytes) -> int:
    """Entropy-coded scan bytes of a JPEG file (see module docstring)."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI)")
    n = len(data)
    i = 2
    total = 0
    scans = 0
    while i < n - 1:
        if data[i] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:  # EOI
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM / stray RST: no length
            i += 2
            continue
        seglen = int.from_bytes(data[i + 2 : i + 4], "big")
        start = i + 2 + seglen
        if marker != 0xDA:  # any non-SOS segment is header
            i = start
            continue
        k = start
        while True:
            k = data.find(b"\xff", k)
            if k < 0 or k + 1 >= n:
                k = n
                break
            nxt = data[k + 1]
            if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
                k += 2
                continue
            break
        total += k - start
        scans += 1
        i = k
    if not scans:
        raise ValueError("JPEG without scan data")
    return total


def webp_payload(data: bytes) -> int:
    """Size of the VP8/VP8L (+ALPH) chunk payloads of a WebP file."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a RIFF/WEBP file")
    i = 12
    total = 0
    found = False
    while i + 8 <= len(data):
        fourcc = data[i : i + 4]
        size = int.from_bytes(data[i + 4 : i + 8], "little")
        if fourcc in (b"VP8 ", b"VP8L", b"ALPH"):
            total += size
            found = found or fourcc != b"ALPH"
        i += 8 + size + (size & 1)
    if not found:
        raise ValueError("WebP without VP8/VP8L chunk")
    return total


def avif_payload(data: bytes) -> int:
    """Size of the contents of the top-level ``mdat`` box(es) of an AVIF file."""
    if data[4:8] != b"ftyp":
        raise ValueError("not an ISOBMFF/AVIF file")
    i = 0
    total = 0
    found = False
    n = len(data)
    while i + 8 <= n:
        size = int.from_bytes(data[i : i + 4], "big")
        kind = data[i + 4 : i + 8]
        header = 8
        if size == 1:
            size = int.from_bytes(data[i + 8 : i + 16], "big")
            header = 16
        elif size == 0:
            size = n - i
        if size < header:
            raise ValueError(f"bad box size at byte {i}")
        if kind == b"mdat":
            total += size - header
            found = True
        i += size
    if not found:
        raise ValueError("AVIF without mdat box")
    return total


def nnc_payload(data: bytes) -> int:
    """Sum of the segment payloads of an ``.nnc`` file (spec/nnc-format.md section 3)."""
    from io import BytesIO

    from pillow_nnc import container  # imported here: keeps the memory probe torch-free

    header = container.read_header(BytesIO(data))
    segments, _ = container.read_segments(data, header)
    return sum(len(s.data) for s in segments)


# --------------------------------------------------------------------------
# codec definitions


def _check_registered(fmt: str) -> None:
    Image.init()
    if fmt not in Image.SAVE or fmt not in Image.OPEN:
        raise CodecUnavailable(f'Pillow has no "{fmt}" encoder/decoder registered')


def _prepare_pil(fmt: str, feature: str):
    def prepare(threads: int) -> None:
        from PIL import features

        if not features.check(feature):
            raise CodecUnavailable(f"Pillow was built without {feature} support")
        _check_registered(fmt)
        if fmt == "AVIF":
            from PIL import AvifImagePlugin

            AvifImagePlugin.DEFAULT_MAX_THREADS = threads  # decoder threads

    return prepare


def _prepare_jxl(threads: int) -> None:
    try:
        import pillow_jxl  # noqa: F401  (registers "JXL")
        from pillow_jxl import JpegXLImagePlugin
    except ImportError as exc:
        raise CodecUnavailable(f"pillow_jxl not importable: {exc}") from exc
    JpegXLImagePlugin.DECODE_THREADS = 0 if threads <= 1 else threads
    _check_registered("JXL")


def _prepare_nnc(threads: int) -> None:
    try:
        import pillow_nnc  # noqa: F401  (registers "NNC")
    except Exception as exc:  # the plugin is under development: anything can happen
        raise CodecUnavailable(f"import pillow_nnc failed: {type(exc).__name__}: {exc}") from exc
    _check_registered("NNC")
    try:
        import torch

        torch.set_num_threads(max(1, threads))
    except ImportError:
        pass


@dataclass
class Codec:
    name: str
    label: str
    fmt: str
    params: dict[str, Any]
    qualities: tuple[int, ...]
    quick_qualities: tuple[int, ...]
    search_range: tuple[int, int]
    library: str
    settings: str
    header: str
    payload_fn: Callable[[bytes], int | None] | None = None
    prepare_fn: Callable[[int], None] | None = None
    threads: int = 1
    _ready: bool = field(default=False, repr=False)

    def prepare(self) -> None:
        """Import/register the plugin and set thread counts; raises CodecUnavailable."""
        if not self._ready:
            if self.prepare_fn is not None:
                self.prepare_fn(self.threads)
            self._ready = True

    def available(self) -> str | None:
        """None if usable, else the reason it is not."""
        try:
            self.prepare()
        except CodecUnavailable as exc:
            return str(exc)
        except Exception as exc:  # pragma: no cover - defensive
            return f"{type(exc).__name__}: {exc}"
        return None

    def encode(self, img: Image.Image, quality: int) -> bytes:
        self.prepare()
        buf = io.BytesIO()
        img.save(buf, format=self.fmt, quality=quality, **self.params)
        return buf.getvalue()

    def decode(self, data: bytes) -> Image.Image:
        self.prepare()
        with Image.open(io.BytesIO(data)) as im:
            if im.format != self.fmt:
                raise ValueError(f"decoded as {im.format!r}, expected {self.fmt!r}")
            return im.convert("RGB")

    def payload(self, data: bytes) -> int | None:
        return None if self.payload_fn is None else self.payload_fn(data)


NNC_NAMES = ("nnc", "nnc-transform", "nnc-recurrent")


def get_codecs(threads: int = 1) -> dict[str, Codec]:
    """Fresh codec registry (name -> Codec), in report order."""
    t = max(1, int(threads))
    codecs = [
        Codec(
            "jpeg", "JPEG", "JPEG", {"subsampling": 2, "optimize": True},
            (3, 5, 8, 12, 20, 30, 45, 60, 75, 85, 90), (5, 30, 75), (1, 95),
            "libjpeg-turbo (Pillow)", "4:2:0 (subsampling=2), optimize=True, baseline",
            "entropy-coded scan data only (no SOI/APPn/DQT/SOF/DHT/SOS header/EOI)",
            jpeg_payload, _prepare_pil("JPEG", "jpg"),
        ),
        Codec(
            "webp", "WebP", "WEBP", {"method": 6},
            (0, 5, 15, 30, 50, 70, 80, 90, 95), (5, 50, 90), (0, 100),
            "libwebp (Pillow)", "lossy, method=6",
            "VP8/VP8L chunk payload only (no RIFF/chunk headers)",
            webp_payload, _prepare_pil("WEBP", "webp"),
        ),
        Codec(
            "avif", "AVIF", "AVIF", {"speed": 6, "max_threads": t},
            (10, 20, 30, 40, 50, 60, 70, 80, 88), (20, 50, 80), (0, 100),
            "libavif/aom (Pillow built-in)", f"speed=6 (Pillow default), 4:2:0, max_threads={t}",
            "mdat contents (AV1 OBUs) only (no ftyp/meta boxes, no mdat box header)",
            avif_payload, _prepare_pil("AVIF", "avif"),
        ),
        Codec(
            "jxl", "JPEG XL", "JXL", {"effort": 7, "num_threads": t},
            (1, 5, 15, 30, 45, 60, 75, 85, 90), (5, 45, 85), (1, 99),
            "libjxl (pillow-jxl-plugin)", f"effort=7, naked codestream, num_threads={t}",
            "not defined (bit-packed codestream header)",
            None, _prepare_jxl,
        ),
    ]
    # Dense below 50: a model whose ceiling is JPEG quality ~45 (model 15)
    # gives its top rate from there on.
    nnc_q = (5, 10, 15, 20, 25, 30, 35, 40, 50, 60, 75, 90, 100)
    for name, label, params in (
        ("nnc", "NNC", {}),
        ("nnc-transform", "NNC transform", {"codec": "transform"}),
        ("nnc-recurrent", "NNC recurrent", {"codec": "recurrent"}),
    ):
        settings = "automatic codec choice" if not params else f'codec="{params["codec"]}"'
        codecs.append(
            Codec(
                name, label, "NNC", params, nnc_q, (10, 50, 90), (1, 100),
                "pillow_nnc plugin", f"{settings}, torch threads={t}",
                "segment payloads only (no header/extension block, segment lengths or CRCs)",
                nnc_payload, _prepare_nnc,
            )
        )
    for c in codecs:
        c.threads = t
    return {c.name: c for c in codecs}


# --------------------------------------------------------------------------
# peak-memory probe (runs in a fresh interpreter, see run.measure_memory)

_KIB = 1024


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _maxrss_kib() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r // _KIB if sys.platform == "darwin" else r


def probe_main(spec_json: str) -> None:
    """Measure peak RSS of one encode or decode; prints one JSON line.

    spec: {"codec", "threads", "mode": "encode"|"decode", "input", "quality"}.
    The codec's plugin is imported and the input loaded first; then the
    peak-RSS mark is reset to the current RSS (``/proc/self/clear_refs``)
    and the operation runs once; ``peak`` is VmHWM afterwards and
    ``delta = peak - rss_before``.  Without clear_refs it falls back to
    ``getrusage(RUSAGE_SELF).ru_maxrss`` (delta then is only a lower bound).
    """
    spec = json.loads(spec_json)
    codec = get_codecs(spec["threads"])[spec["codec"]]
    codec.prepare()
    if spec["mode"] == "encode":
        with Image.open(spec["input"]) as im:
            subject = im.convert("RGB")
    else:
        with open(spec["input"], "rb") as fh:
            subject = fh.read()
    gc.collect()
    before = _status_kib("VmRSS")
    method = "VmHWM after clear_refs=5"
    if before is None or not _reset_peak():
        method = "ru_maxrss"
        before = _maxrss_kib()
    t0 = time.perf_counter()
    if spec["mode"] == "encode":
        out = codec.encode(subject, spec["quality"])
        nbytes = len(out)
    else:
        out = codec.decode(subject)
        out.load()
        nbytes = len(subject)
    seconds = time.perf_counter() - t0
    peak = _status_kib("VmHWM") if method.startswith("VmHWM") else _maxrss_kib()
    print(json.dumps({
        "rss_before_kib": before, "peak_kib": peak, "delta_kib": max(0, peak - before),
        "method": method, "seconds": seconds, "bytes": nbytes, "pid": os.getpid(),
    }))


PROBE_LOADER = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('_nnc_bench_codecs', sys.argv[1])\n"
    "mod = importlib.util.module_from_spec(spec)\n"
    "sys.modules[spec.name] = mod\n"
    "spec.loader.exec_module(mod)\n"
    "mod.probe_main(sys.argv[2])\n"
)
