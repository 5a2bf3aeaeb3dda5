"""Released models and user weights, looked up by the model id a file records.

Released models are listed in ``weights/models.json`` (shipped in the
package as ``pillow_nnc.weights``); each entry pins a safetensors file by
SHA-256, and ids are never reused, so every file ever written keeps
decoding. Users can add their own trained weights with :func:`add_weights`
or the ``NNC_WEIGHTS`` environment variable (paths separated by
``os.pathsep``); those get an id derived from the file's hash, in the range
``CUSTOM_BASE`` and up. Only safetensors are read: loading weights never
executes code, and nothing is ever downloaded.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import warnings
from importlib import resources
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
from safetensors import safe_open

from .engines import Payload
from .errors import MissingModelError

CUSTOM_BASE = 1 << 20


class Engine(Protocol):
    family: str

    def level_of(self, quality: int) -> int: ...

    def analyse(self, rgb: np.ndarray) -> object: ...

    def encode(
        self, features: object, level_byte: int, entropy: str = "local", tolerance: float | None = None,
        effort: int = 1, progress: Callable[[int, int], None] | None = None,
    ) -> Payload: ...

    def decode(
        self, params: bytes, segments: list[bytes], width: int, height: int,
        rate_map: bytes | None = None, flat_blocks: bytes | None = None,
    ) -> np.ndarray: ...


def _weights_dir() -> Path:
    return Path(str(resources.files("pillow_nnc.weights")))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@functools.cache
def _registry() -> dict:
    """``weights/models.json``, read once per process."""
    return json.loads((_weights_dir() / "models.json").read_text())


def released() -> dict[int, dict]:
    """The registry of released models, by id."""
    return {entry["id"]: entry for entry in _registry()["models"]}


def _defaults() -> dict[str, int]:
    return _registry()["default"]


def families() -> list[str]:
    """Model families with a released default model."""
    return sorted(_defaults())


def default_model(family: str, width: int | None = None, height: int | None = None) -> int:
    """The released model ``save()`` uses for ``family``: the registry's
    ``small`` model for images whose longer side is at most its ``max_side``
    (a model trained on thumbnails), else the family's default."""
    small = _registry().get("small", {})
    if width is not None and height is not None and family in small and max(width, height) <= small["max_side"]:
        return small[family]
    return _defaults()[family]


_custom: dict[int, Path] = {}
_engines: dict[int, Engine] = {}
_lock = threading.Lock()


def _custom_id(sha: str) -> int:
    return CUSTOM_BASE + int(sha[:5], 16)


def add_weights(path: str | os.PathLike) -> int:
    """Register a user's weights file; returns the model id files will record.

    ``save(weights=path)`` encodes with it; decoding finds it by that id once
    registered here or listed in ``NNC_WEIGHTS``.
    """
    path = Path(path)
    try:
        model_id = _custom_id(_sha256(path))
    except OSError as exc:
        msg = f"nnc: cannot read weights {path}: {exc.strerror or exc}"
        raise MissingModelError(msg) from exc
    with _lock:
        other = _custom.get(model_id)
        if other is not None and other.resolve() != path.resolve():
            msg = f"nnc: weights {path} and {other} map to the same model id {model_id}"
            raise ValueError(msg)
        _custom[model_id] = path
    return model_id


def _env_weights() -> None:
    """Register ``NNC_WEIGHTS`` on first use (not at import: a bad path must
    not break ``import pillow_nnc``)."""
    for path in filter(None, os.environ.get("NNC_WEIGHTS", "").split(os.pathsep)):
        try:
            add_weights(path)
        except (OSError, ValueError) as exc:
            warnings.warn(f"NNC_WEIGHTS: {exc}", stacklevel=3)


def describe(model_id: int) -> str:
    """Human-readable name of a model id, for ``nnc info``."""
    entry = released().get(model_id)
    if entry:
        return f"{entry['name']} (id {model_id}, {entry['family']})"
    if model_id in _custom:
        return f"user weights {_custom[model_id]} (id {model_id})"
    return f"unknown model id {model_id}"


def _locate(model_id: int) -> tuple[Path, str | None]:
    entry = released().get(model_id)
    if entry is not None:
        return _weights_dir() / entry["file"], entry["sha256"]
    if model_id not in _custom:
        _env_weights()
    if model_id in _custom:
        return _custom[model_id], None
    kind = "user-trained" if model_id >= CUSTOM_BASE else "released"
    msg = (
        f"nnc: this file needs model id {model_id} ({kind}), which this install of "
        "pillow-nnc does not have; upgrade pillow-nnc or point NNC_WEIGHTS at its weights"
    )
    raise MissingModelError(msg)


def engine(model_id: int) -> Engine:
    """The loaded model for ``model_id`` (cached; safe to call from threads)."""
    path, sha = _locate(model_id)
    with _lock:
        if model_id not in _engines:
            try:
                actual = _sha256(path)
            except OSError as exc:
                msg = f"nnc: weights for model id {model_id} are missing ({path})"
                raise MissingModelError(msg) from exc
            if actual != sha if sha is not None else _custom_id(actual) != model_id:
                msg = f"nnc: weights file {path} does not match model id {model_id} (SHA-256 differs)"
                raise MissingModelError(msg)
            _engines[model_id] = _load(path)
        return _engines[model_id]


def _load(path: Path) -> Engine:
    from .engines.recurrent import RecurrentEngine
    from .engines.transform import TransformEngine

    engines = {"transform": TransformEngine, "recurrent": RecurrentEngine}
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        return engines[metadata.get("family")](tensors, metadata)
    except Exception as exc:  # any malformed file: the model is effectively missing
        msg = f"nnc: cannot load weights {path}: {type(exc).__name__}: {exc}"
        raise MissingModelError(msg) from exc
