"""The training entry point: runs, logs validation, checkpoints, resumes
exactly where it stopped, and exports weights that the plugin can use.

Runs a couple of steps on generated photos, so it needs no ``../shared``.
"""

from __future__ import annotations

import json

import torch

import numpy as np
import pytest
from PIL import Image

from pillow_nnc.train import export, loop
from pillow_nnc.train.data import is_validation
from pillow_nnc.train.objective import file_metadata

from conftest import nnc_decode, nnc_encode


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Eight training images and one held out (by the data split's own rule)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:272, 0:288]
    names = [f"p{i}.png" for i in range(200)]
    held = next(n for n in names if is_validation(root / n, root))
    train = [n for n in names if not is_validation(root / n, root)][:8]
    for name in [held, *train]:
        base = np.stack([x * rng.uniform(0.2, 1), y * rng.uniform(0.2, 1), (x + y) * 0.4], axis=2)
        arr = (base + rng.normal(0, 12, base.shape)) % 256
        Image.fromarray(arr.astype(np.uint8)).save(root / name)
    return root


@pytest.mark.parametrize(
    ("family", "extra"),
    [
        ("transform", ["--patch", "64"]),
        ("transform", ["--patch", "32", "--thumbnails"]),
        ("recurrent", ["--patch", "32", "--iterations", "2", "--prime", "1"]),
        ("recurrent", ["--patch", "32", "--iterations", "2", "--iteration-gain", "--reconstruction", "latent",
                       "--code-readout", "--iteration-readout", "--encoder-input", "latent", "--latent-pull", "1"]),
    ],
)
def test_train_resume_export_and_save(photos, tmp_path, capsys, monkeypatch, family, extra) -> None:
    from pillow_nnc.train import data

    # Two screen-content validation images instead of twelve keep the test quick.
    monkeypatch.setattr(loop, "validation_screens", lambda: data.validation_screens(count=2))
    out = tmp_path / "run"
    common = ["--family", family, "--data", str(photos), "--out", str(out), "--batch", "2",
              "--threads", "1", "--val-every", "2", *extra]
    loop.main([*common, "--steps", "2"])
    # Resumed without the family and model options: they come from the checkpoint
    # (and a conflicting one is reported and ignored).
    conflict = ["--diffusion", "2"] if family == "recurrent" else []
    thumbnails = [a for a in extra if a == "--thumbnails"]  # a data setting: given again on resuming
    loop.main([*common[2:8], "--patch", extra[1], "--iterations", "2", "--steps", "3", *conflict, *thumbnails])
    assert ("--diffusion 2 ignored" in capsys.readouterr().out) == bool(conflict)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    vals = [r for r in log if "val" in r]
    assert [r["step"] for r in vals] == [2]
    assert 0 < vals[0]["val"]["msssim@0.25"] <= 1
    if family == "transform":  # SSIMULACRA 2 in every point; screen content beside photos
        assert all(len(point) == 5 and point[3] <= 100 for point in vals[0]["val"]["curve"])
        assert {"bd_vs_jpeg", "bd_vs_jpeg_psnr", "bd_vs_jpeg_ssimulacra2"} <= vals[0]["val"].keys()
        assert ("screen_curve" in vals[0]["val"]) != bool(thumbnails)

    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["step"] == 3 and state["family"] == family  # resumed, not restarted
    assert state["args"]["family"] == family
    for key, value in state["config"].items():  # the settings report the model's options
        if key in state["args"]:
            assert state["args"][key] == str(value)

    weights = tmp_path / "model.safetensors"
    export.export(out / "checkpoint.pt", weights, "test-model", photos)
    record = json.loads(weights.with_suffix(".json").read_text())
    if family == "transform":  # the objective the encoder's effort minimises travels with the weights
        assert json.loads(file_metadata(str(weights))["objective"]) == {"mse_weight": 3.0, "lambda_top": 600.0}
    assert record["step"] == 3 and record["config"] == state["config"]
    assert record["settings"]["thumbnails"] == str(bool(thumbnails))
    im = Image.open(next(photos.glob("*.png"))).crop((0, 0, 40, 24))
    decoded = nnc_decode(nnc_encode(im, weights=str(weights)))
    assert decoded.size == (40, 24)


def test_impossible_model_options_stop_with_a_message(photos, tmp_path) -> None:
    with pytest.raises(SystemExit, match="encoder_input latent needs latent reconstruction"):
        loop.main(["--family", "recurrent", "--data", str(photos), "--out", str(tmp_path / "x"),
                   "--encoder-input", "latent", "--steps", "1"])


def test_recurrent_run_can_start_from_transform_weights(photos, tmp_path) -> None:
    from pillow_nnc import zoo

    released = zoo.released()[zoo.default_model("transform")]
    path = zoo._weights_dir() / released["file"]
    out = tmp_path / "rc"
    loop.main(["--family", "recurrent", "--data", str(photos), "--out", str(out), "--batch", "1", "--patch", "32",
               "--iterations", "1", "--steps", "1", "--threads", "1", "--init-from", str(path)])

    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["step"] == 1 and "enc_rnn.w_h.weight" in state["model"]


def test_iteration_gains_start_finite_and_at_least_one() -> None:
    """Calibrating the gains of a fresh latent model (random decoder, whose
    increments grow the residual) gives finite gains of at least 1, not the
    shrinking gains that ended in NaN."""
    from pillow_nnc.train.recurrent_task import RecurrentTask

    args = loop.parse_args(["--family", "recurrent", "--reconstruction", "latent", "--code-readout",
                            "--iteration-gain", "--iterations", "2", "--no-bf16"])
    torch.manual_seed(0)
    task = RecurrentTask(args)
    with torch.no_grad():  # a decoder whose increments are far too large
        task.model.log_out_gain.fill_(5.0)
    task.calibrate(torch.rand(2, 3, 32, 32))
    gains = task.model.log_iteration_gain.exp()
    assert torch.isfinite(gains).all() and (gains >= 1).all()


def test_frozen_decoder_run_trains_only_the_encoder(photos, tmp_path) -> None:
    """``--freeze-decoder``: the synthesis taken from a transform model stays
    bit for bit while the analysis learns."""
    from pillow_nnc import zoo
    from pillow_nnc.train.objective import float_tensors

    path = zoo._weights_dir() / zoo.released()[zoo.default_model("transform")]["file"]
    start = float_tensors(str(path))
    out = tmp_path / "enc"
    loop.main(["--family", "recurrent", "--data", str(photos), "--out", str(out), "--batch", "1", "--patch", "32",
               "--iterations", "2", "--steps", "3", "--threads", "1", "--init-from", str(path), "--freeze-decoder"])
    model = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(model[k], start[k]) for k in start if k.startswith("g_s."))
    assert not all(torch.equal(model[k], start[k]) for k in start if k.startswith("g_a."))


def test_smooth_patches_come_at_their_share_and_are_smooth() -> None:
    """``--smooth``: the sampler mixes in flat and blurred patches (which
    hard-patch sampling leaves out) at the share asked for."""
    import random

    from pillow_nnc.train.data import PatchSampler, busyness

    noisy = np.random.default_rng(1).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    photos = PatchSampler([noisy], 64, random.Random(0))
    mixed = PatchSampler([noisy], 64, random.Random(0), smooth=0.5)
    smooth = [busyness(p) < 10 for p in mixed.batch(200)]
    assert 0.4 < np.mean(smooth) < 0.6
    assert not any(busyness(p) < 10 for p in photos.batch(50))
    assert mixed.batch(3).shape == (3, 64, 64, 3)
    with pytest.raises(SystemExit):
        loop.parse_args(["--smooth", "1.5"])


def _losses_with(options: list[str], option: str, values: tuple[float, ...], x: torch.Tensor):
    """Recurrent training losses on ``x`` for each value of one option (the
    same initial weights each time), the last loss's stats, and the last task."""
    import random

    from pillow_nnc.train.recurrent_task import RecurrentTask

    args = loop.parse_args(["--family", "recurrent", "--no-bf16", *options])
    losses = {}
    for value in values:
        setattr(args, option, value)
        torch.manual_seed(0)
        task = RecurrentTask(args)
        losses[value], stats = task.loss(x, random.Random(0))
    return losses, stats, task


def test_latent_pull_adds_a_term_toward_the_target() -> None:
    """``--latent-pull W``: a latent-residual model's loss gains W times the
    mean log relative distance of each iteration's latent to the target."""
    x = torch.rand(2, 3, 32, 32)
    losses, stats, _ = _losses_with(["--reconstruction", "latent", "--encoder-input", "latent", "--iterations", "2"],
                                    "latent_pull", (0.0, 1.0), x)
    assert "latent" in stats and stats["latent"] > 0
    torch.testing.assert_close(losses[1.0] - losses[0.0], torch.tensor(stats["latent"]).log(), atol=0.5, rtol=0)
    assert losses[1.0] != losses[0.0]


def test_late_weight_tilts_the_loss_toward_later_iterations() -> None:
    """``--late-weight W``: iteration weights rise linearly to 1 + W times the
    first's and average 1, so W = 0 is the plain mean of the log distortions,
    and the loss with W > 0 is that weighted mean."""
    from pillow_nnc.models.objective import distortion
    from pillow_nnc.train.recurrent_task import MSE_WEIGHT, iteration_weights

    torch.testing.assert_close(iteration_weights(4, 0.0), torch.ones(4))
    w = iteration_weights(5, 3.0)
    torch.testing.assert_close(w.mean(), torch.tensor(1.0))
    torch.testing.assert_close(w[-1] / w[0], torch.tensor(4.0))
    assert (w.diff() > 0).all()
    with pytest.raises(SystemExit):
        loop.parse_args(["--late-weight", "-1"])

    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        losses, _, task = _losses_with(["--iterations", "3", "--binarizer", "sign"], "late_weight", (0.0, 2.0), x)
        steps = task.model.unroll(x, task.model.target(x), 3, prime=task.prime, stochastic=False)
    log_d = torch.stack([distortion(o, x, MSE_WEIGHT) for _, o in steps]).log().mean(1)
    torch.testing.assert_close(losses[0.0], log_d.mean(), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(losses[2.0], (iteration_weights(3, 2.0) * log_d).mean(), rtol=1e-4, atol=1e-4)


def test_thumbnail_patches_are_whole_photos_shrunk() -> None:
    """``--thumbnails``: every patch is 60-100% of a photo's short side shrunk
    to the patch size (so each shows all four quadrants of this photo, which a
    crop at the usual scales almost never does), and validation uses the
    benchmark's own thumbnails."""
    import random

    from pillow_nnc.bench.sets import thumbnail
    from pillow_nnc.train.data import PatchSampler, validation_thumbnails

    photo = np.zeros((400, 400, 3), np.uint8)
    photo[:200, :200, 0] = photo[200:, 200:, 1] = photo[:200, 200:, 2] = 255  # black bottom left
    thumbs = PatchSampler([photo], 32, random.Random(0), thumbnails=True).batch(40)
    crops = PatchSampler([photo], 32, random.Random(0)).batch(40)
    quadrants = lambda p: len({tuple(c) for c in p.reshape(-1, 3) // 128})  # noqa: E731
    assert thumbs.shape == (40, 32, 32, 3)
    assert all(quadrants(p) >= 4 for p in thumbs)
    assert sum(quadrants(p) >= 4 for p in crops) < 10
    val = validation_thumbnails([photo], 32)
    assert np.array_equal(val[0], np.asarray(thumbnail(Image.fromarray(photo), 32)))


def test_screen_patches_come_at_their_share_and_are_reproducible() -> None:
    """``--screen``: generated text/UI/chart patches at the share asked for,
    the same for the same seed, with sharp edges (what photos lack)."""
    import random

    from pillow_nnc.train.data import PatchSampler, validation_screens
    from pillow_nnc.train.screen import ScreenPatches

    flat = np.full((200, 200, 3), 128, np.uint8)
    mixed = PatchSampler([flat], 64, random.Random(0), screen=0.5)
    share = np.mean([not (p == 128).all() for p in mixed.batch(200)])
    assert 0.4 < share < 0.6
    a, b = (ScreenPatches(96, random.Random(7)).patch() for _ in range(2))
    assert a.shape == (96, 96, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    screens = validation_screens(64, count=6)
    steps = [np.abs(np.diff(s.astype(int), axis=1)).max() for s in screens]
    assert min(steps) >= 60  # every validation screen has a hard edge
    assert np.array_equal(screens, validation_screens(64, count=6))
    with pytest.raises(SystemExit):
        loop.parse_args(["--smooth", "0.6", "--screen", "0.6"])


def test_gpu_path_runs_for_minutes_without_validation_and_packs_photos(photos, tmp_path) -> None:
    """What training/gpu_train.sh runs, on the CPU: ``--minutes`` stops the
    run with a checkpoint, ``--val-every 0`` skips validation, and the pack
    keeps each photo's relative path (so the validation split is the same)."""
    from pillow_nnc.train import pack
    from pillow_nnc.train.data import list_images

    packed = tmp_path / "pack"
    pack.pack_photos(photos, packed, max_short=100, quality=90)
    shrunk = list_images(packed)
    assert [p.relative_to(packed).with_suffix("") for p in shrunk] == [
        p.relative_to(photos).with_suffix("") for p in list_images(photos)]
    assert all(min(Image.open(p).size) == 100 for p in shrunk)
    assert [is_validation(p, packed) for p in shrunk] == [is_validation(p, photos) for p in list_images(photos)]

    out = tmp_path / "run"
    loop.main(["--device", "cpu", "--data", str(photos), "--out", str(out), "--batch", "2", "--patch", "32",
               "--threads", "1", "--val-every", "0", "--minutes", "10", "--steps", "2", "--screen", "0.5",
               "--mse-weight", "10", "--lambda-top", "1200", "--workers", "1"])
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["step"] == 2 and state["args"]["lambda_top"] == "1200.0"
    loop.main(["--data", str(photos), "--out", str(out), "--val-every", "0", "--minutes", "0", "--steps", "9",
               "--lambda-top", "600"])
    resumed = torch.load(out / "checkpoint.pt", weights_only=False)
    assert resumed["step"] == 2  # no time: no step, still saved
    # The objective stays the run's; the content mix carries over when not given again.
    assert resumed["args"]["lambda_top"] == "1200.0" and resumed["args"]["mse_weight"] == "10.0"
    assert resumed["args"]["screen"] == "0.5"
    assert not any("val" in line for line in (out / "log.jsonl").read_text().splitlines())


def test_lambda_top_sets_the_top_level_and_keeps_the_bottom() -> None:
    from pillow_nnc.models.transform import LAMBDAS, LEVELS
    from pillow_nnc.models.objective import lambda_of

    q = torch.tensor([0.0, LEVELS - 1.0])
    assert torch.allclose(lambda_of(q), torch.tensor([LAMBDAS[0], LAMBDAS[-1]]), rtol=1e-5)
    assert torch.allclose(lambda_of(q, 1200.0), torch.tensor([LAMBDAS[0], 1200.0]), rtol=1e-5)


def test_snapshot_carries_a_run_to_the_next_session(photos, tmp_path) -> None:
    """``export --snapshot``: the network and its step, which ``--init-from``
    continues from (with a fresh optimizer) when the checkpoint is gone."""
    out = tmp_path / "run"
    common = ["--data", str(photos), "--batch", "1", "--patch", "32", "--threads", "1", "--val-every", "0"]
    loop.main([*common, "--out", str(out), "--steps", "2"])
    snap = tmp_path / "snap.safetensors"
    export.snapshot(out / "checkpoint.pt", snap)
    loop.main([*common, "--out", str(tmp_path / "next"), "--init-from", str(snap), "--steps", "3"])
    state = torch.load(tmp_path / "next" / "checkpoint.pt", weights_only=False)
    assert state["step"] == 3 and state["opt_born"] == 2
    before = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    assert set(state["model"]) == set(before)
