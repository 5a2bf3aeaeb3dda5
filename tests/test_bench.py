"""The benchmark harness (python -m pillow_nnc.bench) on two tiny generated images."""

import binascii
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from pillow_nnc.bench import cli
from pillow_nnc.bench import codecs as bench_codecs
from pillow_nnc.bench import run as bench_run
from pillow_nnc.bench.analysis import METRICS
from pillow_nnc.bench.codecs import Codec, jpeg_payload, nnc_payload, webp_payload
from pillow_nnc.metrics import butteraugli_binary

POINT_KEYS = {"codec", "set", "image", "quality", "width", "height", "bytes", "payload_bytes",
              "bpp", "payload_bpp", "psnr", "msssim", "ssimulacra2", "butteraugli", "butteraugli_3norm",
              "enc_s", "dec_s"}
# BD-rate metric keys this machine can measure (Butteraugli needs butteraugli_main)
BD_METRICS = {key for point_key, key, _ in METRICS if point_key != "butteraugli" or butteraugli_binary()}


def _smooth(w: int, h: int, phase: float) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 90 * np.sin(x / 7 + phase) * np.cos(y / 9)
    g = 255 * x / (w - 1)
    b = 128 + 100 * np.cos((x + y) / 11 - phase)
    return Image.fromarray(np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8), "RGB")


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("kodak")
    _smooth(48, 40, 0.0).save(d / "img01.png")
    _smooth(40, 48, 1.3).save(d / "img02.png")
    (d / "notes.txt").write_text("not an image")
    return d


@pytest.fixture(scope="module")
def quick_run(image_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    argv = ["--kodak", str(image_dir), "--out", str(out), "--codecs", "jpeg,webp",
            "--sets", "kodak,thumb32", "--quick"]
    assert cli.main(argv) == 0
    return out, json.loads((out / "results.json").read_text())


def test_results_json_structure(quick_run):
    out, res = quick_run
    assert res["meta"]["complete"] is True
    assert res["meta"]["quick"] is True and res["meta"]["repeats"] == 1
    assert "--codecs jpeg,webp" in res["meta"]["command"]
    assert res["run_codecs"] == ["jpeg", "webp"]
    assert set(res["sets"]) == {"kodak", "thumb32"}
    assert res["sets"]["kodak"]["images"] == ["img01", "img02"]
    assert res["errors"] == []
    # 2 codecs x 2 sets x 2 images x 3 quick qualities
    assert len(res["points"]) == 24
    assert res["meta"]["butteraugli_main"] == butteraugli_binary()
    for p in res["points"]:
        assert POINT_KEYS <= set(p)
        assert p["codec"] in ("jpeg", "webp")
        assert 0 < p["msssim"] <= 1 and p["psnr"] > 10 and p["ssimulacra2"] < 100
        assert (p["butteraugli"] is None) == (butteraugli_binary() is None)
        if p["butteraugli"] is not None:
            assert 0 < p["butteraugli_3norm"] <= p["butteraugli"]
        assert p["enc_s"] > 0 and p["dec_s"] > 0
        if p["set"] == "thumb32":
            assert (p["width"], p["height"]) == (32, 32)
    for set_name in ("kodak", "thumb32"):
        for codec in ("jpeg", "webp"):
            curve = res["curves"][set_name][codec]
            assert [c["quality"] for c in curve] == list(res["codecs"][codec]["qualities"])
    bd = [r for r in res["bdrate"] if r["kind"] == "vs_jpeg"]
    assert {(r["set"], r["rate"], r["metric"]) for r in bd} == {
        (s, rate, m) for s, rate in (("kodak", "bpp"), ("thumb32", "bpp"), ("thumb32", "payload_bpp")) for m in BD_METRICS}
    for r in bd:
        assert r["anchor"] == "jpeg" and r["test"] == "webp"
        assert (r["bd_rate"] is None) == (r["error"] is not None)
    speed = {(r["set"], r["codec"]): r for r in res["speed"]}
    assert speed[("kodak", "jpeg")]["enc_vs_jpeg"] == pytest.approx(1.0)
    assert speed[("kodak", "webp")]["enc_vs_avif"] is None  # AVIF not in this run
    mem = {(r["set"], r["codec"], r["mode"]): r for r in res["memory"]}
    assert len(mem) == 8
    for r in mem.values():
        assert r["peak_mib"] > 5 and r["delta_mib"] >= 0 and "error" not in r


def test_bpp_is_computed_from_real_file_sizes(quick_run, image_dir):
    _, res = quick_run
    src = {n: Image.open(image_dir / f"{n}.png").convert("RGB") for n in ("img01", "img02")}
    params = {"jpeg": ("JPEG", {"subsampling": 2, "optimize": True}), "webp": ("WEBP", {"method": 6})}
    for p in res["points"]:
        assert p["bpp"] == pytest.approx(8 * p["bytes"] / (p["width"] * p["height"]))
        assert p["payload_bpp"] == pytest.approx(8 * p["payload_bytes"] / (p["width"] * p["height"]))
        assert 0 < p["payload_bytes"] < p["bytes"]
        if p["set"] == "kodak":  # re-encode: the recorded size is the real file size
            fmt, kw = params[p["codec"]]
            buf = io.BytesIO()
            src[p["image"]].save(buf, format=fmt, quality=p["quality"], **kw)
            assert p["bytes"] == len(buf.getvalue())


def test_markdown_and_plots_exist(quick_run):
    out, res = quick_run
    md = (out / "results.md").read_text()
    assert res["meta"]["command"] in md and res["meta"]["date"] in md
    assert "BD-rate vs JPEG" in md and "header-less" in md
    assert "| codec | MS-SSIM | PSNR | SSIMULACRA 2 | Butteraugli |" in md
    assert ("Skipped metric" in md) == (butteraugli_binary() is None)
    assert "No sheets: no NNC codec in this run" in md  # the visual sheets need NNC's file sizes
    assert "### Speed" in md and "### Peak memory" in md
    for set_name in ("kodak", "thumb32"):
        png = out / f"rd_{set_name}.png"
        assert png.stat().st_size > 1000
        with Image.open(png) as im:
            assert im.format == "PNG"
        assert f"rd_{set_name}.png" in md
    assert cli.main(["report", "--out", str(out), "--no-plots"]) == 0
    assert (out / "results.md").read_text().startswith("# pillow_nnc benchmark")


def test_failing_codec_is_recorded_and_skipped(image_dir, tmp_path, monkeypatch):
    real = bench_codecs.get_codecs

    def with_broken(threads=1):
        reg = real(threads)
        broken = Codec("broken", "Broken", "JPEG", {}, (10, 50), (10, 50), (1, 100), "none", "raises",
                       "none", None, None)

        def boom(img, quality):
            raise RuntimeError("encoder exploded")

        broken.encode = boom
        flaky = Codec("flaky", "Flaky", "JPEG", {}, (10, 20, 60), (10, 20, 60), (1, 100), "libjpeg", "fails at q>50",
                      "none", jpeg_payload, None)
        good_encode = flaky.encode

        def sometimes(img, quality):
            if quality > 50:
                raise ValueError("quality too high")
            return good_encode(img, quality)

        flaky.encode = sometimes
        reg["broken"] = broken
        reg["flaky"] = flaky
        return reg

    monkeypatch.setattr(bench_run, "get_codecs", with_broken)
    cfg = bench_run.Config(kodak=image_dir, out=tmp_path, codecs=["broken", "jpeg", "flaky"], sets=["thumb32"],
                           quick=True, repeats=1, memory=False, plots=False, progress=False)
    res = bench_run.run(cfg)
    stages = {(e["codec"], e["stage"]) for e in res["errors"]}
    assert ("broken", "warmup") in stages
    assert ("flaky", "point") in stages
    assert all("quality too high" in e["error"] for e in res["errors"] if e["codec"] == "flaky")
    assert any("encoder exploded" in e["error"] for e in res["errors"])
    assert {p["codec"] for p in res["points"]} == {"jpeg", "flaky"}
    assert {p["quality"] for p in res["points"] if p["codec"] == "flaky"} == {10, 20}
    assert json.loads((tmp_path / "results.json").read_text())["meta"]["complete"]


def test_jpeg_payload_is_scan_data():
    buf = io.BytesIO()
    _smooth(48, 40, 0.5).save(buf, format="JPEG", quality=50, subsampling=2, optimize=True)
    data = buf.getvalue()
    sos = data.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    assert data.endswith(b"\xff\xd9")
    assert jpeg_payload(data) == len(data) - 2 - start


def test_webp_payload_is_vp8_chunk():
    buf = io.BytesIO()
    _smooth(48, 40, 0.5).save(buf, format="WEBP", quality=50, method=6)
    data = buf.getvalue()
    assert data[12:16] == b"VP8 "
    size = int.from_bytes(data[16:20], "little")
    assert webp_payload(data) == size == len(data) - 20 - (size & 1)


def test_nnc_payload_follows_the_container_spec():
    head = b"\x89NNC" + bytes([1, 2, 31, 31, 0, 2, 7, 7])  # RGB 32x32, model 0, 2 codec-param bytes
    seg1 = bytes([3]) + b"abc"
    seg1 += binascii.crc_hqx(head + seg1, 0).to_bytes(2, "big")
    seg2 = bytes([0x80, 0x01]) + bytes(128)
    seg2 += binascii.crc_hqx(head + seg1 + seg2, 0).to_bytes(2, "big")
    assert nnc_payload(head + seg1 + seg2) == 3 + 128
    ext = b"\x89NNC" + bytes([1, 2 | 4, 31, 31, 0, 0]) + bytes([0x01, 2]) + b"II" + b"\x00"
    ext += binascii.crc_hqx(ext, 0).to_bytes(2, "big")
    seg = bytes([1, 0x55])
    seg += binascii.crc_hqx(ext + seg, 0).to_bytes(2, "big")
    assert nnc_payload(ext + seg) == 1
    with pytest.raises(OSError):
        nnc_payload(head + seg1[:-1])


def test_visual_sheet(image_dir, tmp_path):
    out = tmp_path / "sheet.png"
    argv = ["visual", "--kodak", str(image_dir), "--image", "img01", "--bytes", "400",
            "--codecs", "jpeg,webp", "--crop-size", "32", "--zoom", "2", "--out", str(out)]
    assert cli.main(argv) == 0
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 3 * 64
    from pillow_nnc.bench.visual import find_quality

    img = Image.open(image_dir / "img01.png").convert("RGB")
    reg = bench_codecs.get_codecs()
    found = find_quality(reg["jpeg"], img, 400, 1, 95)
    assert len(found["data"]) <= 400 and not found["over_budget"]
    bigger = [q for q in range(found["quality"] + 1, 96) if len(reg["jpeg"].encode(img, q)) <= 400]
    assert not bigger or len(reg["jpeg"].encode(img, max(bigger))) <= len(found["data"]) + 40


def test_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    assert "--codecs" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["--codecs", "nope"])


def test_nnc_quick_if_registered(image_dir, tmp_path):
    pillow_nnc = pytest.importorskip("pillow_nnc")  # noqa: F841
    Image.init()
    if "NNC" not in Image.SAVE:
        pytest.skip('format "NNC" is not registered')
    argv = ["--kodak", str(image_dir), "--out", str(tmp_path), "--codecs", "jpeg,nnc",
            "--sets", "thumb32", "--quick", "--no-memory", "--no-plots", "--no-visual"]
    cli.main(argv)
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["meta"]["complete"]
    nnc_points = [p for p in res["points"] if p["codec"] == "nnc"]
    nnc_errors = [e for e in res["errors"] if e["codec"] == "nnc"]
    assert nnc_points or nnc_errors  # measured, or failed and recorded
    for p in nnc_points:
        assert math.isfinite(p["bpp"]) and p["bpp"] == pytest.approx(8 * p["bytes"] / 1024)


def test_context_study_sees_what_predicts_the_codes():
    """bench.contexts on synthetic codes: a code that repeats the previous
    iteration's is learned by every context with the previous iteration,
    and spatially smooth codes by the causal-neighbour context."""
    from pillow_nnc.bench import contexts

    rng = np.random.default_rng(0)
    h, w, channels = 8, 8, 4

    def image(smooth: bool) -> tuple[list[np.ndarray], int, int]:
        first = rng.integers(0, 2, (channels, h * w))
        if smooth:  # one value per channel and row half: neighbours agree
            first = np.repeat(rng.integers(0, 2, (channels, 2)), h * w // 2, axis=1)
        return [first, first.copy(), first.copy()], h, w

    for smooth, helped, against in ((False, "+previous iteration", "iteration+channel"), (True, "+causal neighbours", "shipped")):
        train = [image(smooth) for _ in range(20)]
        result = contexts.measure(train, {"test": [image(smooth) for _ in range(5)]}, channels)
        bits = {name: row["test"] for name, row in result.items()}
        assert set(bits) == {"iteration+channel", "+previous iteration", "shipped", "+causal neighbours",
                             "+previous-iteration neighbours"}
        assert bits[helped] < 0.9 * bits[against]


def test_candidate_check_measures_real_files_and_averages_complete_anchors(sample_rgb) -> None:
    """``bench.candidate``: one row per rate step from real files (rate rising
    with the level), and anchor curves only from qualities measured on every image."""
    from pillow_nnc import zoo
    from pillow_nnc.bench.candidate import anchor_curve, evaluate
    from pillow_nnc.bench.sets import make_item

    items = [make_item(f"i{k}", Image.fromarray(sample_rgb[k * 40 : k * 40 + 32, 100:132].copy())) for k in range(2)]
    weights = zoo._weights_dir() / zoo.released()[zoo.default_model("transform", 32, 32)]["file"]
    rows = evaluate(str(weights), items)
    assert len(rows) == 9 and rows[-1]["level"] == 255  # the top level, where the ceiling is
    assert all(a["bpp"] < b["bpp"] for a, b in zip(rows, rows[1:]))
    assert all(0 < r["msssim"] <= 1 and r["ssimulacra2"] <= 100 for r in rows)

    def point(image, quality, bpp):
        return {"codec": "jpeg", "set": "thumb32", "image": image, "quality": quality,
                "bpp": bpp, "payload_bpp": bpp / 2, "psnr": 30.0, "msssim": 0.9}

    recorded = [point("i0", 10, 1.0), point("i1", 10, 3.0), point("i0", 20, 5.0)]  # quality 20 lacks i1
    assert anchor_curve(recorded, "jpeg", "thumb32", {"i0", "i1"}, "payload_bpp") == [
        {"bpp": 1.0, "psnr": 30.0, "msssim": 0.9, "ssimulacra2": None, "butteraugli": None}]


def test_recurrent_studies_take_a_candidate_model(image_dir) -> None:
    """bench.sabr/bench.entropy study the default recurrent model, or with
    ``--weights`` a candidate file (registered under its own custom id)."""
    from pillow_nnc import zoo
    from pillow_nnc.bench.entropy import study_parser, study_setup

    released = zoo.released()[zoo.default_model("recurrent")]
    path = str(zoo._weights_dir() / released["file"])
    for argv, custom in (([], False), (["--weights", path], True)):
        args = study_parser("study", "sabr").parse_args(["--kodak", str(image_dir), "--threads", "1", *argv])
        model_id, engine, images = study_setup(args)
        assert (model_id >= zoo.CUSTOM_BASE) == custom
        assert engine.family == "recurrent" and len(images) == 2


def test_sabr_study_averages_images_and_reports_each() -> None:
    """bench.sabr: the set's curve is the mean of the images' rows at each
    iteration count, and the report gives every image's own BD-rate."""
    from pillow_nnc.bench import sabr

    def rows(bpp: list[float], quality: list[float]) -> list[dict]:
        return [{"bpp": b, "psnr": 20 + 10 * q, "msssim": q, "map_bytes": 0.0, "mean_iterations": float(n + 1), "flat_share": 0.0,
                 "seam_excess": 0.0, "edge_pixels": 0, "iterations": n + 1} for n, (b, q) in enumerate(zip(bpp, quality))]

    quality = [0.90, 0.95, 0.97, 0.98]
    per_image = {
        "a": {"uniform": rows([0.1, 0.2, 0.3, 0.4], quality), "sabr": rows([0.05, 0.1, 0.15, 0.2], quality)},
        "b": {"uniform": rows([0.3, 0.4, 0.5, 0.6], quality), "sabr": rows([0.3, 0.4, 0.5, 0.6], quality)},
    }
    curves = sabr.average(per_image)
    assert [p["bpp"] for p in curves["uniform"]] == pytest.approx([0.2, 0.3, 0.4, 0.5])
    assert [p["iterations"] for p in curves["sabr"]] == [1, 2, 3, 4]
    each = {name: sabr.bd(c) for name, c in per_image.items()}
    assert each["a"]["msssim"] == pytest.approx(-50.0, abs=0.5) and each["b"]["msssim"] == pytest.approx(0.0, abs=1e-6)
    results = {"model_id": 6, "tolerance": 0.0025, "threads": 1, "encode_s_per_kodak_image": {"sabr": 2.0, "uniform": 1.0},
               "sets": {"low": {"images": ["a", "b"], "curves": curves, "bd_rate_pct": sabr.bd(curves),
                                "bd_rate_pct_per_image": each}}}
    assert "Per image (MS-SSIM): a -50.0%, b +0.0%" in sabr.report(results)


def test_nnc_file_is_compared_with_the_others_payloads_on_thumbnails() -> None:
    """The thumbnail bar: NNC's real file (bpp) against each anchor's
    header-less payload (payload_bpp), beside the like-for-like BD-rates."""
    from pillow_nnc.bench.analysis import bdrates
    from pillow_nnc.bench.bdrate import bd_rate

    def curve(bpps: list[float], payload_share: float) -> list[dict]:
        """Quality steps 1..4 at the given file rates."""
        return [{"bpp": b, "payload_bpp": b * payload_share, "msssim_db": 10 + 4 * q, "psnr": 25 + 3 * q}
                for q, b in enumerate(bpps, 1)]

    jpeg, nnc = curve([0.5, 1, 2, 4], 0.5), curve([0.4, 0.8, 1.6, 3.2], 0.9)
    results = {"run_codecs": ["nnc", "jpeg"]}
    rows = bdrates(results, {"thumb32": {"nnc": nnc, "jpeg": jpeg}, "kodak": {"nnc": nnc, "jpeg": jpeg}})
    found = {(r["set"], r["kind"], r["rate"], r["metric"]): r["bd_rate"] for r in rows}
    expected = bd_rate([p["payload_bpp"] for p in jpeg], [p["msssim_db"] for p in jpeg],
                       [p["bpp"] for p in nnc], [p["msssim_db"] for p in nnc])
    assert found[("thumb32", "nnc_vs", "file_vs_payload", "msssim_db")] == pytest.approx(expected)
    assert expected == pytest.approx(100 * (0.8 / 0.5 - 1), abs=0.5)  # file 0.8x JPEG's file, 1.6x its payload
    assert found[("thumb32", "nnc_vs", "bpp", "msssim_db")] == pytest.approx(-20, abs=0.5)
    assert ("thumb32", "vs_jpeg", "file_vs_payload", "msssim_db") not in found  # JPEG's row has no such column
    assert ("kodak", "nnc_vs", "file_vs_payload", "msssim_db") not in found  # Kodak has no payload measure


def test_screen_set_is_deterministic_and_in_range() -> None:
    """The generated screen set: >= 8 RGB images of 256x256 to 768x512, the
    same pixels twice, fonts recorded."""
    from pillow_nnc.bench.screen import font_sources, screen_images
    from pillow_nnc.bench.sets import build_set, set_info

    first, second = screen_images(), screen_images()
    assert len(first) >= 8 and len({n for n, _ in first}) == len(first)
    for (name, a), (name2, b) in zip(first, second):
        assert name == name2 and a.mode == "RGB" and a.tobytes() == b.tobytes()
        assert 256 <= a.width <= 768 and 256 <= a.height <= 512, (name, a.size)
    assert [it.name for it in build_set("screen", [], screens=2)] == [n for n, _ in first[:2]]
    fonts = set_info("screen")["fonts"]
    assert fonts == font_sources() and "ui" in fonts and fonts["freetype"]
    assert set_info("kodak") == {}


def test_screen_set_runs(image_dir, tmp_path) -> None:
    """--sets screen: the screens are measured (2 in quick mode) and results.json names the fonts."""
    cfg = bench_run.Config(kodak=image_dir, out=tmp_path, codecs=["jpeg"], sets=["screen"], quick=True,
                           memory=False, plots=False, visual=False, progress=False)
    res = bench_run.run(cfg)
    assert res["errors"] == [] and res["sets"]["screen"]["images"] == ["terminal", "editor"]
    assert res["sets"]["screen"]["fonts"]["mono"] in ("DejaVuSansMono.ttf", "Pillow's bundled font (ImageFont.load_default)")
    assert {(p["width"], p["height"]) for p in res["points"]} == {(768, 512)}
    assert "visual" not in res


def test_bd_rate_on_butteraugli_distance_and_skipped_metrics() -> None:
    """Butteraugli falls as rate rises: BD-rate runs on -ln(distance); a
    curve at half the rate for the same distances is -50%. Without any
    Butteraugli values (no butteraugli_main) its rows are skipped and the
    report says why."""
    from pillow_nnc.bench.analysis import bdrates, neglog, skipped_metrics
    from pillow_nnc.bench.report import _bd_tables

    def curve(bpps: list[float], butter: bool) -> list[dict]:
        return [{"bpp": b, "payload_bpp": None, "msssim_db": 10 + q, "psnr": 25 + q, "ssimulacra2": 40 + 10 * q,
                 "butteraugli_neglog": neglog(8 / 2**q) if butter else None} for q, b in enumerate(bpps, 1)]

    for butter in (True, False):
        curves = {"kodak": {"jpeg": curve([0.4, 0.8, 1.6, 3.2], butter), "nnc": curve([0.2, 0.4, 0.8, 1.6], butter)}}
        results = {"run_codecs": ["nnc", "jpeg"], "meta": {"butteraugli_main": "/usr/bin/butteraugli_main" if butter else None},
                   "curves": curves, "codecs": {}}
        rows = {(r["kind"], r["metric"]): r["bd_rate"] for r in bdrates(results, curves)}
        assert rows[("vs_jpeg", "ssimulacra2")] == pytest.approx(-50, abs=0.01)
        assert (("vs_jpeg", "butteraugli_neglog") in rows) == butter
        if butter:
            assert rows[("vs_jpeg", "butteraugli_neglog")] == pytest.approx(-50, abs=0.01)
        else:
            assert "butteraugli_main was not found" in skipped_metrics(results, curves)["butteraugli"]
            results["bdrate"] = [dict(r, set="kodak") for r in bdrates(results, curves)]
            assert "| nnc | -50.0% | -50.0% | -50.0% | skipped |" in "\n".join(_bd_tables(results, "kodak", curves["kodak"]))


def test_visual_match_budget_and_standard_sheets(image_dir, tmp_path, monkeypatch) -> None:
    """``visual --match CODEC=Q`` takes that file's size as the budget;
    the standard sheets (anchor codec swapped for JPEG to keep this fast)
    are written with their budgets, the photo falling back to the first image."""
    from pillow_nnc.bench import visual

    out = tmp_path / "home.png"
    argv = ["visual", "--kodak", str(image_dir), "--image", "screen/home", "--match", "jpeg=50",
            "--codecs", "jpeg,webp", "--out", str(out)]
    assert cli.main(argv) == 0 and out.stat().st_size > 1000
    home = visual.load_source(image_dir, "screen/home")[1]
    jpeg = bench_codecs.get_codecs()["jpeg"]
    budget = len(jpeg.encode(home, 50))
    found = visual.find_quality(jpeg, home, budget, *jpeg.search_range)
    assert found["quality"] >= 50 and len(found["data"]) == budget

    monkeypatch.setattr(visual, "NNC_NAMES", ("jpeg",))
    done = visual.standard_sheets(image_dir, tmp_path, [jpeg])
    assert done["anchor"] == "jpeg" and [s["out"] for s in done["sheets"]] == [s[0] for s in visual.STANDARD_SHEETS]
    for s, (_, image, quality, _) in zip(done["sheets"], visual.STANDARD_SHEETS):
        src = visual.load_source(image_dir, image if image.startswith("screen/") else "img01")[1]
        assert s["budget"] == len(jpeg.encode(src, quality)) and s["codecs"][0]["bytes"] <= s["budget"]
        with Image.open(tmp_path / s["out"]) as im:
            assert im.format == "PNG"
    assert done["sheets"][2]["image"] == "img01"  # no kodim23 in the test directory
