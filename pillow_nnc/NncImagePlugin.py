#
# Pillow plugin for .nnc, the learned image codec of pillow-nnc.
# The file format is specified in spec/nnc-format.md.
#
from __future__ import annotations

import struct
import warnings
from io import BytesIO
from typing import IO

import numpy as np
from PIL import Image, ImageFile

from . import codec, container

# Modes Pillow can hold that .nnc stores after a conversion (lossless except
# for the colour-space changes of CMYK, YCbCr, LAB and HSV).
_SAVE_AS = {
    "1": "L", "L": "L", "LA": "LA", "La": "LA", "RGB": "RGB", "RGBA": "RGBA",
    "RGBa": "RGBA", "RGBX": "RGB", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB",
}

# Conversions that change colour space, after which the source's ICC profile is wrong.
_NEW_COLOUR_SPACE = {"CMYK", "YCbCr", "LAB", "HSV"}


def _accept(prefix: bytes) -> bool:
    return container.accept(prefix)


class NncImageFile(ImageFile.ImageFile):
    format = "NNC"
    format_description = "Learned neural image codec (pillow-nnc)"
    n_frames = 1
    is_animated = False

    def _open(self) -> None:
        # Reads only the header; pixels are decoded by load(), after
        # Pillow's decompression-bomb check has seen the declared size.
        self._header = container.read_header(self.fp)
        header = self._header
        self._size = (header.width, header.height)
        self._mode = header.mode
        for key in ("icc_profile", "xmp"):
            if getattr(header, key) is not None:
                self.info[key] = getattr(header, key)
        if header.exif is not None:
            # Pillow's JPEG plugin gives EXIF with one Exif\0\0 prefix; a
            # writer that stored the prefix (spec 6.1 says not to) must not
            # make it two, which getexif() cannot read.
            self.info["exif"] = b"Exif\0\0" + header.exif.removeprefix(b"Exif\0\0")
        self.tile = [ImageFile._Tile("raw", (0, 0, *self.size), 0, header.mode)]
        self._decoded = False

    def getexif(self) -> Image.Exif:
        """Pillow's getexif(), except that EXIF it cannot parse gives an empty
        Exif and a warning instead of SyntaxError (not TIFF) or struct.error
        (cut short): the file and its pixels are fine, and spec 6.1 passes a
        malformed chunk on verbatim, so ``info["exif"]`` still holds it."""
        try:
            return super().getexif()
        except (SyntaxError, struct.error) as exc:
            warnings.warn(f"nnc: ignoring the file's EXIF, which cannot be parsed: {exc}", stacklevel=2)
            return Image.Exif()

    def load(self) -> Image.core.PixelAccess | None:
        if not self._decoded and self.tile:
            if self.fp is None:
                # verify(), close() and the end of a with block release the
                # file; Pillow's own formats fail then too (PNG: AssertionError).
                msg = "Operation on closed image: reopen the file to load its pixels"
                raise ValueError(msg)
            self.fp.seek(0)
            data = self.fp.read()
            pixels = codec.decode(self._header, data, allow_truncated=ImageFile.LOAD_TRUNCATED_IMAGES)
            if self._exclusive_fp:
                self.fp.close()
            self.fp = BytesIO(np.ascontiguousarray(pixels).tobytes())
            self._decoded = True
        return super().load()

    def verify(self) -> None:
        # Checks every CRC without running the network.
        if self.fp is None:
            msg = "verify must be called directly after open"  # Pillow's PNG message
            raise RuntimeError(msg)
        self.fp.seek(0)
        container.read_segments(self.fp.read(), self._header)
        super().verify()

    def load_seek(self, pos: int) -> None:
        # Defining load_seek turns off ImageFile.load()'s memory-mapping path,
        # which would otherwise map the compressed bytes as raw pixels; our
        # decoder reads the whole file itself.
        pass

    def seek(self, frame: int) -> None:
        self._seek_check(frame)

    def tell(self) -> int:
        return 0


def _carried_exif(im: Image.Image) -> bytes | None:
    """The source's EXIF (``im.info["exif"]``), kept by default as
    pillow-avif-plugin, pillow-heif and pillow-jxl-plugin do (Pillow's own
    JPEG, PNG, WebP and AVIF writers need ``exif=``); ``exif=b""`` drops it.

    The orientation tag is kept and the pixels are not rotated, as with
    those plugins. Unlike pillow-heif and pillow-jxl-plugin, there is no
    fallback to ``im.getexif()``: it makes EXIF up from XMP's
    tiff:Orientation or TIFF tags (the bundled sample PNG has none, yet
    reports Orientation 1); pass ``exif=im.getexif()`` to save edits.
    EXIF that is not TIFF-structured is left out with a warning instead of
    failing a save that did not ask for it."""
    try:
        return codec.tiff_exif(im.info.get("exif"))
    except ValueError:
        warnings.warn("nnc: not carrying over the source's EXIF: it is not TIFF-structured EXIF", stacklevel=4)
        return None


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    params = dict(im.encoderinfo)
    if im.mode in ("P", "PA") or (im.mode in ("1", "L", "RGB") and "transparency" in im.info):
        im = im.convert(("LA" if im.mode in ("1", "L") else "RGBA") if im.has_transparency_data else "RGB")
    target = _SAVE_AS.get(im.mode)
    if target is None:
        msg = f"cannot write mode {im.mode} as NNC (8-bit L, LA, RGB and RGBA only; convert first)"
        raise OSError(msg)
    # ICC is rendering-critical, so it is kept by default (as PNG and AVIF
    # do) unless the pixels change colour space here. XMP is written only
    # when passed, as Pillow's own writers do (the nnc command passes it).
    if im.mode not in _NEW_COLOUR_SPACE:
        params.setdefault("icc_profile", im.info.get("icc_profile"))
    if "exif" not in params:
        params["exif"] = _carried_exif(im)
    opts = codec.options_from(params)
    if im.mode != target:
        im = im.convert(target)
    fp.write(codec.encode(np.asarray(im), target, opts))


def _save_all(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    images = [im, *im.encoderinfo.get("append_images", [])]
    frames = sum(getattr(frame, "n_frames", 1) for frame in images)
    if frames > 1:
        msg = f"NNC holds a single image; got {frames} frames"
        raise ValueError(msg)
    _save(im, fp, filename)


Image.register_open(NncImageFile.format, NncImageFile, _accept)
Image.register_save(NncImageFile.format, _save)
Image.register_save_all(NncImageFile.format, _save_all)
Image.register_extension(NncImageFile.format, ".nnc")
Image.register_mime(NncImageFile.format, "image/x-nnc")
