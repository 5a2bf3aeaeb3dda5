"""Make imageio route ``.nnc`` to its Pillow plugin.

imageio already falls back to Pillow for unknown extensions, but that
fallback drops ``extension=`` (so writing to bytes fails) and the v2
``format="nnc"`` lookup needs a known extension; one ``FileExtension``
entry fixes both.
"""

from __future__ import annotations


def register_imageio() -> None:
    """Idempotently add ``.nnc`` to imageio's extension table (if imageio is installed)."""
    try:
        from imageio.config import FileExtension, known_extensions
    except ImportError:
        return
    entries = known_extensions.setdefault(".nnc", [])
    if not any(entry.name == "NNC" for entry in entries):
        entries.insert(
            0,
            FileExtension(
                name="NNC",
                extension=".nnc",
                priority=["pillow"],
                description="Learned neural image codec (pillow-nnc)",
            ),
        )
