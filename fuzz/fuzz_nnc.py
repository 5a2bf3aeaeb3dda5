"""Coverage-guided fuzz target (atheris/libFuzzer) for the .nnc readers.

    pip install atheris
    python fuzz/fuzz_nnc.py fuzz/corpus -max_total_time=1800 -timeout=30

The first input byte picks what is fuzzed:

* even: the bytes after it as a whole file, through ``Image.open`` and
  ``load()`` (container parser, CRCs, chunks, alpha, both codecs);
* odd: the entropy decoders behind the CRCs, which whole-file mutations
  rarely reach: a small image size, codec parameters, an optional rate map
  and segments, straight into the engine of a released model (byte 1 picks
  it), so the range-coded and plain payload parsers see arbitrary bytes.

Allowed outcomes are a decoded image or the documented errors (``OSError``,
which ``NncError`` is, and Pillow's ``DecompressionBombError``); anything
else is a crash. ``check`` is importable without atheris, so
``tests/test_fuzz.py`` replays the seed corpus and every saved crash in CI.
``python fuzz/fuzz_nnc.py --make-corpus`` rewrites the seeds.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

# A declared size above this fails in Image.open (Pillow's bomb check), so a
# mutated width/height cannot make one input run for minutes.
MAX_PIXELS = 1 << 18
CORPUS = Path(__file__).resolve().parent / "corpus"
CRASHES = Path(__file__).resolve().parent / "crashes"


def _engine_input(data: bytes) -> None:
    from pillow_nnc import zoo
    from pillow_nnc.errors import NncError

    if len(data) < 4:
        return
    ids = sorted(zoo.released())
    engine = zoo.engine(ids[data[0] % len(ids)])
    width, height = 1 + data[1] % 64, 1 + data[2] % 64
    n_params = 2 if engine.family == "transform" else 4 + (data[3] & 1)
    params, rest = data[4 : 4 + n_params], data[4 + n_params :]
    rate_map = None
    if rest[:1] and rest[0] & 1:  # a length byte, then the map
        size = rest[1] if len(rest) > 1 else 0
        rate_map, rest = rest[2 : 2 + size], rest[2 + size :]
    elif rest:
        rest = rest[1:]
    segments = []
    while rest:  # each segment: a length byte, then its bytes
        segments.append(rest[1 : 1 + rest[0]])
        rest = rest[1 + rest[0] :]
    try:
        out = engine.decode(params, segments or [b""], width, height, rate_map)
    except NncError:
        return
    assert out.shape == (height, width, 3) and out.dtype == np.uint8


def check(data: bytes) -> None:
    """One fuzz input; raises only on a real defect."""
    if not data:
        return
    import pillow_nnc  # noqa: F401  (registers the plugin)

    if data[0] & 1:
        _engine_input(data[1:])
        return
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data[1:]), formats=["NNC"]) as im:
            im.load()
    except (OSError, Image.DecompressionBombError):
        return
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def make_corpus() -> None:
    """Seed files: small real files of each kind, and engine-mode inputs."""
    import pillow_nnc  # noqa: F401
    from pillow_nnc import container

    sample = Image.open(Path(pillow_nnc.__file__).parent / "samples" / "chelsea.png").convert("RGB")
    photo = sample.crop((180, 100, 212, 132))
    flat = photo.copy()
    flat.paste((90, 120, 160), (0, 0, 16, 32))
    seeds = {}
    for name, im, params in (
        ("transform-rgb", photo, {}),
        ("transform-rgba", photo.convert("RGBA"), {}),
        ("transform-l", photo.convert("L"), {"exif": b"II*\0\x08\0\0\0\0\0", "xmp": "<x/>"}),
        ("recurrent-raw", photo, {"codec": "recurrent", "entropy": "raw", "quality": 40}),
        ("recurrent-coded", photo, {"codec": "recurrent", "quality": 60}),
        ("recurrent-sabr", flat, {"codec": "recurrent", "quality": 90}),
    ):
        buf = io.BytesIO()
        im.save(buf, format="NNC", icc_profile=b"", **params)
        seeds[name] = b"\0" + buf.getvalue()
        header = container.read_header(io.BytesIO(buf.getvalue()))
        segments, _ = container.read_segments(buf.getvalue(), header)
        family = 0 if name.startswith("transform") else 1
        chunk = b"" if header.rate_map is None else bytes([len(header.rate_map)]) + header.rate_map
        body = bytes([1 if chunk else 0]) + chunk + b"".join(bytes([len(s.data)]) + s.data for s in segments if len(s.data) < 256)
        seeds[f"engine-{name}"] = bytes([1, family, 31, 31, len(header.codec_params) & 1]) + header.codec_params + body
    CORPUS.mkdir(exist_ok=True)
    for name, data in seeds.items():
        (CORPUS / name).write_bytes(data)


def main() -> None:
    if sys.argv[1:] == ["--make-corpus"]:
        make_corpus()
        return
    import atheris

    with atheris.instrument_imports(include=["pillow_nnc"]):
        import pillow_nnc  # noqa: F401
        from pillow_nnc import codec, container  # noqa: F401
        from pillow_nnc.engines import recurrent, transform  # noqa: F401
        from pillow_nnc.entropy import bits, coder, rate_map  # noqa: F401
    import torch

    torch.set_num_threads(1)
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
