"""Benchmark of the NNC Pillow plugin against JPEG, WebP, AVIF and JPEG XL.

Run ``python -m pillow_nnc.bench --help``.  In short::

    python -m pillow_nnc.bench [--quick] [--codecs jpeg,webp,avif,jxl,nnc]
        [--sets kodak,thumb32,thumb64,thumb256,screen] [--images N] [--repeats N]
        [--kodak DIR] [--out DIR] [--no-visual]
    python -m pillow_nnc.bench visual --image kodim23 --bytes 12000 --out crops.png
    python -m pillow_nnc.bench visual --image screen/editor --match nnc=90 --out text.png
    python -m pillow_nnc.bench sheets --out DIR
    python -m pillow_nnc.bench report --out DIR

Modules (one job each):

``codecs``    codec settings, encode/decode through Pillow, header-less
              payload measurement (JPEG scan data, WebP VP8/VP8L chunk,
              AVIF mdat), the peak-memory subprocess probe.
``sets``      Kodak at full size, centre-crop + Lanczos thumbnails, screens.
``screen``    the generated ``screen`` set (terminal, editor, dialog, ...).
``bdrate``    numpy-only Bjontegaard delta rate with PCHIP integration.
``run``       the codec x set x image x quality loop, timing, errors,
              ``results.json``.
``analysis``  averaged curves, BD-rate tables, speed/memory ratios.
``report``    ``results.md``, ``rd_<set>.png`` plots, console summary.
``visual``    side-by-side crops at equal file size; the standard sheets.
``cli``       argparse front end.

Every point records codec, set, image, quality, bytes (real file size),
payload bytes (header-less, or null), bpp, payload bpp, PSNR, MS-SSIM,
SSIMULACRA 2, Butteraugli max-norm and 3-norm (null without
``butteraugli_main``), encode and decode seconds.  A codec that raises is recorded in
``results.json["errors"]`` and skipped; the run goes on.
"""

from .bdrate import BDRateError, bd_rate

__all__ = ["BDRateError", "bd_rate", "main"]


def main(argv: list[str] | None = None) -> int:
    from .cli import main as _main

    return _main(argv)
