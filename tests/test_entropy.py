"""Entropy coding: integer tables, lossless range coding, and the exact
integer hyper-synthesis that makes every decoder derive the same tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pillow_nnc import zoo
from pillow_nnc.entropy import intnet
from pillow_nnc.entropy.coder import Ladder, Reader, Writer
from pillow_nnc.entropy.scales import NUM_SCALES
from pillow_nnc.entropy.tables import PRECISION, gaussian_tables, quantize_pmf
from pillow_nnc.errors import NncError


@pytest.fixture(scope="module")
def ladder() -> Ladder:
    return Ladder(*gaussian_tables())


def test_tables_are_valid_integer_distributions(ladder: Ladder) -> None:
    for rung in range(NUM_SCALES):
        freqs = ladder.freqs(rung)
        assert freqs.dtype == np.int32 and freqs.min() >= 1 and freqs.sum() == 1 << PRECISION
        assert len(freqs) == 2 * ladder.radius[rung] + 1
        assert freqs[ladder.radius[rung]] >= np.sort(freqs)[-2]  # zero-mean: value 0 is (one of) the most likely
    assert quantize_pmf(np.array([1e-30, 1.0, 1e-30])).min() == 1


def test_shipped_tables_equal_a_fresh_build() -> None:
    engine = zoo.engine(zoo.default_model("transform"))
    freqs, radius = gaussian_tables()
    assert np.array_equal(engine.ladder.radius, radius)
    assert np.array_equal(engine.ladder.freqs(10), freqs[engine.ladder.starts[10] : engine.ladder.starts[11]])


def test_ladder_coding_round_trips_and_approaches_the_entropy(ladder: Ladder) -> None:
    rng = np.random.default_rng(1)
    rungs = rng.integers(0, NUM_SCALES, 20000)
    sigma = np.exp(np.log(0.11) + rungs * np.log(64 / 0.11) / (NUM_SCALES - 1))
    values = ladder.clip(np.round(rng.normal(0, sigma)).astype(np.int64), rungs)
    writer = Writer()
    writer.encode_ladder(values, rungs, ladder)
    data = writer.finish()
    assert np.array_equal(Reader(data).decode_ladder(rungs, ladder), values)
    ideal = sum(
        -np.log2(ladder.freqs(r)[v + ladder.radius[r]] / (1 << PRECISION)) for v, r in zip(values, rungs)
    )
    assert len(data) * 8 < ideal * 1.01 + 64


def test_garbage_stream_never_escapes_as_a_foreign_exception(ladder: Ladder) -> None:
    rng = np.random.default_rng(2)
    for _ in range(20):
        data = rng.integers(0, 256, rng.integers(1, 40)).astype(np.uint8).tobytes()
        try:
            Reader(data).decode_ladder(rng.integers(0, NUM_SCALES, 500), ladder)
        except NncError:
            pass


def _reference_scale_indices(params: dict[str, torch.Tensor], z: np.ndarray) -> np.ndarray:
    """The integer network in plain numpy int64 (no float anywhere)."""

    def conv(a: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        c, h, wd = a.shape
        padded = np.pad(a, ((0, 0), (1, 1), (1, 1)))
        out = np.zeros((w.shape[0], h, wd), np.int64)
        for dy in range(3):
            for dx in range(3):
                out += np.einsum("oc,chw->ohw", w[:, :, dy, dx].astype(np.int64), padded[:, dy : dy + h, dx : dx + wd])
        return out + b[:, None, None]

    def shuffle(a: np.ndarray) -> np.ndarray:
        c, h, w = a.shape
        return a.reshape(c // 4, 2, 2, h, w).transpose(0, 3, 1, 4, 2).reshape(c // 4, 2 * h, 2 * w)

    p = {k: v.numpy().astype(np.int64) for k, v in params.items()}
    a = np.clip(z, -intnet.Z_MAX, intnet.Z_MAX)
    for i in range(2):
        in_shift = 0 if i == 0 else intnet.ACT_SHIFT
        acc = conv(a, p[f"w{i}"], p[f"b{i}"])
        a = shuffle(np.minimum(np.maximum(acc, 0) >> (int(p[f"s{i}"][0]) + in_shift - intnet.ACT_SHIFT), intnet.ACT_MAX))
    acc = conv(a, p["w2"], p["b2"])
    frac = int(p["s2"][0]) + intnet.ACT_SHIFT
    origin, step = int(p["origin"][0]), int(p["step"][0])
    assert abs(origin - np.log(0.11) * 2**frac) <= 0.5
    assert abs(step - np.log(64 / 0.11) / (NUM_SCALES - 1) * 2**frac) <= 0.5
    return np.clip((acc - origin + step // 2) // step, 0, NUM_SCALES - 1)


def test_integer_hyper_synthesis_is_exact_and_thread_independent() -> None:
    params = zoo.engine(zoo.default_model("transform")).int_params
    z = np.random.default_rng(3).integers(-40, 41, (params["w0"].shape[1], 5, 7))
    expected = _reference_scale_indices(params, z)
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            got = intnet.scale_indices(params, torch.from_numpy(z)[None])[0].numpy()
            assert np.array_equal(got, expected)
    finally:
        torch.set_num_threads(before)


def test_decoded_symbols_do_not_depend_on_threads_or_bf16(crop) -> None:
    """The parse (every symbol and table choice) is identical however the
    pixels are computed; only the float synthesis may differ."""
    engine = zoo.engine(zoo.default_model("transform"))
    rgb = np.asarray(crop.convert("RGB"))
    params, segments, *_ = engine.encode(engine.analyse(rgb), 160)
    h, w = -(-rgb.shape[0] // 16), -(-rgb.shape[1] // 16)
    z_shape = (engine.model.nz, -(-h // 4), -(-w // 4))

    def parse() -> tuple[np.ndarray, np.ndarray]:
        reader = Reader(segments[0])
        z = reader.decode_ladder(engine._z_rungs(z_shape), engine.ladder)
        return z, engine._rungs(z, h, w)

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        ref = parse()
        torch.set_num_threads(2)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            other = parse()
    finally:
        torch.set_num_threads(before)
    assert all(np.array_equal(a, b) for a, b in zip(ref, other))
