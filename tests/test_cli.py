"""The ``nnc`` command line: encode, decode, info, demo; exit codes, --force,
atomic writes. Mostly in-process through ``pillow_nnc.cli.main``; one real
subprocess checks the installed console script."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pillow_nnc
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


# -- metadata ------------------------------------------------------------------------


def exif_with(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "pillow-nnc test"  # Make
    return exif


@pytest.fixture
def jpeg_with_metadata(tmp_path, crop) -> Path:
    """A JPEG with EXIF (Orientation 6: rotate 90 degrees to display), an ICC profile and XMP."""
    path = tmp_path / "photo.jpg"
    crop.save(path, quality=95, exif=exif_with(6), icc_profile=b"\0" * 200, xmp=b"<x:xmpmeta>hi</x:xmpmeta>")
    return path


def test_encode_applies_the_orientation_and_keeps_the_rest_of_the_exif(capsys, tmp_path, jpeg_with_metadata, crop):
    """The command rotates the pixels and removes the tag so no viewer
    rotates twice (the Python API keeps the tag and the pixels instead)."""
    out = tmp_path / "photo.nnc"
    code, _, err = run(capsys, "encode", jpeg_with_metadata, out)
    assert code == 0, err
    with Image.open(out) as im:
        assert im.size == (crop.height, crop.width)
        exif = im.getexif()
        assert exif[0x010F] == "pillow-nnc test" and 0x0112 not in exif


@pytest.mark.parametrize(
    ("flags", "kept"),
    [((), {"exif", "icc_profile", "xmp"}), (("--strip",), set()), (("--no-exif",), {"icc_profile", "xmp"}),
     (("--no-icc",), {"exif", "xmp"}), (("--no-xmp",), {"exif", "icc_profile"}), (("--no-exif", "--no-icc"), {"xmp"})],
)
def test_encode_metadata_flags(capsys, tmp_path, jpeg_with_metadata, flags, kept):
    out = tmp_path / "photo.nnc"
    code, _, err = run(capsys, "encode", jpeg_with_metadata, out, *flags)
    assert code == 0, err
    with Image.open(out) as im:
        assert {"exif", "icc_profile", "xmp"} & set(im.info) == kept


def test_max_bytes_error_names_the_command_options(capsys, tmp_path, crop, encode):
    src = tmp_path / "icc.png"
    crop.save(src, icc_profile=b"\0" * 3000)
    budget = len(encode(crop, quality=1)) + 50
    code, _, err = run(capsys, "encode", src, tmp_path / "x.nnc", "--max-bytes", budget)
    assert code == 1
    assert f"--max-bytes {budget} is too small" in err and "--strip" in err and "--no-icc" in err
    assert "icc_profile=b''" not in err and "max_bytes=" not in err
    code, _, err = run(capsys, "encode", src, tmp_path / "x.nnc", "--max-bytes", budget, "--no-icc")
    assert code == 0, err


def test_decode_copies_the_metadata_into_the_output(capsys, tmp_path, crop, encode):
    nnc = tmp_path / "m.nnc"
    nnc.write_bytes(encode(crop, exif=exif_with(6), icc_profile=b"\0" * 200))
    out = tmp_path / "m.png"
    code, _, err = run(capsys, "decode", nnc, out)
    assert code == 0, err
    with Image.open(out) as im:
        assert im.getexif()[0x0112] == 6 and im.info["icc_profile"] == b"\0" * 200


# -- 16-bit and float inputs -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["I;16 png", "F tiff"])
def test_convert_to_8bit(capsys, tmp_path, kind):
    y, x = np.mgrid[0:48, 0:64]
    ramp = (x * 4 + y * 2).astype(np.float64)  # 0..346 in 8-bit units
    expected = np.clip(ramp, 0, 255)
    if kind == "I;16 png":
        src, im = tmp_path / "deep.png", Image.fromarray((expected * 257).astype(np.uint16))
    else:
        src, im = tmp_path / "float.tif", Image.fromarray(ramp.astype(np.float32))  # F above 255 is clipped
    im.save(src)
    out = tmp_path / "deep.nnc"
    code, _, err = run(capsys, "encode", src, out)
    assert code == 1 and "--convert-to-8bit" in err and not out.exists()
    code, _, err = run(capsys, "encode", src, out, "--convert-to-8bit")
    assert code == 0, err
    with Image.open(out) as decoded:
        assert decoded.mode == "L"
        assert np.abs(np.asarray(decoded, np.float64) - expected).mean() < 8  # lossy codec, not a scale error


def test_convert_to_8bit_help_states_the_loss(capsys):
    with pytest.raises(SystemExit):
        cli.main(["encode", "--help"])
    assert "low 8 bits" in " ".join(capsys.readouterr().out.split())


# -- stdin, stdout, options -------------------------------------------------------------


class FakeStdio(io.TextIOWrapper):
    """stdin/stdout with a binary ``buffer``, like the real ones."""

    def __init__(self, data: bytes = b"", tty: bool = False) -> None:
        super().__init__(io.BytesIO(data))
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def run_stdio(monkeypatch, argv, stdin: bytes = b"", tty: bool = False) -> tuple[int, bytes]:
    out = FakeStdio(tty=tty)
    monkeypatch.setattr(cli.sys, "stdin", FakeStdio(stdin))
    monkeypatch.setattr(cli.sys, "stdout", out)
    code = cli.main([str(a) for a in argv])
    out.flush()
    return code, out.buffer.getvalue()


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"nnc {pillow_nnc.__version__}"


def test_dash_is_stdin_and_stdout(monkeypatch, png, crop, encode, decode):
    code, data = run_stdio(monkeypatch, ["encode", "-", "-", "-q", "40"], stdin=png.read_bytes())
    assert code == 0 and data == encode(crop, quality=40)
    code, out = run_stdio(monkeypatch, ["decode", "-", "-"], stdin=data)
    assert code == 0 and out[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(out))), np.asarray(decode(data)))
    code, out = run_stdio(monkeypatch, ["decode", "-", "-", "--format", "webp"], stdin=data)
    assert code == 0 and out[:4] == b"RIFF"


def test_image_data_is_not_written_to_a_terminal(monkeypatch, capsys, png):
    code, data = run_stdio(monkeypatch, ["encode", png, "-"], tty=True)
    assert code == 1 and data == b""
    assert "terminal" in capsys.readouterr().err


def test_bad_integer_says_which_option_and_what_it_expects(capsys, tmp_path, png):
    err = usage_error(capsys, "encode", png, tmp_path / "x.nnc", "-q", "abc")
    assert "--quality" in err and "integer in 1..100" in err and "'abc'" in err
    err = usage_error(capsys, "encode", png, tmp_path / "x.nnc", "--max-bytes", "lots")
    assert "--max-bytes" in err and "integer" in err


def test_decode_refuses_an_unknown_extension_or_takes_format(capsys, tmp_path, nnc_file):
    out = tmp_path / "out.xyz"
    code, _, err = run(capsys, "decode", nnc_file, out)
    assert code == 1 and "--format" in err and not out.exists()
    code, _, err = run(capsys, "decode", nnc_file, out, "--format", "jpg")
    assert code == 0, err
    assert Image.open(out).format == "JPEG"
    assert "--format" in usage_error(capsys, "decode", nnc_file, tmp_path / "o.png", "--format", "nosuch")


# -- outputs that are not regular files ---------------------------------------------------


def test_force_writes_through_a_symlink_and_keeps_it(capsys, tmp_path, png, crop, encode):
    target = tmp_path / "target.nnc"
    target.write_bytes(b"old")
    link = tmp_path / "link.nnc"
    link.symlink_to(target)
    code, _, err = run(capsys, "encode", png, link)
    assert code == 1 and "--force" in err and target.read_bytes() == b"old"
    code, _, err = run(capsys, "encode", png, link, "--force")
    assert code == 0, err
    assert link.is_symlink() and target.read_bytes() == encode(crop)
    dangling = tmp_path / "dangling.nnc"
    dangling.symlink_to(tmp_path / "new.nnc")
    assert run(capsys, "encode", png, dangling)[0] == 0
    assert dangling.is_symlink() and (tmp_path / "new.nnc").read_bytes() == encode(crop)
    assert leftovers(tmp_path) == []


def test_fifo_and_character_device_are_written_into(capsys, tmp_path, png, crop, encode):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    code, _, err = run(capsys, "encode", png, fifo, "--force")
    reader.join(timeout=60)
    assert code == 0, err
    assert stat.S_ISFIFO(fifo.lstat().st_mode), "--force replaced the FIFO with a file"
    assert received == [encode(crop)]
    code, _, err = run(capsys, "encode", png, os.devnull)  # not replaced, so no --force needed
    assert code == 0, err
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_other_non_files_are_refused(capsys, tmp_path, png):
    folder = tmp_path / "a-folder.nnc"
    folder.mkdir()
    sock_path = tmp_path / "sock.nnc"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        for path in (folder, sock_path):
            code, _, err = run(capsys, "encode", png, path, "--force")
            assert code == 1 and "not a regular file" in err, path
        assert folder.is_dir() and stat.S_ISSOCK(sock_path.lstat().st_mode)


# -- folders ----------------------------------------------------------------------------


def test_folder_reports_collisions_and_skipped_files(capsys, tmp_path, crop):
    src = tmp_path / "src"
    src.mkdir()
    crop.save(src / "a.png")
    crop.save(src / "a.jpg")
    crop.save(src / "b.jfif", format="JPEG")
    (src / "notes.txt").write_text("x")
    (src / "sub").mkdir()
    crop.save(src / "sub" / "c.png")
    enc = tmp_path / "enc"
    code, _, err = run(capsys, "encode", src, enc)
    assert code == 1, "an input was not converted (a.jpg and a.png both make a.nnc)"
    assert sorted(p.name for p in enc.iterdir()) == ["a.nnc", "b.nnc"]
    reported = {line.split(": ")[1] for line in err.splitlines() if line.startswith("nnc: ")}
    assert reported == {str(src / "a.png"), str(src / "notes.txt"), str(src / "sub")}, err
    assert "a.jpg" in err and "-r" in err


def test_folder_recursion(capsys, tmp_path, crop):
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    crop.save(src / "a.png")
    crop.save(src / "sub" / "deeper" / "c.png")
    enc = tmp_path / "enc"
    code, _, err = run(capsys, "encode", src, enc, "-r")
    assert code == 0, err
    assert (enc / "a.nnc").is_file() and (enc / "sub" / "deeper" / "c.nnc").is_file()
    dec = tmp_path / "dec"
    code, _, err = run(capsys, "decode", enc, dec, "-r", "--format", "webp")
    assert code == 0, err
    assert Image.open(dec / "sub" / "deeper" / "c.webp").format == "WEBP"


def test_empty_folder_is_an_error(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    for command in ("encode", "decode"):
        code, _, err = run(capsys, command, empty, tmp_path / "out")
        assert code == 1 and "nothing to do" in err, command


# -- info: folders, errors as JSON, a reader that stops early -------------------------------


def test_info_on_a_folder_describes_each_nnc_file(capsys, tmp_path, crop_nnc, sample_nnc):
    (tmp_path / "a.nnc").write_bytes(crop_nnc)
    (tmp_path / "b.nnc").write_bytes(sample_nnc)
    (tmp_path / "notes.txt").write_text("x")
    code, out, err = run(capsys, "info", tmp_path, "--json")
    assert code == 0, err
    described = [(info["file"], info["width"]) for info in json.loads(out)]
    assert described == [(str(tmp_path / "a.nnc"), 64), (str(tmp_path / "b.nnc"), 451)]
    code, out, _ = run(capsys, "info", tmp_path)
    assert code == 0 and "64x48" in out and "451x300" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run(capsys, "info", empty)
    assert code == 1 and "no .nnc files" in err


def test_info_json_reports_errors_as_json(capsys, tmp_path, crop_nnc, small_rgba_nnc, png):
    from test_hostile import rebuild

    bad_crc = bytearray(crop_nnc)
    bad_crc[-5] ^= 0xFF
    files = {"crc.nnc": bytes(bad_crc), "alpha.nnc": rebuild(small_rgba_nnc, chunks=[(0x01, b"MM\x00*")]),
             "png.nnc": png.read_bytes()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        code, out, err = run(capsys, "info", tmp_path / name, "--json")
        info = json.loads(out)
        assert code == 1 and info["file"] == str(tmp_path / name) and info["error"], name
        assert err.startswith("nnc:")
    (tmp_path / "good.nnc").write_bytes(crop_nnc)
    code, out, _ = run(capsys, "info", tmp_path, "--json")
    assert code == 1 and sorted("error" in i for i in json.loads(out)) == [False, True, True, True]


def test_a_reader_that_stops_early_is_not_an_error(tmp_path, sample_nnc):
    path = tmp_path / "s.nnc"
    path.write_bytes(sample_nnc)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([*nnc_command(), "info", "--json", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # gone before nnc writes, like `head` once it has its bytes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 0, err
    assert "Broken pipe" not in err and "BrokenPipeError" not in err, err


def test_effort_option_refines_and_is_checked(capsys, tmp_path, png):
    """``--effort N`` reaches save(effort=N): another file that decodes;
    outside 1..9 is a usage error naming the option."""
    plain, refined = tmp_path / "e1.nnc", tmp_path / "e2.nnc"
    assert run(capsys, "encode", png, plain)[0] == 0
    code, _, err = run(capsys, "encode", png, refined, "--effort", "2")
    assert code == 0, err
    assert refined.read_bytes() != plain.read_bytes()
    assert Image.open(refined).size == Image.open(plain).size
    assert "--effort" in usage_error(capsys, "encode", png, tmp_path / "x.nnc", "--effort", "10")
