"""pillow-nnc: a learned image codec as a Pillow and imageio plugin.

``import pillow_nnc`` registers the ``.nnc`` format with Pillow and imageio;
then ``Image.open("x.nnc")``, ``img.save("x.nnc", quality=80)`` and
``imageio.v3.imwrite("x.nnc", arr)`` work in existing scripts.
"""

from __future__ import annotations

from . import NncImagePlugin  # noqa: F401  (registers the format with Pillow)
from .codec import set_threads
from .errors import MissingModelError, NncError, TruncatedFileError, UnsupportedFileError
from .imageio_ext import register_imageio

__version__ = "0.1.0"
__all__ = [
    "MissingModelError", "NncError", "TruncatedFileError", "UnsupportedFileError", "register", "set_threads",
]


def register() -> None:
    """Register ``.nnc`` with Pillow and imageio (idempotent; importing already does it).

    For linters that strip side-effect-only imports: ``pillow_nnc.register()``.
    """
    register_imageio()


register()
