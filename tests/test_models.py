"""Model registry, user weights, quality calibration and reserved chunks."""

from __future__ import annotations

import io
import shutil

import pytest
from PIL import Image

import pillow_nnc
from pillow_nnc import container, zoo


def _weights_path():
    entry = zoo.released()[zoo.default_model("transform")]
    return zoo._weights_dir() / entry["file"]


def test_quality_maps_to_monotonic_levels_up_to_the_models_ceiling() -> None:
    """Quality q gets the level that reaches JPEG q's SSIMULACRA 2, up to the
    model's ceiling (recorded in the registry); above it, the top level."""
    model_id = zoo.default_model("transform")
    engine = zoo.engine(model_id)
    ceiling = zoo.released()[model_id]["quality_ceiling"]["quality"]
    levels = [engine.level_of(q) for q in range(1, 101)]
    assert levels == sorted(levels)
    assert set(levels[ceiling:]) == {255}
    assert len(set(levels[:ceiling])) >= ceiling // 2  # below the ceiling, quality keeps mattering


def test_user_weights_encode_and_decode_by_their_own_id(tmp_path, crop) -> None:
    mine = tmp_path / "mine.safetensors"
    shutil.copyfile(_weights_path(), mine)
    buf = io.BytesIO()
    crop.save(buf, format="NNC", weights=mine)
    header = container.read_header(io.BytesIO(buf.getvalue()))
    assert header.model_id >= zoo.CUSTOM_BASE
    assert header.model_id == zoo.add_weights(mine)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        im.load()
        assert im.size == crop.size


def test_missing_user_weights_name_the_model(monkeypatch, crop) -> None:
    data = io.BytesIO()
    crop.save(data, format="NNC")
    raw = bytearray(data.getvalue())
    header = container.read_header(io.BytesIO(bytes(raw)))
    header.model_id = zoo.CUSTOM_BASE + 12345
    segments, _ = container.read_segments(bytes(raw), container.read_header(io.BytesIO(bytes(raw))))
    forged = container.write(header, [s.data for s in segments])
    with Image.open(io.BytesIO(forged)) as im:
        with pytest.raises(pillow_nnc.MissingModelError, match=str(zoo.CUSTOM_BASE + 12345)):
            im.load()


def test_bad_nnc_weights_path_warns_instead_of_breaking(monkeypatch, crop) -> None:
    monkeypatch.setenv("NNC_WEIGHTS", "/nonexistent/weights.safetensors")
    data = io.BytesIO()
    crop.save(data, format="NNC")
    header = container.read_header(io.BytesIO(data.getvalue()))
    header.model_id = zoo.CUSTOM_BASE + 777
    segments, _ = container.read_segments(data.getvalue(), container.read_header(io.BytesIO(data.getvalue())))
    with Image.open(io.BytesIO(container.write(header, [s.data for s in segments]))) as im:
        with pytest.warns(UserWarning, match="NNC_WEIGHTS"), pytest.raises(pillow_nnc.MissingModelError):
            im.load()


def _with_chunk(crop: Image.Image, chunk: str) -> bytes:
    data = io.BytesIO()
    crop.save(data, format="NNC")
    header = container.read_header(io.BytesIO(data.getvalue()))
    segments, _ = container.read_segments(data.getvalue(), header)
    setattr(header, chunk, b"\x01")
    return container.write(header, [s.data for s in segments])


def test_reserved_critical_chunk_is_refused_not_ignored(crop) -> None:
    with Image.open(io.BytesIO(_with_chunk(crop, "side_info"))) as im:
        with pytest.raises(pillow_nnc.UnsupportedFileError, match="side_info"):
            im.load()


@pytest.mark.parametrize("chunk", ["rate_map", "flat_blocks"])
def test_transform_file_with_a_rate_map_or_flat_blocks_is_corrupt(crop, chunk) -> None:
    with Image.open(io.BytesIO(_with_chunk(crop, chunk))) as im:
        with pytest.raises(pillow_nnc.NncError, match="rate map or flat blocks"):
            im.load()


def test_transparency_key_becomes_alpha(crop) -> None:
    im = crop.convert("RGB")
    im.info["transparency"] = im.getpixel((0, 0))
    buf = io.BytesIO()
    im.save(buf, format="NNC")
    with Image.open(buf) as out:
        assert out.mode == "RGBA" and out.getpixel((0, 0))[3] == 0


def test_tiny_images_get_the_thumbnail_model_and_larger_ones_the_default(sample_rgb) -> None:
    """The registry's ``small`` model codes images up to its ``max_side``
    (longer side); larger ones get the family's default."""
    small = zoo._registry()["small"]
    side = small["max_side"]

    def model_of(w: int, h: int, **params) -> int:
        buf = io.BytesIO()
        Image.fromarray(sample_rgb[100 : 100 + h, 180 : 180 + w].copy()).save(buf, format="NNC", **params)
        with Image.open(io.BytesIO(buf.getvalue())) as im:
            im.load()
            assert im.size == (w, h)
        return container.read_header(io.BytesIO(buf.getvalue())).model_id

    assert small["transform"] != zoo.default_model("transform")
    assert model_of(32, 32) == model_of(side, 7) == model_of(9, side, codec="transform") == small["transform"]
    assert model_of(side + 1, 7) == model_of(64, 48) == zoo.default_model("transform")
