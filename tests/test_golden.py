"""Committed files that must keep decoding, and the spec's worked example.

``spec/example.nnc`` is the file whose bytes spec/nnc-format.md section 8
lists; ``tests/data/golden/`` holds one file per released model. Regenerate
both (only when a model or the format changes on purpose) with
``NNC_REGENERATE=1 python -m pytest tests/test_golden.py``.
"""

from __future__ import annotations

import binascii
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pillow_nnc  # noqa: F401
from pillow_nnc import container, zoo
from pillow_nnc.entropy.flat_blocks import decode_flat
from pillow_nnc.metrics import psnr

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "spec" / "nnc-format.md"
EXAMPLE = ROOT / "spec" / "example.nnc"
GOLDEN = ROOT / "tests" / "data" / "golden"
SAMPLE = ROOT / "pillow_nnc" / "samples" / "chelsea.png"
REGENERATE = os.environ.get("NNC_REGENERATE") == "1"


def _example_image() -> Image.Image:
    """16x16 pixels of the sample, without its ICC profile (no extension block)."""
    with Image.open(SAMPLE) as im:
        return Image.fromarray(np.asarray(im.convert("RGB").crop((200, 100, 216, 116))))


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _parse_by_spec(data: bytes) -> dict:
    """An independent reading of the layout in spec section 3 (no package code)."""
    assert data[:4] == b"\x89NNC"
    fields = {"version": data[4], "flags": data[5]}
    pos = 6
    width, pos = _varint(data, pos)
    height, pos = _varint(data, pos)
    fields["model_id"], pos = _varint(data, pos)
    plen, pos = _varint(data, pos)
    fields.update(width=width + 1, height=height + 1, codec_params=data[pos : pos + plen].hex())
    pos += plen
    assert not data[5] & 0x04, "the example has no extension block"
    segments = []
    while pos < len(data):
        length, start = _varint(data, pos)
        end = start + length
        crc = int.from_bytes(data[end : end + 2], "big")
        assert crc == binascii.crc_hqx(data[:end], 0), "running CRC-16/XMODEM over bytes 0..end of payload"
        segments.append(length)
        pos = end + 2
    fields["segment_lengths"] = segments
    return fields


def _hex_dump(data: bytes) -> str:
    return "\n".join(data[i : i + 16].hex(" ") for i in range(0, len(data), 16))


def _regenerate_example() -> None:
    buf = io.BytesIO()
    _example_image().save(buf, format="NNC", quality=50)
    data = buf.getvalue()
    EXAMPLE.write_bytes(data)
    f = _parse_by_spec(data)
    mode = container.MODES[f["flags"] & 3]
    table = (
        f"The 16x16 RGB crop at (200, 100) of the bundled sample photo, saved with\n"
        f"`quality=50` by model {f['model_id']}: {len(data)} bytes, of which "
        f"{len(data) - sum(f['segment_lengths'])} are container overhead.\n\n"
        "```hex\n" + _hex_dump(data) + "\n```\n\n"
        "| bytes | field | value |\n|---|---|---|\n"
        f"| `89 4e 4e 43` | magic | |\n| `{data[4]:02x}` | version | {f['version']} |\n"
        f"| `{data[5]:02x}` | flags | mode {f['flags'] & 3} = {mode}, no extension block |\n"
        f"| `{data[6]:02x}` | width - 1 | {f['width'] - 1} (width {f['width']}) |\n"
        f"| `{data[7]:02x}` | height - 1 | {f['height'] - 1} (height {f['height']}) |\n"
        f"| `{data[8]:02x}` | model id | {f['model_id']} |\n"
        f"| `{data[9]:02x}` | P | {len(f['codec_params']) // 2} |\n"
        f"| `{data[10:12].hex(' ')}` | codec parameters | level {data[10]}, groups per segment {data[11]} |\n"
        f"| `{data[12]:02x}` | segment 0 length | {f['segment_lengths'][0]} |\n"
        f"| ... | segment 0 payload | range-coded, section 7.1 |\n"
        f"| last 2 | segment 0 CRC-16 | over bytes 0..{len(data) - 3} |\n"
    )
    spec = re.sub(
        r"(<!-- EXAMPLE-HEX -->\n).*?(<!-- /EXAMPLE-HEX -->)", lambda m: m[1] + table + m[2], SPEC.read_text(), flags=re.S
    )
    SPEC.write_text(spec)


def test_spec_example_bytes_match_the_committed_file() -> None:
    if REGENERATE:
        _regenerate_example()
    data = EXAMPLE.read_bytes()
    block = re.search(r"<!-- EXAMPLE-HEX -->.*?```hex\n(.*?)```", SPEC.read_text(), flags=re.S)
    assert block, "spec section 8 must contain the hex dump"
    assert bytes.fromhex(block[1]) == data


def test_spec_example_fields_read_by_the_spec_alone() -> None:
    data = EXAMPLE.read_bytes()
    f = _parse_by_spec(data)
    assert (f["version"], f["width"], f["height"]) == (1, 16, 16)
    assert f["flags"] & 3 == 2  # RGB
    header = container.read_header(io.BytesIO(data))
    assert header.model_id == f["model_id"] and header.codec_params.hex() == f["codec_params"]
    assert len(data) - sum(f["segment_lengths"]) <= 16


def _golden_files() -> list[int]:
    return sorted(zoo.released())


@pytest.mark.parametrize("model_id", _golden_files())
def test_every_released_model_keeps_decoding_its_golden_file(model_id: int) -> None:
    nnc, png = GOLDEN / f"model-{model_id}.nnc", GOLDEN / f"model-{model_id}.png"
    if REGENERATE and not nnc.exists():
        GOLDEN.mkdir(parents=True, exist_ok=True)
        family = zoo.released()[model_id]["family"]
        # A model for tiny images codes a 32x32 crop; the others a 96x64 one.
        tiny = zoo.default_model(family, 32, 32) == model_id != zoo.default_model(family)
        with Image.open(SAMPLE) as im:
            small = im.convert("RGB").crop((150, 60, 182, 92) if tiny else (150, 60, 246, 124))
        buf = io.BytesIO()
        small.save(buf, format="NNC", quality=60, codec=family)
        assert container.read_header(io.BytesIO(buf.getvalue())).model_id == model_id
        nnc.write_bytes(buf.getvalue())
        Image.open(nnc).save(png)
    with Image.open(nnc) as im:
        assert im.format == "NNC"
        decoded = np.asarray(im.convert("RGB"))
    expected = np.asarray(Image.open(png).convert("RGB"))
    # Pixels come from a float network: allow last-bit differences between machines.
    assert psnr(decoded, expected) > 45


def test_registry_is_consistent() -> None:
    data = json.loads((ROOT / "weights" / "models.json").read_text())
    ids = [entry["id"] for entry in data["models"]]
    assert len(ids) == len(set(ids)), "model ids are never reused"
    for entry in data["models"]:
        assert (ROOT / "weights" / entry["file"]).exists()
        assert entry["id"] < zoo.CUSTOM_BASE
    for family, model_id in data["default"].items():
        assert model_id in ids and zoo.released()[model_id]["family"] == family
    small = dict(data.get("small", {}))
    assert isinstance(small.pop("max_side", 1), int)
    for family, model_id in small.items():
        assert model_id in ids and zoo.released()[model_id]["family"] == family


def _half_flat_golden(name: str) -> tuple[container.Header, np.ndarray]:
    """Header and decoded pixels of a committed recurrent file of a crop of
    the sample whose left half is one flat colour, (90, 120, 160), saved
    with SABR as ``save()`` does; its PNG must still match (PSNR > 45)."""
    nnc, png = GOLDEN / f"{name}.nnc", GOLDEN / f"{name}.png"
    if REGENERATE and not nnc.exists():
        with Image.open(SAMPLE) as im:
            rgb = np.asarray(im.convert("RGB").crop((150, 60, 246, 124))).copy()
        rgb[:, :48] = (90, 120, 160)  # a flat half, which stops early (and is painted, from model 6 on)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="NNC", quality=90, codec="recurrent")
        nnc.write_bytes(buf.getvalue())
        Image.open(nnc).save(png)
    header = container.read_header(io.BytesIO(nnc.read_bytes()))
    with Image.open(nnc) as im:
        decoded = np.asarray(im.convert("RGB"))
    assert psnr(decoded, np.asarray(Image.open(png).convert("RGB"))) > 45
    return header, decoded


def test_rate_map_golden_file_keeps_decoding() -> None:
    """A recurrent file with a RATE_MAP chunk (spatially adaptive bit rates)."""
    header, _ = _half_flat_golden("model-2-ratemap")
    assert header.model_id == 2 and header.rate_map is not None


def test_flat_blocks_golden_file_keeps_decoding() -> None:
    """A recurrent file with RATE_MAP and FLAT_BLOCKS chunks (model 6's SABR paints flat blocks)."""
    header, decoded = _half_flat_golden("model-6-flat")
    assert header.model_id == 6 and header.rate_map is not None and header.flat_blocks is not None
    painted = decode_flat(header.flat_blocks, 4, 6)[0].repeat(16, 0).repeat(16, 1)
    assert painted.sum() >= 4 * 256 and (decoded[painted] == (90, 120, 160)).all()  # painted blocks are exact
