"""Range coding of integer symbols with integer tables, via ``constriction``.

``constriction`` (Rust, prebuilt wheels, numpy-only dependency) gives a fast
range coder whose model quantisation is deterministic; the tables we hand it
are integers over 2**16, so the floats it sees are exact dyadic numbers and
identical on every machine. Whole arrays are coded per call: no per-symbol
Python loops. One :class:`Writer` produces one segment's bitstream.
"""

from __future__ import annotations

import constriction
import numpy as np

from ..errors import NncError
from .tables import PRECISION


def _model(freqs: np.ndarray) -> constriction.stream.model.Categorical:
    probs = freqs.astype(np.float64) / float(1 << PRECISION)
    return constriction.stream.model.Categorical(probs, perfect=False)


class Writer:
    """Accumulates symbols into one range-coded stream."""

    def __init__(self) -> None:
        self._enc = constriction.stream.queue.RangeEncoder()

    def encode(self, symbols: np.ndarray, freqs: np.ndarray) -> None:
        """Code ``symbols`` (ints in ``0..len(freqs)-1``) with one table."""
        if symbols.size:
            self._enc.encode(np.ascontiguousarray(symbols, dtype=np.int32).ravel(), _model(freqs))

    def encode_ladder(self, values: np.ndarray, rungs: np.ndarray, ladder: "Ladder") -> None:
        """Code signed ``values`` (already clipped to their rung's radius),
        grouped by ladder rung in ascending order, each group in raster order."""
        for rung in np.unique(rungs):
            sel = values[rungs == rung]
            self.encode(sel + ladder.radius[rung], ladder.freqs(rung))

    def finish(self) -> bytes:
        """The stream's bytes; trailing zero bytes are implied, so they are cut
        (one byte is kept: a segment is never empty)."""
        return self._enc.get_compressed().astype("<u4").tobytes().rstrip(b"\0") or b"\0"


class Reader:
    """Decodes symbols from one stream in the order a :class:`Writer` coded them."""

    def __init__(self, data: bytes) -> None:
        padded = data + b"\0" * (-len(data) % 4)
        self._dec = constriction.stream.queue.RangeDecoder(np.frombuffer(padded, "<u4").astype(np.uint32))

    def decode(self, count: int, freqs: np.ndarray) -> np.ndarray:
        if count == 0:
            return np.zeros(0, np.int64)
        try:
            out = self._dec.decode(_model(freqs), count)
        except Exception as exc:  # constriction reports bad data as various errors
            msg = f"nnc: corrupt entropy-coded data ({exc})"
            raise NncError(msg) from exc
        return np.asarray(out, dtype=np.int64)

    def decode_ladder(self, rungs: np.ndarray, ladder: "Ladder") -> np.ndarray:
        values = np.zeros(rungs.shape, np.int64)
        for rung in np.unique(rungs):
            where = rungs == rung
            values[where] = self.decode(int(where.sum()), ladder.freqs(rung)) - ladder.radius[rung]
        return values


class Ladder:
    """The per-rung Gaussian tables of one model (see :mod:`.tables`)."""

    def __init__(self, freqs: np.ndarray, radius: np.ndarray) -> None:
        self.radius = radius.astype(np.int64)
        sizes = 2 * self.radius + 1
        self.starts = np.concatenate([[0], np.cumsum(sizes)])
        self._freqs = freqs
        if self.starts[-1] != len(freqs):
            msg = "ladder tables do not match their radii"
            raise ValueError(msg)

    def freqs(self, rung: int) -> np.ndarray:
        return self._freqs[self.starts[rung] : self.starts[rung + 1]]

    def clip(self, values: np.ndarray, rungs: np.ndarray) -> np.ndarray:
        r = self.radius[rungs]
        return np.clip(values, -r, r)
