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

import hashlib
import json
import os
import threading
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np
from safetensors import safe_open

from .errors import MissingModelError

CUSTOM_BASE = 1 << 20


class Engine(Protocol):
    family: str

    def level_of(self, quality: int) -> int: ...

    def analyse(self, rgb: np.ndarray) -> object: ...

    def encode(self, features: object, level_byte: int) -> tuple[bytes, list[bytes]]: ...

    def decode(self, params: bytes, segments: list[bytes], width: int, height: int) -> np.ndarray: ...


def _weights_dir() -> Path:
    return Path(str(resources.files("pillow_nnc.weights")))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def released() -> dict[int, dict]:
    """The registry of released models, by id."""
    data = json.loads((_weights_dir() / "models.json").read_text())
    return {entry["id"]: entry for entry in data["models"]}


def _defaults() -> dict[str, int]:
    return json.loads((_weights_dir() / "models.json").read_text())["default"]


def families() -> list[str]:
    """Model families with a released default model."""
    return sorted(_defaults())


def default_model(family: str) -> int:
    return _defaults()[family]


_custom: dict[int, Path] = {}
_engines: dict[int, Engine] = {}
_lock = threading.Lock()


def add_weights(path: str | os.PathLike) -> int:
    """Register a user's weights file; returns the model id files will record."""
    path = Path(path)
    model_id = CUSTOM_BASE + int(_sha256(path)[:5], 16)
    _custom[model_id] = path
    return model_id


for _p in filter(None, os.environ.get("NNC_WEIGHTS", "").split(os.pathsep)):
    add_weights(_p)


def describe(model_id: int) -> str:
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
    with _lock:
        if model_id not in _engines:
            path, sha = _locate(model_id)
            if sha is not None and _sha256(path) != sha:
                msg = f"nnc: weights file {path} does not match the registry's SHA-256"
                raise MissingModelError(msg)
            _engines[model_id] = _load(path)
        return _engines[model_id]


def _load(path: Path) -> Engine:
    from .engines.transform import TransformEngine

    families = {"transform": TransformEngine}
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    family = metadata.get("family")
    if family not in families:
        msg = f"nnc: weights {path} are of unknown family {family!r}"
        raise MissingModelError(msg)
    return families[family](tensors, metadata)
