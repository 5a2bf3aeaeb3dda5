"""The ``nnc`` command line: encode, decode, info, demo; exit codes, --force,
atomic writes. Mostly in-process through ``pillow_nnc.cli.main``; one real
subprocess checks the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pillow_nnc import cli

MAGIC = b"\x89NNC"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        cli.main([str(a) for a in argv])
    assert info.value.code == 2
    return capsys.readouterr().err


def leftovers(folder: Path) -> list[str]:
    """Temporary files a failed or finished run may have left behind."""
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith("."))


@pytest.fixture
def png(tmp_path, crop) -> Path:
    path = tmp_path / "in.png"
    crop.save(path)
    return path


@pytest.fixture
def nnc_file(tmp_path, crop_nnc) -> Path:
    path = tmp_path / "in.nnc"
    path.write_bytes(crop_nnc)
    return path


# -- encode ------------------------------------------------------------------


def test_encode(capsys, tmp_path, png, crop):
    out = tmp_path / "out.nnc"
    code, _, err = run(capsys, "encode", png, out, "--quality", "60")
    assert code == 0, err
    assert out.read_bytes()[:4] == MAGIC
    with Image.open(out) as im:
        assert im.format == "NNC" and im.size == crop.size and im.mode == "RGB"
        im.load()
    assert leftovers(tmp_path) == []


def test_encode_quality_reaches_the_encoder(capsys, tmp_path, png, crop, encode):
    out = tmp_path / "q.nnc"
    assert run(capsys, "encode", png, out, "-q", "30")[0] == 0
    # same bytes as the library at that quality (PNG round trip is lossless)
    assert out.read_bytes() == encode(crop, quality=30)


def test_encode_codec_and_entropy_reach_the_encoder(capsys, tmp_path, png, crop, encode):
    out = tmp_path / "r.nnc"
    assert run(capsys, "encode", png, out, "-q", "30", "--codec", "recurrent", "--entropy", "raw")[0] == 0
    assert out.read_bytes() == encode(crop, quality=30, codec="recurrent", entropy="raw")


def test_encode_max_bytes(capsys, tmp_path, png, crop, encode):
    budget = len(encode(crop, quality=100)) + 100
    out = tmp_path / "mb.nnc"
    code, _, err = run(capsys, "encode", png, out, "--max-bytes", budget)
    assert code == 0, err
    assert 0 < out.stat().st_size <= budget
    with Image.open(out) as im:
        im.load()
        assert im.size == crop.size


def test_encode_max_bytes_too_small(capsys, tmp_path, png):
    out = tmp_path / "tiny.nnc"
    code, _, err = run(capsys, "encode", png, out, "--max-bytes", "10")
    assert code == 1
    assert err.startswith("nnc:")
    assert "max_bytes" in err or "max-bytes" in err
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_encode_refuses_to_overwrite_without_force(capsys, tmp_path, png, crop, encode):
    out = tmp_path / "exists.nnc"
    out.write_bytes(b"precious")
    code, _, err = run(capsys, "encode", png, out)
    assert code == 1
    assert err.startswith("nnc:") and "--force" in err
    assert out.read_bytes() == b"precious"
    assert leftovers(tmp_path) == []
    code, _, err = run(capsys, "encode", png, out, "--force", "-q", "40")
    assert code == 0, err
    assert out.read_bytes() == encode(crop, quality=40)
    assert leftovers(tmp_path) == []


def test_bad_input_exits_1(capsys, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a PNG at all")
    out = tmp_path / "bad.nnc"
    code, _, err = run(capsys, "encode", bad, out)
    assert code == 1
    assert err.startswith("nnc:") and "bad.png" in err
    assert not out.exists()
    code, _, err = run(capsys, "encode", tmp_path / "missing.png", tmp_path / "m.nnc")
    assert code == 1 and err.startswith("nnc:")
    assert leftovers(tmp_path) == []


def test_unsupported_mode_input_exits_1(capsys, tmp_path):
    src = tmp_path / "deep.png"
    Image.fromarray(np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20).save(src)
    with Image.open(src) as im:
        assert im.mode.startswith("I")
    code, _, err = run(capsys, "encode", src, tmp_path / "deep.nnc")
    assert code == 1
    assert err.startswith("nnc:") and "mode" in err
    assert not (tmp_path / "deep.nnc").exists()


def test_failed_write_leaves_no_temp_file(capsys, tmp_path, png, monkeypatch):
    out = tmp_path / "boom.nnc"

    def boom(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(cli.os, "replace", boom)
    code, _, err = run(capsys, "encode", png, out)
    monkeypatch.undo()
    assert code == 1 and "disk full" in err
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_output_file_permissions_follow_umask(capsys, tmp_path, png):
    reference = tmp_path / "reference"
    reference.write_bytes(b"x")  # created like any normal file, honours the umask
    out = tmp_path / "perm.nnc"
    assert run(capsys, "encode", png, out)[0] == 0
    assert oct(out.stat().st_mode & 0o777) == oct(reference.stat().st_mode & 0o777), (
        "nnc output is not readable like a normally created file (mkstemp's 0600 leaked)"
    )


def test_error_messages_are_not_double_prefixed(capsys, tmp_path, png):
    code, _, err = run(capsys, "encode", png, tmp_path / "x.nnc", "--max-bytes", "10")
    assert code == 1
    assert "nnc: nnc:" not in err and ": nnc:" not in err, err


# -- usage errors ------------------------------------------------------------------


def test_usage_errors_exit_2(capsys, tmp_path, png):
    usage_error(capsys)
    usage_error(capsys, "encode")
    usage_error(capsys, "frobnicate")
    usage_error(capsys, "encode", png, tmp_path / "x.nnc", "--quality", "high")
    usage_error(capsys, "encode", png, tmp_path / "x.nnc", "-q", "5", "--max-bytes", "1000")
    usage_error(capsys, "info")
    assert not (tmp_path / "x.nnc").exists()


@pytest.mark.parametrize("args", [("--quality", "0"), ("--quality", "500"), ("--max-bytes", "0")])
def test_out_of_range_options_are_usage_errors(capsys, tmp_path, png, args):
    err = usage_error(capsys, "encode", png, tmp_path / "x.nnc", *args)
    assert args[0].lstrip("-").split("-")[0] in err  # names the option
    assert not (tmp_path / "x.nnc").exists()


# -- decode --------------------------------------------------------------------------


def test_decode(capsys, tmp_path, nnc_file, crop_nnc, decode):
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "decode", nnc_file, out)
    assert code == 0, err
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (64, 48)
        np.testing.assert_array_equal(np.asarray(im), np.asarray(decode(crop_nnc)))
    assert leftovers(tmp_path) == []


def test_decode_refuses_to_overwrite(capsys, tmp_path, nnc_file):
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    code, _, err = run(capsys, "decode", nnc_file, out)
    assert code == 1 and err.startswith("nnc:")
    assert out.read_bytes() == b"old"
    assert run(capsys, "decode", nnc_file, out, "--force")[0] == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_decode_bad_inputs_exit_1(capsys, tmp_path, crop_nnc, png):
    corrupt = tmp_path / "corrupt.nnc"
    data = bytearray(crop_nnc)
    data[-5] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    for src in (corrupt, png, tmp_path / "missing.nnc"):
        out = tmp_path / f"{src.stem}-out.png"
        code, _, err = run(capsys, "decode", src, out)
        assert code == 1, src
        assert err.startswith("nnc:")
        assert not out.exists()
    assert leftovers(tmp_path) == []


def test_folders(capsys, tmp_path, crop, thumb32, odd33x17):
    src = tmp_path / "src"
    src.mkdir()
    crop.save(src / "a.png")
    thumb32.save(src / "b.jpg", quality=95)
    odd33x17.save(src / "c.bmp")
    (src / "notes.txt").write_text("ignored")
    enc = tmp_path / "enc"
    code, _, err = run(capsys, "encode", src, enc, "-q", "50")
    assert code == 0, err
    assert sorted(p.name for p in enc.iterdir()) == ["a.nnc", "b.nnc", "c.nnc"]
    dec = tmp_path / "dec"
    code, _, err = run(capsys, "decode", enc, dec)
    assert code == 0, err
    assert sorted(p.name for p in dec.iterdir()) == ["a.png", "b.png", "c.png"]
    for name, image in (("a", crop), ("b", thumb32), ("c", odd33x17)):
        with Image.open(dec / f"{name}.png") as im:
            assert im.size == image.size
    assert leftovers(tmp_path) == []


def test_folder_with_one_bad_input(capsys, tmp_path, crop):
    src = tmp_path / "src"
    src.mkdir()
    crop.save(src / "good.png")
    (src / "bad.png").write_bytes(b"garbage")
    enc = tmp_path / "enc"
    code, _, err = run(capsys, "encode", src, enc)
    assert code == 1
    assert "bad.png" in err
    assert any(line.startswith("nnc:") and "bad.png" in line for line in err.splitlines()), repr(err)
    assert (enc / "good.nnc").read_bytes()[:4] == MAGIC
    assert not (enc / "bad.nnc").exists()
    assert leftovers(tmp_path) == []


# -- info ------------------------------------------------------------------------------


def test_info_json(capsys, tmp_path, sample_nnc):
    path = tmp_path / "s.nnc"
    path.write_bytes(sample_nnc)
    code, out, err = run(capsys, "info", path, "--json")
    assert code == 0, err
    info = json.loads(out)
    for key in ("format_version", "width", "height", "mode", "model", "segments", "chunks", "bpp"):
        assert key in info, key
    assert info["format_version"] == 1
    assert (info["width"], info["height"], info["mode"]) == (451, 300, "RGB")
    assert isinstance(info["model"], str) and info["model"]
    assert "icc_profile" in info["chunks"]
    assert info["segments"]
    offsets = [s["offset"] for s in info["segments"]]
    assert offsets == sorted(offsets)
    for s in info["segments"]:
        assert s["bytes"] >= 1 and 0 < s["offset"] < len(sample_nnc)
    last = info["segments"][-1]
    assert last["offset"] + last["bytes"] + 2 == len(sample_nnc)
    assert info["bpp"] == pytest.approx(len(sample_nnc) * 8 / (451 * 300), rel=1e-3)


def test_info_text(capsys, nnc_file, crop_nnc):
    code, out, err = run(capsys, "info", nnc_file)
    assert code == 0, err
    assert "64x48" in out and "RGB" in out
    assert str(len(crop_nnc)) in out
    assert "segment 0" in out


@pytest.mark.parametrize(("codec", "words"), [("transform", "rate level"), ("recurrent", "iterations, priming 3")])
def test_info_explains_the_codec_parameters(capsys, tmp_path, crop, encode, codec, words):
    path = tmp_path / "p.nnc"
    path.write_bytes(encode(crop, codec=codec))
    code, out, err = run(capsys, "info", path)
    assert code == 0, err
    assert words in out


def test_info_does_not_decode(capsys, nnc_file, monkeypatch):
    from pillow_nnc import codec, zoo

    def fail(*args, **kwargs):
        raise AssertionError("info decoded pixels")

    monkeypatch.setattr(codec, "decode", fail)
    monkeypatch.setattr(zoo, "engine", fail)
    assert run(capsys, "info", nnc_file, "--json")[0] == 0


def test_info_bad_inputs(capsys, tmp_path, png, crop_nnc):
    truncated = tmp_path / "t.nnc"
    truncated.write_bytes(crop_nnc[:6])
    for path in (png, truncated, tmp_path / "missing.nnc"):
        code, out, err = run(capsys, "info", path)
        assert code == 1, path
        assert err.startswith("nnc:")


def test_info_matches_file_info(tmp_path, sample_nnc):
    path = tmp_path / "s.nnc"
    path.write_bytes(sample_nnc)
    info = cli.file_info(path)
    assert info["truncated"] is False
    assert info["file_bytes"] == len(sample_nnc)


# -- demo ----------------------------------------------------------------------------


def test_demo(capsys, tmp_path):
    code, out, err = run(capsys, "demo", "--out", tmp_path / "demo")
    assert code == 0, err
    assert ".nnc" in out and "JPEG" in out
    assert "chelsea" in out
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["demo-jpeg.png", "demo-nnc.png", "demo.nnc"]


# -- the installed command -----------------------------------------------------------


def nnc_command() -> list[str]:
    script = Path(sys.executable).parent / "nnc"
    if script.exists():
        return [str(script)]
    found = shutil.which("nnc")
    return [found] if found else [sys.executable, "-m", "pillow_nnc.cli"]


def test_console_script(tmp_path, png, crop):
    out = tmp_path / "sub.nnc"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}  # see conftest
    proc = subprocess.run(
        [*nnc_command(), "encode", str(png), str(out), "--quality", "50"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:4] == MAGIC
    proc = subprocess.run(
        [*nnc_command(), "encode", str(png), str(out), "--quality", "high"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 2
    assert "usage" in proc.stderr
    with Image.open(out) as im:
        assert im.size == crop.size


def test_info_reports_a_newer_format_version_without_guessing(capsys, tmp_path, crop_nnc):
    newer = tmp_path / "v2.nnc"
    newer.write_bytes(crop_nnc[:4] + bytes([2]) + crop_nnc[5:])
    code, out, err = run(capsys, "info", newer)
    assert code == 0 and "NNC format version 2" in out and "newer than this decoder (1)" in out
    assert "model" not in out  # nothing past the version is interpreted
    code, out, _ = run(capsys, "info", newer, "--json")
    info = json.loads(out)
    assert code == 0 and info["supported"] is False and info["format_version"] == 2 and "width" not in info


def test_info_summarises_a_rate_map_and_flat_blocks(capsys, tmp_path, sample_rgb):
    rgb = np.ascontiguousarray(sample_rgb[40:168, 60:316]).copy()
    rgb[:, :128] = (90, 120, 160)
    path = tmp_path / "sabr.nnc"
    Image.fromarray(rgb).save(path, format="NNC", codec="recurrent", quality=90)
    code, out, _ = run(capsys, "info", path, "--json")
    info = json.loads(out)
    counts = info["rate_map"]
    assert code == 0 and sum(counts.values()) == 8 * 16 and len(counts) > 1
    assert 7 * 8 <= info["flat_blocks"] <= 8 * 8 and "flat_blocks" in info["chunks"]  # the flat half
    code, out, _ = run(capsys, "info", path)
    assert "rate map: blocks per iteration count" in out and f"flat blocks: {info['flat_blocks']} painted" in out
