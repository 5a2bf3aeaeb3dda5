"""The recurrent codec's engine, format and training entry point.

A small randomly initialised model stands in for trained weights: these
tests check the coding machinery (progressive prefixes, priming recorded in
the file, tiling, thread independence, hostile parameters), not quality.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from pillow_nnc import codec, container, zoo
from pillow_nnc.engines import recurrent as rec_engine
from pillow_nnc.errors import NncError, UnsupportedFileError
from pillow_nnc.models import tiling
from pillow_nnc.models.recurrent import RecurrentCodec

from conftest import nnc_decode, nnc_encode

MAX_ITERATIONS = 6


def _tiling_spy(monkeypatch) -> dict[str, list[int]]:
    """Tiles of 48 pixels (3 blocks) from now on, and the number of tiles
    of every tiled call, by stack (analysis: scale 1/16; synthesis: 16)."""
    monkeypatch.setattr(rec_engine, "TILE", 48)
    counts: dict[str, list[int]] = {"analysis": [], "synthesis": []}

    def spy(fn, x, **kw):
        calls = []
        out = tiling.tiled(lambda part: calls.append(part.shape) or fn(part), x, **kw)
        counts["analysis" if kw["scale"] < 1 else "synthesis"].append(len(calls))
        return out

    monkeypatch.setattr(rec_engine, "tiled", spy)
    return counts


# Larger than one tile of either stack with 48-pixel tiles (margins: 64
# pixels, 4 blocks), so the tile tests really tile.
H, W = 192, 208


def _tiny_weights(directory, adjust: Callable[[RecurrentCodec], None] | None = None, **config) -> str:
    """A small random model of ``config``; ``adjust`` may set parameters
    that training would have moved away from their start."""
    torch.manual_seed(0)
    model = RecurrentCodec(n=16, m=24, hidden=16, bits=8, **config)
    if adjust is not None:
        with torch.no_grad():
            adjust(model)
    tensors = {f"float.{k}": v.half().contiguous() for k, v in model.state_dict().items()}
    metadata = {
        "family": "recurrent", "name": "tiny-test", "max_iterations": str(MAX_ITERATIONS),
        "config": json.dumps({**model.config(), "prime": 2}),
        "quality_levels": json.dumps([min(255, 3 * q) for q in range(1, 101)]),
        "training": json.dumps({"step": 0, "cpu_hours": 0}),
    }
    path = directory / "tiny.safetensors"
    save_file(tensors, str(path), metadata)
    return str(path)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    return _tiny_weights(tmp_path_factory.mktemp("w"))


def test_scaled_additive_model_files_round_trip_and_cut_anywhere(tmp_path, engine, monkeypatch) -> None:
    """A model with iteration gains (config ``iteration_gain``): the gains
    change the image, and prefixes still equal coding fewer iterations."""
    monkeypatch.setattr(rec_engine, "SINGLE_SEGMENT_PIXELS", 16 * 16)  # one segment per iteration
    path = _tiny_weights(tmp_path, lambda m: m.log_iteration_gain.copy_(torch.linspace(0, 1.5, 16)), iteration_gain=True)
    gained = zoo.engine(zoo.add_weights(path))
    assert gained.model.iteration_gain and not engine.model.iteration_gain
    rgb = _rgb(40, 56)
    state = gained.analyse(rgb)
    params, segments, *_ = gained.encode(state, 255)
    assert len(segments) == MAX_ITERATIONS
    plain = engine.encode(engine.analyse(rgb), 255)
    assert not np.array_equal(gained.decode(params, segments, 56, 40), engine.decode(plain.params, plain.segments, 56, 40))
    for k in range(1, len(segments)):
        p_k, s_k, *_ = gained.encode(state, gained.level_of_iterations(k))
        np.testing.assert_array_equal(gained.decode(params, segments[:k], 56, 40), gained.decode(p_k, s_k, 56, 40))


@pytest.mark.parametrize("encoder_input", ["image", "latent"])
def test_latent_model_files_round_trip_cut_anywhere_and_tile(tmp_path, engine, monkeypatch, encoder_input) -> None:
    """A model whose iterations add to a latent that the synthesis renders
    (config ``reconstruction: latent``), encoding the image residual or the
    latent one: prefixes equal coding fewer iterations, and running the
    stacks in tiles changes no code and at most one level."""
    monkeypatch.setattr(rec_engine, "SINGLE_SEGMENT_PIXELS", 16 * 16)
    assert not RecurrentCodec(reconstruction="latent", code_readout=True).code_readout.weight.any()  # starts at zero
    path = _tiny_weights(
        tmp_path, lambda m: m.code_readout.weight.normal_(0, 0.1),  # give it a say here
        iteration_gain=True, reconstruction="latent", code_readout=True, encoder_input=encoder_input,
    )
    latent = zoo.engine(zoo.add_weights(path))
    assert latent.model.latent and latent.model.config()["code_readout"]
    assert latent.model.latent_input == (encoder_input == "latent")
    rgb = _rgb(H, W, seed=3)
    state = latent.analyse(rgb)
    params, segments, *_ = latent.encode(state, 255)
    assert len(segments) == MAX_ITERATIONS
    # No autograd graph survives encoding (it once held the synthesis graph of the first pass).
    run = state._full
    assert not any(t.requires_grad for t in (run.x_hat, run.canvas, run.h_enc, run.h_dec, run.target))
    whole = latent.decode(params, segments, W, H)
    plain = engine.encode(engine.analyse(rgb), 255)
    assert not np.array_equal(whole, engine.decode(plain.params, plain.segments, W, H))
    for k in (1, 3):
        p_k, s_k, *_ = latent.encode(state, latent.level_of_iterations(k))
        np.testing.assert_array_equal(latent.decode(params, segments[:k], W, H), latent.decode(p_k, s_k, W, H))
    tiles = _tiling_spy(monkeypatch)
    tiled = latent.encode(latent.analyse(rgb), 255)
    assert (tiled.params, tiled.segments) == (params, segments)
    assert np.abs(latent.decode(params, segments, W, H).astype(int) - whole.astype(int)).max() <= 1
    assert min(tiles["analysis"]) > 1 and min(tiles["synthesis"]) > 1  # both stacks really ran in tiles


def test_diffusion_steps_come_from_the_model_and_change_the_image(tmp_path, engine) -> None:
    diffused = zoo.engine(zoo.add_weights(_tiny_weights(tmp_path, diffusion=2)))
    assert [diffused.model.gru_steps(t, 3) for t in range(3)] == [4, 3, 3]
    assert [engine.model.gru_steps(t, 3) for t in range(3)] == [4, 1, 1]
    rgb = _rgb(40, 56, seed=2)
    a, b = (e.encode(e.analyse(rgb), 255) for e in (diffused, engine))
    decoded = diffused.decode(a.params, a.segments, 56, 40)
    assert decoded.shape == (40, 56, 3)
    assert not np.array_equal(decoded, engine.decode(b.params, b.segments, 56, 40))


def test_iteration_readouts_start_at_zero_and_act_on_their_own_iteration() -> None:
    """``iteration_readout``: iteration ``t`` adds its own readout of its
    codes; zero at the start (a run can begin from a shared-readout model),
    and one iteration's readout changes that iteration on, not earlier ones."""
    torch.manual_seed(0)
    config = {"n": 16, "m": 24, "hidden": 16, "bits": 8, "iteration_gain": True, "reconstruction": "latent",
              "code_readout": True}
    shared = RecurrentCodec(**config).eval()
    own = RecurrentCodec(**config, iteration_readout=True).eval()
    own.load_state_dict(shared.state_dict(), strict=False)
    assert own.config()["iteration_readout"] and "iteration_readout" not in shared.config()
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(shared(x, 4), own(x, 4)))
        own.code_readouts[2].weight.normal_(0, 0.1)
        changed = [not torch.equal(a, b) for a, b in zip(shared(x, 4), own(x, 4))]
    assert changed == [False, False, True, True]
    with pytest.raises(ValueError, match="iteration_readout needs code_readout"):
        RecurrentCodec(reconstruction="latent", iteration_readout=True)


def test_gated_readout_models_round_trip_and_the_state_alone_adds_nothing(tmp_path, monkeypatch) -> None:
    """``gated_readout``: the latent increment is linear in the iteration's
    codes (gated by the state), so all-zero codes would add nothing; files
    of such a model round trip and cut anywhere."""
    torch.manual_seed(0)
    model = RecurrentCodec(n=16, m=24, hidden=16, bits=8, reconstruction="latent", gated_readout=True).eval()
    assert not hasattr(model, "readout") and model.config()["gated_readout"]
    h = torch.randn(1, 16, 2, 3)
    with torch.no_grad():
        model.gate_codes.bias.zero_()
        model.gate_out.bias.zero_()
        assert not model.increment(h, torch.zeros(1, 8, 2, 3), 0).any()
        assert model.increment(h, torch.ones(1, 8, 2, 3), 0).abs().sum() > 0
    monkeypatch.setattr(rec_engine, "SINGLE_SEGMENT_PIXELS", 16 * 16)
    gated = zoo.engine(zoo.add_weights(_tiny_weights(tmp_path, reconstruction="latent", gated_readout=True)))
    rgb = _rgb(48, 64, seed=5)
    state = gated.analyse(rgb)
    params, segments, *_ = gated.encode(state, 255)
    assert len(segments) == MAX_ITERATIONS
    p_2, s_2, *_ = gated.encode(state, gated.level_of_iterations(2))
    np.testing.assert_array_equal(gated.decode(params, segments[:2], 64, 48), gated.decode(p_2, s_2, 64, 48))
    with pytest.raises(ValueError, match="gated_readout needs latent"):
        RecurrentCodec(gated_readout=True)
    with pytest.raises(ValueError, match="gated_readout needs latent"):
        RecurrentCodec(reconstruction="latent", code_readout=True, gated_readout=True)


def test_unknown_reconstruction_is_refused() -> None:
    with pytest.raises(ValueError, match="reconstruction"):
        RecurrentCodec(reconstruction="pixels")
    with pytest.raises(ValueError, match="latent"):
        RecurrentCodec(code_readout=True)
    with pytest.raises(ValueError, match="diffusion"):
        RecurrentCodec(diffusion=16)
    with pytest.raises(ValueError, match="encoder_input"):
        RecurrentCodec(encoder_input="latent")
    with pytest.raises(ValueError, match="encoder_input"):
        RecurrentCodec(reconstruction="latent", encoder_input="codes")


def test_latent_residual_encoder_sees_target_minus_canvas() -> None:
    """``encoder_input="latent"``: the encoder's input is the gained
    difference between the image's analysis and the decoder's latent, so it
    shrinks to zero as the latent reaches the target; the decoder side is
    the same network as with the image residual."""
    torch.manual_seed(1)
    model = RecurrentCodec(n=16, m=24, hidden=16, bits=8, reconstruction="latent", encoder_input="latent").eval()
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        target = model.target(x)
        assert target.shape == (1, 24, 2, 3)
        torch.testing.assert_close(target, model.g_a(x))
        _, _, canvas = model.init_state(x)
        features = model.analysis(model.residual(target, canvas, model.picture(canvas)), 0)
        torch.testing.assert_close(features, target * model.log_in_gain.exp().view(-1, 1, 1))
        assert not model.analysis(model.residual(target, target, model.picture(target)), 0).any()
    image_input = RecurrentCodec(n=16, m=24, hidden=16, bits=8, reconstruction="latent")
    assert set(image_input.state_dict()) == set(model.state_dict())


@pytest.fixture(scope="module")
def engine(weights):
    return zoo.engine(zoo.add_weights(weights))


def _rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    arr = np.stack([x * 3 + y, y * 2, (x ^ y) & 255], axis=2) + rng.integers(0, 30, (h, w, 3))
    return (arr % 256).astype(np.uint8)


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (32, 32), (40, 70)])
def test_any_size_round_trips_with_exact_code_count(weights, engine, size) -> None:
    rgb = _rgb(*size)
    params, segments, *_ = engine.encode(engine.analyse(rgb), 255)
    n, prime, per_segment, coding = params
    assert (n, prime, coding) == (MAX_ITERATIONS, 2, 0)
    blocks = -(-size[0] // 16) * -(-size[1] // 16)
    assert sum(map(len, segments)) == n * -(-8 * blocks // 8)
    out = engine.decode(params, segments, size[1], size[0])
    assert out.shape == (*size, 3) and out.dtype == np.uint8


def test_level_byte_maps_monotonically_onto_every_iteration_count(engine) -> None:
    counts = [engine.iterations_of(level) for level in range(256)]
    assert counts == sorted(counts)
    assert set(counts) == set(range(1, MAX_ITERATIONS + 1))


def test_each_iteration_is_a_segment_and_prefixes_decode_as_fewer_iterations(engine, monkeypatch) -> None:
    monkeypatch.setattr(rec_engine, "SINGLE_SEGMENT_PIXELS", 0)
    rgb = _rgb(40, 56)
    state = engine.analyse(rgb)
    params, segments, *_ = engine.encode(state, 255)
    assert len(segments) == MAX_ITERATIONS and params[2] == 1
    for k in range(1, MAX_ITERATIONS):
        level = engine.level_of_iterations(k)
        params_k, segments_k, *_ = engine.encode(state, level)
        assert segments_k == segments[:k]  # later iterations never change earlier codes
        prefix = engine.decode(params, segments[:k], 56, 40)
        np.testing.assert_array_equal(prefix, engine.decode(params_k, segments_k, 56, 40))


def test_priming_steps_are_read_from_the_file(engine) -> None:
    rgb = _rgb(32, 48)
    params, segments, *_ = engine.encode(engine.analyse(rgb), 255)
    unprimed = bytes([params[0], 0, *params[2:]])
    assert not np.array_equal(engine.decode(params, segments, 48, 32), engine.decode(unprimed, segments, 48, 32))


def _encode_with_threads(engine, rgb: np.ndarray, threads: int) -> tuple[bytes, list[bytes]]:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        return engine.encode(engine.analyse(rgb), 255)
    finally:
        torch.set_num_threads(before)


def test_codes_do_not_depend_on_the_thread_count(engine) -> None:
    rgb = _rgb(64, 80, seed=3)
    assert _encode_with_threads(engine, rgb, 1) == _encode_with_threads(engine, rgb, 2)


def test_tiled_coding_matches_whole_image_coding(engine, monkeypatch) -> None:
    rgb = _rgb(H, W, seed=5)
    whole_params, whole, *_ = engine.encode(engine.analyse(rgb), 128)
    decoded = engine.decode(whole_params, whole, W, H)
    tiles = _tiling_spy(monkeypatch)
    tiled_params, tiled, *_ = engine.encode(engine.analyse(rgb), 128)
    assert (tiled_params, tiled) == (whole_params, whole)
    diff = np.abs(engine.decode(whole_params, whole, W, H).astype(int) - decoded.astype(int))
    assert diff.max() <= 1
    assert min(tiles["analysis"]) > 1 and min(tiles["synthesis"]) > 1  # both stacks really ran in tiles


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (b"\x02\x02\x01", NncError),  # too short
        (b"\x00\x02\x01\x00", NncError),  # zero iterations
        (bytes([MAX_ITERATIONS + 1, 2, 1, 0]), NncError),  # more than the model has
        (b"\x02\x10\x01\x00", NncError),  # priming beyond the limit
        (b"\x02\x02\x03\x00", NncError),  # more per segment than iterations
        (b"\x02\x02\x01\x04", UnsupportedFileError),  # a code coding this decoder lacks
        (b"\x02\x02\x01\x02\x03", NncError),  # local models with a tile side not allowed
        (b"\x02\x02\x01\x01\x04", NncError),  # a fifth byte without local models
    ],
)
def test_bad_codec_parameters_are_refused(engine, params, error) -> None:
    with pytest.raises(error):
        engine.decode(params, [b"\0" * 4], 16, 16)


def test_segment_of_the_wrong_length_is_refused(engine) -> None:
    params, segments, *_ = engine.encode(engine.analyse(_rgb(16, 16)), 255)
    with pytest.raises(NncError, match="expected"):
        engine.decode(params, [segments[0] + b"\0"], 16, 16)
    with pytest.raises(NncError, match="more segments"):
        engine.decode(bytes([1, params[1], 1, 0]), [segments[0][:1], segments[0][:1]], 16, 16)


def test_save_with_recurrent_weights_records_the_model_and_reopens(weights) -> None:
    im = Image.fromarray(_rgb(24, 40))
    data = nnc_encode(im, weights=weights, quality=30)
    out = nnc_decode(data)
    assert out.size == (40, 24) and out.mode == "RGB"
    header = container.read_header(io.BytesIO(data))
    assert header.model_id == zoo.add_weights(weights)
    assert zoo.engine(header.model_id).family == "recurrent"


def test_max_bytes_keeps_whole_iterations_within_budget(weights) -> None:
    im = Image.fromarray(_rgb(48, 64))
    full = nnc_encode(im, weights=weights, quality=100, sabr=False)
    budget = len(full) - 1
    fitted = nnc_encode(im, weights=weights, max_bytes=budget, sabr=False)
    assert len(fitted) <= budget
    assert codec.decode(container.read_header(io.BytesIO(fitted)), fitted).shape == (48, 64, 3)


RELEASED = "recurrent" in zoo.families()


@pytest.mark.skipif(not RELEASED, reason="no released recurrent model")
def test_released_model_codes_do_not_depend_on_the_thread_count(sample_rgb) -> None:
    engine = zoo.engine(zoo.default_model("recurrent"))
    rgb = sample_rgb[40:200, 100:292]
    assert _encode_with_threads(engine, rgb, 1) == _encode_with_threads(engine, rgb, 2)


@pytest.mark.skipif(not RELEASED, reason="no released recurrent model")
def test_released_model_improves_with_every_iteration(sample_rgb) -> None:
    from pillow_nnc.metrics import ms_ssim_rgb

    engine = zoo.engine(zoo.default_model("recurrent"))
    rgb = sample_rgb[40:200, 100:292]
    state = engine.analyse(rgb)
    scores = []
    for k in range(1, engine.max_iterations + 1):
        level = engine.level_of_iterations(k)
        params, segments, *_ = engine.encode(state, level)
        scores.append(ms_ssim_rgb(rgb, engine.decode(params, segments, 192, 160)))
    assert all(b > a for a, b in zip(scores, scores[1:])), scores


@pytest.fixture(scope="module")
def coded_weights(weights, tmp_path_factory) -> str:
    """The tiny model plus context tables counted on a few generated images."""
    from safetensors import safe_open

    from pillow_nnc.train.export import code_tables

    with safe_open(weights, "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        metadata = f.metadata()
    engine = zoo.engine(zoo.add_weights(weights))
    tensors.update(code_tables(engine, [_rgb(48, 64, seed=s) for s in range(3)] + [np.full((64, 64, 3), 90, np.uint8)]))
    path = tmp_path_factory.mktemp("w") / "tiny-coded.safetensors"
    save_file(tensors, str(path), metadata)
    return str(path)


@pytest.mark.parametrize("size", [(1, 1), (40, 56), (300, 20)])
def test_context_coded_codes_decode_to_the_plain_codes(weights, coded_weights, size, monkeypatch) -> None:
    monkeypatch.setattr(rec_engine, "SINGLE_SEGMENT_PIXELS", 32 * 32)  # several segments for the larger sizes
    plain = zoo.engine(zoo.add_weights(weights))
    coded = zoo.engine(zoo.add_weights(coded_weights))
    rgb = _rgb(*size, seed=9)
    p_params, p_segments, *_ = plain.encode(plain.analyse(rgb), 255)
    c_params, c_segments, *_ = coded.encode(coded.analyse(rgb), 255)
    assert p_params[3] == 0 and c_params[3] in (1, 2, 3) and c_params[:3] == p_params[:3]
    expected = plain.decode(p_params, p_segments, size[1], size[0])
    np.testing.assert_array_equal(coded.decode(c_params, c_segments, size[1], size[0]), expected)
    for k in range(1, len(c_segments)):  # prefixes, too
        np.testing.assert_array_equal(
            coded.decode(c_params, c_segments[:k], size[1], size[0]), plain.decode(p_params, p_segments[:k], size[1], size[0])
        )


def test_context_coding_saves_bits_on_a_flat_image(weights, coded_weights) -> None:
    plain = zoo.engine(zoo.add_weights(weights))
    coded = zoo.engine(zoo.add_weights(coded_weights))
    flat = np.full((64, 64, 3), 90, np.uint8)
    plain_bytes = sum(map(len, plain.encode(plain.analyse(flat), 255)[1]))
    coded_bytes = sum(map(len, coded.encode(coded.analyse(flat), 255)[1]))
    assert coded_bytes < plain_bytes


def test_context_coded_file_needs_the_model_tables(weights, coded_weights) -> None:
    coded = zoo.engine(zoo.add_weights(coded_weights))
    params, segments, *_ = coded.encode(coded.analyse(_rgb(16, 16)), 255)
    with pytest.raises(NncError, match="context tables"):
        zoo.engine(zoo.add_weights(weights)).decode(params, segments, 16, 16)


def test_local_models_are_chosen_when_they_code_smaller(coded_weights, monkeypatch) -> None:
    from pillow_nnc.entropy import bits as bitmodel

    coded = zoo.engine(zoo.add_weights(coded_weights))
    rgb = _rgb(96, 96, seed=4)
    rgb[:, :48] = 90  # half flat, half texture: different statistics per tile
    params, segments, *_ = coded.encode(coded.analyse(rgb), 255)
    forced_global = coded.encode
    monkeypatch.setattr(bitmodel, "choose_tables", lambda *a: (None, 1, np.zeros(1, np.int64)))
    g_params, g_segments, *_ = forced_global(coded.analyse(rgb), 255)
    assert g_params[3] == 1
    assert sum(map(len, segments)) <= sum(map(len, g_segments)) + 2  # the choice never costs more than rounding
    if params[3] in (2, 3):
        assert params[4] in bitmodel.TILE_SIZES
    np.testing.assert_array_equal(coded.decode(params, segments, 96, 96), coded.decode(g_params, g_segments, 96, 96))


@pytest.mark.parametrize(("tile", "sets"), [(2, None), (16, None), (4, 2), (8, 3)])
def test_local_model_files_round_trip_with_any_tile_and_set_choice(coded_weights, monkeypatch, tile, sets) -> None:
    from pillow_nnc.entropy import bits as bitmodel

    coded = zoo.engine(zoo.add_weights(coded_weights))
    monkeypatch.setattr(rec_engine, "SINGLE_SEGMENT_PIXELS", 32 * 32)
    rgb = _rgb(72, 100, seed=6)
    g_params, g_segments, *_ = coded.encode(coded.analyse(rgb), 255)
    k = sets or len(coded.local_freqs)
    monkeypatch.setattr(bitmodel, "choose_tables", lambda image, active, h, w, *a: (tile, k, np.arange(-(-h // tile) * -(-w // tile)) % k))
    params, segments, *_ = coded.encode(coded.analyse(rgb), 255)
    assert params[3:] == (bytes([3, tile, k]) if sets else bytes([2, tile])) and len(segments) == params[0]
    expected = coded.decode(g_params, g_segments, 100, 72)
    np.testing.assert_array_equal(coded.decode(params, segments, 100, 72), expected)
    np.testing.assert_array_equal(coded.decode(params, segments[:2], 100, 72), coded.decode(g_params, g_segments[:2], 100, 72))


@pytest.mark.parametrize("params", [bytes([2, 3, 2, 3, 4, 1]), bytes([2, 3, 2, 3, 4, 99]), bytes([2, 3, 2, 3, 4])])
def test_bad_local_set_counts_are_corrupt(coded_weights, params) -> None:
    coded = zoo.engine(zoo.add_weights(coded_weights))
    with pytest.raises(NncError, match="bad recurrent codec parameters"):
        coded.decode(params, [b"\x01" * 64], 32, 32)


@pytest.mark.skipif(not RELEASED, reason="no released recurrent model")
def test_released_model_file_prefixes_decode_or_fail_cleanly(sample_rgb, monkeypatch) -> None:
    """A 256x256 file has one segment per iteration: each segment boundary is
    a valid coarser image, equal to coding fewer iterations; a cut inside a
    segment raises TruncatedFileError, or with LOAD_TRUNCATED_IMAGES decodes
    the complete iterations."""
    from PIL import ImageFile

    from pillow_nnc.errors import TruncatedFileError

    im = Image.fromarray(np.ascontiguousarray(sample_rgb[20:276, 100:356]))
    data = nnc_encode(im, codec="recurrent", quality=100, sabr=False)
    header = container.read_header(io.BytesIO(data))
    segments, _ = container.read_segments(data, header)
    ends = [s.offset + len(s.data) + 2 for s in segments]
    assert len(ends) == header.codec_params[0] > 1
    engine = zoo.engine(header.model_id)
    state = engine.analyse(np.asarray(im))
    for k in (1, len(ends) // 2):
        level = engine.level_of_iterations(k)
        params, segs, *_ = engine.encode(state, level)
        expected = engine.decode(params, segs, 256, 256)
        np.testing.assert_array_equal(np.asarray(nnc_decode(data[: ends[k - 1]])), expected)
        cut = data[: ends[k - 1] + 5]
        with pytest.raises(TruncatedFileError):
            nnc_decode(cut)
        monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
        np.testing.assert_array_equal(np.asarray(nnc_decode(cut)), expected)
        monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)


@pytest.mark.parametrize("entropy", ["raw", "global", "local"])
def test_save_entropy_option_selects_the_coding_and_all_decode(coded_weights, entropy) -> None:
    im = Image.fromarray(_rgb(48, 80, seed=2))
    data = nnc_encode(im, weights=coded_weights, quality=100, entropy=entropy)
    coding = container.read_header(io.BytesIO(data)).codec_params[3]
    assert coding in {"raw": (0,), "global": (1,), "local": (1, 2, 3)}[entropy]
    reference = nnc_decode(nnc_encode(im, weights=coded_weights, quality=100, entropy="raw"))
    np.testing.assert_array_equal(np.asarray(nnc_decode(data)), np.asarray(reference))


def test_entropy_option_is_validated(crop) -> None:
    with pytest.raises(ValueError, match="entropy must be one of"):
        nnc_encode(crop, entropy="zip")


def test_transform_raw_mode_codes_the_same_image_without_a_probability_model(crop) -> None:
    raw, coded = nnc_encode(crop, entropy="raw"), nnc_encode(crop, entropy="local")
    assert container.read_header(io.BytesIO(raw)).codec_params[2:] == b"\x01"
    assert len(raw) > 1.5 * len(coded)
    np.testing.assert_array_equal(np.asarray(nnc_decode(raw)), np.asarray(nnc_decode(coded)))


def test_parsed_codes_equal_the_encoders_with_any_threads_and_bf16(coded_weights) -> None:
    """The parse is integer-only: 1 or 2 threads, bf16 autocast or not, the
    decoder reads exactly the codes the encoder chose."""
    coded = zoo.engine(zoo.add_weights(coded_weights))
    rgb = _rgb(64, 96, seed=8)
    state = coded.analyse(rgb)
    for entropy in ("global", "local"):
        params, segments, *_ = coded.encode(state, 255, entropy)
        before = torch.get_num_threads()
        try:
            for threads, bf16 in ((1, False), (2, True)):
                torch.set_num_threads(threads)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    parsed = coded._read_codes(params, segments, [np.ones(24, bool)] * params[0], 4, 6)
                codes = state.codes(params[0])[0]
                assert all(np.array_equal((a[0] > 0).reshape(b.shape).numpy(), b) for a, b in zip(parsed, codes))
        finally:
            torch.set_num_threads(before)
