"""Exceptions raised when reading ``.nnc`` files.

They derive from :class:`OSError` because Pillow users already catch that for
a bad image file. :class:`PIL.UnidentifiedImageError` is kept for "this is not
an ``.nnc`` file at all"; everything here means "it is one, but unusable".
"""

from __future__ import annotations


class NncError(OSError):
    """An ``.nnc`` file that cannot be decoded: corrupt, truncated or hostile."""


class TruncatedFileError(NncError):
    """The file ends inside the header or inside a segment."""


class UnsupportedFileError(NncError):
    """A newer format version, reserved flag bits, or an unknown critical chunk."""


class MissingModelError(NncError):
    """The file needs a model (weights, entropy tables) this install lacks."""
