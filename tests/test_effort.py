"""Encoder effort (``save(effort=N)``): refining the transform codec's
latents for the image at hand, with the decoder and the format unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pillow_nnc import codec, zoo
from pillow_nnc.engines import refine

from conftest import nnc_decode, nnc_encode


@pytest.fixture(scope="module")
def photo(sample_rgb) -> Image.Image:
    """A 96x80 crop of the sample: several latent rows and columns."""
    return Image.fromarray(np.ascontiguousarray(sample_rgb[90:170, 160:256]))


@pytest.mark.parametrize("effort", [0, 10, -1, 2.0, "5", True])
def test_effort_outside_1_to_9_is_a_value_error(effort, photo) -> None:
    with pytest.raises(ValueError, match="effort"):
        nnc_encode(photo, effort=effort)


def test_effort_1_is_the_default_and_changes_nothing(photo) -> None:
    assert nnc_encode(photo, quality=40, effort=1) == nnc_encode(photo, quality=40)


def _model_cost(photo: Image.Image, data: bytes) -> tuple[float, int]:
    """The model's own objective on the decoded file: lambda * D (as trained) and the file size."""
    from pillow_nnc.models.objective import distortion, lambda_of

    engine = zoo.engine(zoo.default_model("transform", *photo.size))
    decoded = nnc_decode(data)  # decodes with today's reader
    q = torch.tensor([data[10] / 255 * 7.0])  # level byte: spec 7.1, right after the 1-byte P field here
    x = torch.from_numpy(np.array(photo)).permute(2, 0, 1)[None].float() / 255
    x_hat = torch.from_numpy(np.array(decoded)).permute(2, 0, 1)[None].float() / 255
    d = distortion(x_hat, x, engine.objective["mse_weight"])[0]
    return float(lambda_of(q, engine.objective["lambda_top"])[0] * d), len(data)


def test_higher_effort_lowers_the_models_own_cost_and_decodes_with_todays_reader(photo) -> None:
    base = nnc_encode(photo, quality=30)
    refined = nnc_encode(photo, quality=30, effort=4)
    assert refined != base and refined[10] == base[10]  # same rate level, other latents
    (d0, n0), (d1, n1) = _model_cost(photo, base), _model_cost(photo, refined)
    pixels = photo.width * photo.height
    assert d1 + 8 * n1 / pixels < d0 + 8 * n0 / pixels  # lambda * D + bpp fell


def test_refinement_never_ends_above_the_analysis_guess() -> None:
    """Best-of: the refined integers cost no more than the rounded analysis
    latents by the model's own estimate, even on noise."""
    engine = zoo.engine(zoo.default_model("transform", 64, 64))
    rgb = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    analysis = engine.analyse(rgb)
    q = torch.tensor([3.0])
    y = analysis.features * engine.model.gain(q)
    mask = engine.model.group_mask(engine.model.importance_of(y, q).ceil())
    costs = []
    for steps in (0, 6):
        y1, z1 = refine.refine(engine.model, analysis.x, y, mask, q, steps, engine.objective)
        assert torch.equal(y1, y1.round()) and torch.equal(z1, z1.round())
        costs.append(float(refine.estimated_cost(engine.model, analysis.x, y1, z1, mask, q, engine.objective)))
    assert costs[1] <= costs[0]


def test_max_bytes_holds_at_every_effort(photo) -> None:
    for budget in (400, 900):
        data = nnc_encode(photo, max_bytes=budget, effort=3)
        assert len(data) <= budget
        assert nnc_decode(data).size == photo.size


def test_result_does_not_depend_on_the_thread_count(photo) -> None:
    files = []
    for threads in (1, 2):
        codec.set_threads(threads)
        try:
            files.append(nnc_encode(photo, quality=50, effort=2))
        finally:
            codec.set_threads(None)
    assert files[0] == files[1]


def test_large_images_refine_in_tiles(sample_rgb, monkeypatch) -> None:
    """Tiles of latents with margins bound the memory of the search; the
    tiled search visits every tile and the file decodes."""
    photo = Image.fromarray(np.ascontiguousarray(sample_rgb[50:242, 100:356]))  # 16x12 latents
    calls = []
    whole = refine._refine_whole

    def spy(*args, **kwargs):
        calls.append(args[2].shape[-2:])
        return whole(*args, **kwargs)

    monkeypatch.setattr(refine, "TILE", 4)
    monkeypatch.setattr(refine, "_refine_whole", spy)
    data = nnc_encode(photo, quality=30, effort=2)
    assert len(calls) == 12 and max(calls) == (12, 12)  # 4x3 tiles of 4 latents, margins of 4
    assert nnc_decode(data).size == photo.size


def test_recurrent_codec_takes_effort_without_effect(crop) -> None:
    assert nnc_encode(crop, codec="recurrent", effort=5) == nnc_encode(crop, codec="recurrent")


def test_progress_is_reported_per_step(photo) -> None:
    calls = []
    data = nnc_encode(photo, quality=30, effort=3, progress=lambda done, total: calls.append((done, total)))
    steps = refine.step_count(3)
    assert calls == [(k, steps) for k in range(1, steps + 1)]
    assert nnc_decode(data).size == photo.size
    with pytest.raises(ValueError, match="progress"):
        nnc_encode(photo, effort=3, progress="yes")
