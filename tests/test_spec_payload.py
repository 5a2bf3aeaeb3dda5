"""The payload half of spec/nnc-format.md, read independently: the range
decoder (section 7.3) and the weights files (section 9).

Everything named ``spec_*`` or ``Spec*`` here is written from the spec text
alone, in plain Python integers and numpy: no ``constriction``, no
``pillow_nnc.entropy``, no ``safetensors``. The tests check that it decodes
exactly what the library does, on random tables and messages written by
:class:`pillow_nnc.entropy.coder.Writer`, on hostile bytes, and on the first
segment of committed golden files (transform: hyper-latents, importance map,
integer rungs and every latent; recurrent: every code, with local entropy
models, rate maps and stopped blocks).
"""

from __future__ import annotations

import bisect
import binascii
import hashlib
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from pillow_nnc import zoo
from pillow_nnc.entropy import intnet
from pillow_nnc.entropy.coder import Ladder, Reader, Writer
from pillow_nnc.entropy.tables import quantize_pmf, uniform_table
from pillow_nnc.errors import NncError

from test_golden import _varint as spec_varint  # spec section 2, read by hand once

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "spec" / "nnc-format.md"
GOLDEN = ROOT / "tests" / "data" / "golden"
WEIGHTS = ROOT / "weights"


# -- spec 7.3: the range decoder ------------------------------------------------


class SpecInvalidData(ValueError):
    """Section 7.3, "Invalid data": v >= 2^24."""


def spec_cumulative(freqs) -> list[int]:
    """The 24-bit cumulative table c_0..c_n of a table of 16-bit frequencies."""
    f = [int(x) for x in freqs]
    n = len(f)
    assert n >= 2 and min(f) >= 1 and sum(f) == 1 << 16
    c, total = [], 0
    for i, fi in enumerate(f):
        c.append(total * ((1 << 24) - n) // (1 << 16) + i)
        total += fi
    return [*c, 1 << 24]


def spec_uniform(n: int) -> list[int]:
    """Section 7.1: every frequency floor((2^16 - n) / n), the first taking the remainder."""
    f = [((1 << 16) - n) // n] * n
    f[0] += (1 << 16) - sum(f)
    return f


class SpecRangeDecoder:
    """Section 7.3, step by step."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.R = (1 << 64) - 1
        self.D = self._word(0) * (1 << 32) + self._word(1)
        self.k = 2

    def _word(self, k: int) -> int:
        chunk = self.payload[4 * k : 4 * k + 4]
        return int.from_bytes(chunk + bytes(4 - len(chunk)), "little")  # zeros past the end

    def decode(self, c: list[int]) -> int:
        scale = self.R // (1 << 24)
        v = self.D // scale
        if v >= 1 << 24:
            raise SpecInvalidData(v)
        s = bisect.bisect_right(c, v) - 1
        self.D -= scale * c[s]
        self.R = scale * (c[s + 1] - c[s])
        if self.R < 1 << 32:
            self.R *= 1 << 32
            self.D = self.D * (1 << 32) + self._word(self.k)
            self.k += 1
        assert 1 << 32 <= self.R < 1 << 64 and 0 <= self.D < self.R
        return s

    def decode_many(self, count: int, freqs) -> np.ndarray:
        c = spec_cumulative(freqs)
        return np.array([self.decode(c) for _ in range(count)], np.int64)


def _library_or_error(data: bytes, tables: list[np.ndarray], counts: list[int]) -> list[int] | str:
    reader = Reader(data)
    out: list[int] = []
    try:
        for f, n in zip(tables, counts):
            out += reader.decode(n, f).tolist()
    except NncError:
        return "invalid"
    return out


def _spec_or_error(data: bytes, tables: list[np.ndarray], counts: list[int]) -> list[int] | str:
    dec = SpecRangeDecoder(data)
    out: list[int] = []
    try:
        for f, n in zip(tables, counts):
            out += dec.decode_many(n, f).tolist()
    except SpecInvalidData:
        return "invalid"
    return out


def _random_table(rng: np.random.Generator, n: int) -> np.ndarray:
    kind = rng.integers(4)
    if n == 2 and kind == 3:  # the most lopsided binary tables
        return np.array([1, 65535] if rng.random() < 0.5 else [65535, 1], np.int32)
    if kind == 0:
        p = rng.random(n)
    elif kind == 1:
        p = rng.random(n) ** 20  # many frequencies of 1
    else:
        p = np.exp(-np.abs(np.arange(n) - n / 2) * rng.random() * 3)  # peaked, like the ladder
    return quantize_pmf(p)


def test_spec_check_values_and_examples() -> None:
    """The worked numbers that section 7.3 prints."""
    text = SPEC.read_text()
    assert spec_cumulative([1 << 15, 1 << 15]) == [0, 8388608, 16777216]
    assert spec_cumulative([(1 << 16) - 1, 1]) == [0, 16776959, 16777216]
    assert spec_cumulative([1 << 14, 1 << 15, 1 << 14]) == [0, 4194304, 12582911, 16777216]
    for numbers in ("`0, 8388608, 16777216`", "`0, 16776959, 16777216`", "`0, 4194304, 12582911, 16777216`"):
        assert numbers in text
    check = re.search(r"the 4-byte payload `([0-9a-f ]+)`.*?gives the symbols `([0-9 ]+)`", text, re.S)
    assert check, "section 7.3 must keep its check value"
    payload, symbols = bytes.fromhex(check[1]), [int(x) for x in check[2].split()]
    table = np.array([1 << 14, 1 << 15, 1 << 14], np.int32)
    assert SpecRangeDecoder(payload).decode_many(len(symbols), table).tolist() == symbols
    assert Reader(payload).decode(len(symbols), table).tolist() == symbols
    writer = Writer()
    writer.encode(np.array(symbols), table)
    assert writer.finish() == payload
    dec = SpecRangeDecoder(payload)
    assert dec.D == 0x5C8DFFB000000000 and dec.R // (1 << 24) == (1 << 40) - 1
    assert dec.D // (dec.R // (1 << 24)) == 6065663
    # the uniform tables of 7.1 are the library's
    for n in (2, 3, 7, 8, 12, 129, 1025):
        assert spec_uniform(n) == uniform_table(n).tolist()


def test_random_tables_and_messages_decode_like_the_library() -> None:
    rng = np.random.default_rng(20261124)
    for _ in range(120):
        n_tables = int(rng.integers(1, 5))
        tables, messages = [], []
        writer = Writer()
        for _ in range(n_tables):
            n = int(rng.choice([2, 2, 3, 5, 12, 33, 257, 1025]))
            f = _random_table(rng, n)
            m = rng.choice(n, size=int(rng.integers(0, 80)), p=f / f.sum())
            writer.encode(m, f)
            tables.append(f)
            messages.append(m)
        data = writer.finish()
        counts = [len(m) for m in messages]
        expected = np.concatenate(messages).tolist() if messages else []
        assert _spec_or_error(data, tables, counts) == expected
        assert _library_or_error(data, tables, counts) == expected
        # Past the end of what was written: the same symbols, or the same refusal.
        extra = [*tables, tables[0]], [*counts, 40]
        assert _spec_or_error(data, *extra) == _library_or_error(data, *extra)


def test_trailing_zero_bytes_do_not_matter() -> None:
    """7.3 "End of data": bytes past the end read as zero."""
    rng = np.random.default_rng(7)
    f = _random_table(rng, 9)
    m = rng.choice(9, size=50, p=f / f.sum())
    writer = Writer()
    writer.encode(m, f)
    data = writer.finish()
    assert not data.endswith(b"\0") or data == b"\0"
    for pad in (b"", b"\0", b"\0" * 5, b"\0" * 13):
        assert SpecRangeDecoder(data + pad).decode_many(50, f).tolist() == m.tolist()
        assert Reader(data + pad).decode(50, f).tolist() == m.tolist()


def test_hostile_bytes_decode_or_fail_like_the_library() -> None:
    """CRC-valid but undecodable data is refused (NncError) exactly where the
    spec's decoder meets v >= 2^24; other garbage decodes to the same symbols."""
    table = quantize_pmf(np.array([5.0, 1, 1, 30, 2, 2, 1]))
    for start in (b"\xff" * 8, b"\xff\xff\xff\xff\x00\x00\x00\xff", b"\xff\xff\xff\xff\x12\x34\x56\xff\x01"):
        assert _spec_or_error(start, [table], [1]) == "invalid" == _library_or_error(start, [table], [1])
    # one below the smallest invalid point decodes
    ok = b"\xff\xff\xff\xff\xff\xff\xff\xfe"
    assert _spec_or_error(ok, [table], [1]) == _library_or_error(ok, [table], [1]) != "invalid"
    rng = np.random.default_rng(11)
    outcomes = set()
    for _ in range(200):
        data = rng.integers(0, 256, size=int(rng.integers(1, 24)), dtype=np.uint8).tobytes()
        if rng.random() < 0.3:
            data = b"\xff" * 6 + data
        tables = [_random_table(rng, int(rng.choice([2, 7, 40]))) for _ in range(2)]
        counts = [int(rng.integers(1, 30)), int(rng.integers(1, 30))]
        spec = _spec_or_error(data, tables, counts)
        assert spec == _library_or_error(data, tables, counts)
        outcomes.add(spec == "invalid")
    assert outcomes == {True, False}, "both outcomes must be exercised"


# -- spec sections 3 and 9: container and weights files, read by hand ---------------


def spec_parse(data: bytes) -> dict:
    """Section 3: header, extension block and CRC-checked segments."""
    assert data[:4] == b"\x89NNC" and data[4] == 1
    flags, pos = data[5], 6
    width, pos = spec_varint(data, pos)
    height, pos = spec_varint(data, pos)
    model_id, pos = spec_varint(data, pos)
    plen, pos = spec_varint(data, pos)
    out = {"mode": ("L", "LA", "RGB", "RGBA")[flags & 3], "width": width + 1, "height": height + 1,
           "model_id": model_id, "params": data[pos : pos + plen], "chunks": {}, "segments": []}
    pos += plen
    if flags & 4:
        while data[pos]:
            kind = data[pos]
            length, pos = spec_varint(data, pos + 1)
            out["chunks"][kind] = data[pos : pos + length]
            pos += length
        pos += 1
        assert int.from_bytes(data[pos : pos + 2], "big") == binascii.crc_hqx(data[:pos], 0)
        pos += 2
    while pos < len(data):
        length, start = spec_varint(data, pos)
        end = start + length
        assert int.from_bytes(data[end : end + 2], "big") == binascii.crc_hqx(data[:end], 0)
        out["segments"].append(data[start:end])
        pos = end + 2
    return out


_DTYPES = {"F16": "<f2", "I32": "<i4", "I64": "<i8"}


def spec_weights(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Section 9.2: a safetensors file, read by hand."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    metadata = header.pop("__metadata__", {})
    assert all(isinstance(v, str) for v in metadata.values())
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(raw[8 + n + begin : 8 + n + end], _DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors, metadata


def spec_model(model_id: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Section 9.1: a released id, through the registry and its pin."""
    registry = json.loads((WEIGHTS / "models.json").read_text())
    (entry,) = [e for e in registry["models"] if e["id"] == model_id]
    path = WEIGHTS / entry["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    tensors, metadata = spec_weights(path)
    assert metadata["family"] == entry["family"] and metadata["name"] == entry["name"]
    return tensors, metadata


# -- spec 7.1: the transform family's first segment ---------------------------------


def _conv3(a: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """3x3 cross-correlation with one pixel of zero padding, in int64."""
    _, h, wd = a.shape
    p = np.pad(a, ((0, 0), (1, 1), (1, 1)))
    acc = np.zeros((w.shape[0], h, wd), np.int64) + b.astype(np.int64)[:, None, None]
    for dy in range(3):
        for dx in range(3):
            acc += np.einsum("oc,chw->ohw", w[:, :, dy, dx].astype(np.int64), p[:, dy : dy + h, dx : dx + wd])
    return acc


def _depth_to_space(a: np.ndarray) -> np.ndarray:
    c4, h, w = a.shape
    return a.reshape(c4 // 4, 2, 2, h, w).transpose(0, 3, 1, 4, 2).reshape(c4 // 4, 2 * h, 2 * w)


def spec_rungs(z: np.ndarray, t: dict[str, np.ndarray]) -> np.ndarray:
    """Section 7.1, "Integer hyper-synthesis"."""
    a = np.clip(z.astype(np.int64), -255, 255)
    for i, extra in ((0, 0), (1, 8)):
        acc = _conv3(a, t[f"int.w{i}"], t[f"int.b{i}"])
        a = np.minimum(np.maximum(acc, 0) >> (int(t[f"int.s{i}"][0]) + extra - 8), 1 << 24)
        a = _depth_to_space(a)
    acc = _conv3(a, t["int.w2"], t["int.b2"])
    origin, step = int(t["int.origin"][0]), int(t["int.step"][0])
    return np.clip((acc - origin + step // 2) // step, 0, 63)


def _ladder_tables(t: dict[str, np.ndarray]) -> list[np.ndarray]:
    radius = t["ladder.radius"].astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(2 * radius + 1)])
    assert starts[-1] == len(t["ladder.freqs"])
    return [t["ladder.freqs"][starts[i] : starts[i + 1]] for i in range(len(radius))]


def spec_decode_ladder(dec: SpecRangeDecoder, rungs: np.ndarray, tables: list[np.ndarray], radius: np.ndarray) -> np.ndarray:
    """Ladder order: rung by rung, increasing; within a rung (channel, row, column)."""
    values = np.zeros(rungs.shape, np.int64)
    for rung in sorted(set(rungs.ravel().tolist())):
        where = rungs == rung
        values[where] = dec.decode_many(int(where.sum()), tables[rung]) - int(radius[rung])
    return values


def test_transform_golden_segment_decodes_like_the_library() -> None:
    data = (GOLDEN / "model-15.nnc").read_bytes()
    f = spec_parse(data)
    t, metadata = spec_model(f["model_id"])
    assert metadata["family"] == "transform"
    config = json.loads(metadata["config"])
    m, nz, groups = config["m"], config["nz"], config["groups"]
    level, per_segment = f["params"][0], f["params"][1]
    assert len(f["params"]) == 2 and len(f["segments"]) <= -(-groups // per_segment)
    h, w = -(-f["height"] // 16), -(-f["width"] // 16)
    z_shape = (nz, -(-h // 4), -(-w // 4))
    tables, radius = _ladder_tables(t), t["ladder.radius"]
    z_rungs = np.broadcast_to(t["z.rungs"].astype(np.int64)[:, None, None], z_shape)
    segment = f["segments"][0]

    # size check of 7.1: the file is not refused
    cheapest = sum(-np.log2(tables[r].max() / 2**16) for r in t["z.rungs"])
    assert 8 * len(segment) >= z_shape[1] * z_shape[2] * cheapest - 64

    dec, lib = SpecRangeDecoder(segment), Reader(segment)
    ladder = Ladder(t["ladder.freqs"], t["ladder.radius"])
    z = spec_decode_ladder(dec, z_rungs, tables, radius)
    assert np.array_equal(z, lib.decode_ladder(z_rungs, ladder))
    assert np.abs(z).max() > 0, "a real image has non-zero hyper-latents"

    mask_table = t["mask.freqs"][(14 * level + 255) // 510]
    kept = (dec.decode_many(h * w, mask_table) + 1).reshape(h, w)
    assert np.array_equal(kept, (lib.decode(h * w, mask_table) + 1).reshape(h, w))
    assert kept.min() >= 1 and kept.max() <= groups

    rungs = spec_rungs(z, t)[:, :h, :w]
    int_params = {k[4:]: torch.from_numpy(v.copy()) for k, v in t.items() if k.startswith("int.")}
    assert np.array_equal(rungs, intnet.scale_indices(int_params, torch.from_numpy(z)[None])[0, :, :h, :w].numpy())

    size = m // groups
    y_spec = np.zeros((m, h, w), np.int64)
    y_lib = np.zeros((m, h, w), np.int64)
    for g in range(min(groups, len(f["segments"]) * per_segment)):
        if g and g % per_segment == 0:
            dec, lib = SpecRangeDecoder(f["segments"][g // per_segment]), Reader(f["segments"][g // per_segment])
        sel = np.zeros((m, h, w), bool)
        sel[g * size : (g + 1) * size] = kept > g
        sub = np.where(sel, rungs, -1)
        values = np.zeros((m, h, w), np.int64)
        for rung in sorted(set(rungs[sel].tolist())):
            where = sub == rung
            values[where] = dec.decode_many(int(where.sum()), tables[rung]) - int(radius[rung])
        y_spec[sel] = values[sel]
        y_lib[sel] = lib.decode_ladder(rungs[sel], ladder)
    assert np.array_equal(y_spec, y_lib)
    assert np.count_nonzero(y_spec) > 0


# -- spec 7.2: the recurrent family's codes -----------------------------------------


def spec_recurrent_codes(f: dict, t: dict[str, np.ndarray], config: dict) -> list[np.ndarray]:
    """Every iteration's codes (B, h*w) as 0/1, stopped blocks filled (section 7.2)."""
    n, _, per_segment, coding = f["params"][:4]
    assert 1 <= coding <= 3
    bits = config["bits"]
    contexts = 8 * bits * 9
    h, w = -(-f["height"] // 16), -(-f["width"] // 16)
    if 0x82 in f["chunks"]:
        counts = np.frombuffer(zlib.decompress(f["chunks"][0x82]), np.uint8).astype(np.int64)
        assert counts.size == h * w and 1 <= counts.min() and counts.max() <= n
    else:
        counts = np.full(h * w, n)
    if coding == 1:
        sets, choice = t["bits.freqs"].astype(np.int64), np.zeros(h * w, np.int64)
    else:
        tile = f["params"][4]
        k = f["params"][5] if coding == 3 else len(t["bits.local"])
        sets = t["bits.local"][:k].astype(np.int64)
    glob = t["bits.freqs"].astype(np.int64)[0]
    codes: list[np.ndarray] = []  # full (B, h*w), stopped blocks filled
    for i, segment in enumerate(f["segments"]):
        dec = SpecRangeDecoder(segment)
        if i == 0 and coding >= 2:
            across = -(-w // tile)
            tiles = -(-h // tile) * across
            tile_choice = dec.decode_many(tiles, spec_uniform(k))
            y, x = np.divmod(np.arange(h * w), w)
            choice = tile_choice[(y // tile) * across + x // tile]
        for t_ in range(i * per_segment, min(n, (i + 1) * per_segment)):
            active = np.flatnonzero(counts > t_)
            full = np.zeros((bits, h * w), np.int64)
            for c in range(bits):
                p = np.full(h * w, 2) if t_ == 0 else codes[-1][c]
                q = np.full(h * w, 2) if c == 0 else full[c - 1]
                ctx = ((min(t_, 7) * bits + c) * 3 + p) * 3 + q
                key = choice[active] * contexts + ctx[active]
                for kk in sorted(set(key.tolist())):
                    pos = active[key == kk]
                    f1 = int(sets.ravel()[kk])
                    full[c, pos] = dec.decode_many(len(pos), [(1 << 16) - f1, f1])
                stopped = counts <= t_
                full[c, stopped] = (glob[ctx[stopped]] >= 1 << 15).astype(np.int64)
            codes.append(full)
    return codes


@pytest.mark.parametrize("name", ["model-6", "model-2-ratemap", "model-6-flat"])
def test_recurrent_golden_codes_decode_like_the_library(name: str) -> None:
    data = (GOLDEN / f"{name}.nnc").read_bytes()
    f = spec_parse(data)
    t, metadata = spec_model(f["model_id"])
    assert metadata["family"] == "recurrent"
    config = json.loads(metadata["config"])
    codes = spec_recurrent_codes(f, t, config)
    assert len(f["params"]) == {1: 4, 2: 5, 3: 6}[f["params"][3]]

    engine = zoo.engine(f["model_id"])
    n = f["params"][0]
    h, w = -(-f["height"] // 16), -(-f["width"] // 16)
    counts = (np.frombuffer(zlib.decompress(f["chunks"][0x82]), np.uint8) if 0x82 in f["chunks"] else np.full(h * w, n))
    active = [counts > t_ for t_ in range(n)]
    lib = engine._read_codes(f["params"], f["segments"], active, h, w)
    assert len(lib) == len(codes) == n
    for mine, theirs in zip(codes, lib):
        assert np.array_equal(mine * 2 - 1, theirs[0].reshape(config["bits"], -1).numpy().astype(np.int64))


# -- spec 9: weights files ----------------------------------------------------------


@pytest.mark.parametrize("model_id", [6, 15])
def test_weights_file_layout_matches_section_9(model_id: int) -> None:
    t, metadata = spec_model(model_id)
    config = json.loads(metadata["config"])
    levels = json.loads(metadata["quality_levels"])
    assert len(levels) == 100 and levels == sorted(levels) and 0 <= levels[0] and levels[-1] <= 255
    for key in ("quality_ceiling", "training"):
        json.loads(metadata[key])
    assert all(v.dtype == np.float16 for k, v in t.items() if k.startswith("float."))
    if metadata["family"] == "transform":
        m, z, n, g = config["m"], config["nz"], config["n"], config["groups"]
        shapes = {
            "ladder.radius": (64,), "z.rungs": (z,), "mask.freqs": (8, g), "int.w0": (4 * z, z, 3, 3),
            "int.w1": (4 * z, z, 3, 3), "int.w2": (m, z, 3, 3), "int.b0": (4 * z,), "int.b1": (4 * z,), "int.b2": (m,),
            "int.s0": (1,), "int.s1": (1,), "int.s2": (1,), "int.origin": (1,), "int.step": (1,),
            "float.log_inv_gain": (8, m), "float.g_s.0.0.weight": (4 * n, m, 3, 3), "float.g_s.2.0.weight": (4 * n, n, 3, 3),
            "float.g_s.6.0.weight": (12, n, 3, 3), "float.g_s.1.beta": (n,), "float.g_s.1.gamma": (n, n),
        }
        dtypes = {"int.b0": np.int64, "int.b1": np.int64, "int.b2": np.int64, "int.origin": np.int64, "int.step": np.int64}
        for key, shape in shapes.items():
            assert t[key].shape == shape, key
            if not key.startswith("float."):
                assert t[key].dtype == dtypes.get(key, np.int32), key
        for table in [*_ladder_tables(t), *t["mask.freqs"]]:
            assert table.sum() == 1 << 16 and table.min() >= 1
        assert (t["ladder.radius"] >= 2).all() and 0 <= t["z.rungs"].min() and t["z.rungs"].max() <= 63
    else:
        b, hidden, m = config["bits"], config["hidden"], config["m"]
        assert json.loads(metadata["max_iterations"]) == 8 and "prime" in config
        assert t["bits.freqs"].shape == (1, 8 * b * 9) and t["bits.local"].shape[1:] == (8 * b * 9,)
        for key in ("bits.freqs", "bits.local"):
            assert t[key].dtype == np.int32 and 1 <= t[key].min() and t[key].max() <= (1 << 16) - 1
        assert t["float.dec_rnn.w_x.weight"].shape == (3 * hidden, b, 3, 3)
        assert t["float.dec_rnn.w_h.weight"].shape == (3 * hidden, hidden, 3, 3)
        assert t["float.readout.weight"].shape == (m, hidden, 1, 1)
        assert t["float.log_out_gain"].shape == (m,)
        assert t["float.log_iteration_gain"].shape == (16,) and config.get("iteration_gain")
        assert t["float.code_readout.weight"].shape == (m, b, 3, 3) and config.get("code_readout")


def test_user_weights_id_is_base_plus_20_bits_of_sha256(monkeypatch: pytest.MonkeyPatch) -> None:
    """Section 9.1: 2^20 + int(first 5 hex digits of the SHA-256, 16)."""
    monkeypatch.setattr(zoo, "_custom", {})
    path = WEIGHTS / "transform-thumb-2026-11-22b.safetensors"
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert zoo.add_weights(path) == (1 << 20) + int(sha[:5], 16) < 1 << 21


def test_registry_entries_match_their_files_metadata() -> None:
    """Section 9.1: the registry's family, name and quality_ceiling repeat the
    file's metadata (the reference reader takes the family from the file)."""
    registry = json.loads((WEIGHTS / "models.json").read_text())
    for entry in registry["models"]:
        with open(WEIGHTS / entry["file"], "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            metadata = json.loads(fh.read(n))["__metadata__"]
        assert metadata["family"] == entry["family"] and metadata["name"] == entry["name"], entry["id"]
        if "quality_ceiling" in entry:
            assert json.loads(metadata["quality_ceiling"]) == entry["quality_ceiling"], entry["id"]
        assert 0 <= entry["id"] < 1 << 20 and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
