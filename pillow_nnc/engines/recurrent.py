"""Pixels <-> segments with the progressive recurrent codec.

Payload (spec section 7.2):

* codec parameters, 4 bytes: ``iterations`` coded, ``prime`` (priming steps
  the decoder repeats on the first iteration), ``iterations_per_segment``,
  and ``coding``: 0 for plain bits, 1 for range coding with the model's
  global context tables, 2 for local entropy models (a table set chosen
  per tile; a fifth byte gives the tile side in blocks). With context
  tables in the model the encoder takes whichever of 1 and 2 is smaller
  (:mod:`pillow_nnc.entropy.bits`);
* segments hold the codes of consecutive iterations: with coding 0 the codes
  of one iteration are ``bits x h x w`` binary values in (channel, row,
  column) order, +1 as bit 1, packed MSB first, padded with zero bits to a
  whole byte; otherwise each segment is one range-coded stream, the first
  starting with the per-tile table choices (coding 2).

A file cut after any segment decodes to the image of the iterations it holds.
The bitstream is parsed without any floating point; only the pixels come
from the network.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import torch

from ..entropy import bits as bitmodel
from ..entropy.coder import Reader, Writer
from ..entropy.tables import PRECISION
from ..errors import NncError, UnsupportedFileError
from ..models.recurrent import RecurrentCodec, gru_steps
from ..models.tiling import tiled
from ..models.transform import pad_to

# Below this many pixels the whole payload is one segment: each segment
# costs 3 bytes of framing, a lot beside a thumbnail's 16-byte iterations.
SINGLE_SEGMENT_PIXELS = 256 * 256
TILE = 1024  # pixels per tile side for the convolution stacks (bounds memory)
MAX_PRIME = 15


CODINGS = {0: "plain bits", 1: "global context tables", 2: "local entropy models"}


def describe_params(params: bytes) -> str:
    """Codec parameters in words, for ``nnc info`` (needs no weights)."""
    if len(params) not in (4, 5):
        return f"malformed ({params.hex()})"
    text = f"{params[0]} iterations, priming {params[1]}, {params[2]} per segment, {CODINGS.get(params[3], f'coding {params[3]}')}"
    return text + (f" (tiles of {params[4]} blocks)" if len(params) == 5 else "")


class RecurrentState:
    """The encoder's view of one image: iterations run on demand and kept,
    so that trying many rates (``max_bytes``) runs each iteration once."""

    def __init__(self, engine: RecurrentEngine, rgb: np.ndarray) -> None:
        self.engine = engine
        self.x = pad_to(torch.tensor(rgb).permute(2, 0, 1)[None].float() / 255, 16)
        self.h_enc, self.h_dec, self.x_hat = engine.model.init_state(self.x)
        self.codes: list[torch.Tensor] = []

    @torch.no_grad()
    def codes_up_to(self, iterations: int) -> list[torch.Tensor]:
        """Codes of the first ``iterations`` iterations.

        The encoder runs under bf16 autocast, as in training: 2.8x faster
        here (AMX), and only the encoder's choices depend on it; the
        decoder parses the codes exactly and renders in fp32.
        """
        with torch.autocast("cpu", dtype=torch.bfloat16):
            self._run(iterations)
        return self.codes[:iterations]

    def _run(self, iterations: int) -> None:
        engine, model = self.engine, self.engine.model
        while len(self.codes) < iterations:
            steps = gru_steps(len(self.codes), engine.prime)
            features = tiled(model.analysis, self.x - self.x_hat, tile=TILE, margin=64, scale=Fraction(1, 16))
            self.h_enc = model.step_encoder(features, self.h_enc, steps)
            codes = torch.where(model.binarizer(self.h_enc) >= 0, 1.0, -1.0)
            self.codes.append(codes)
            self.h_dec = model.step_decoder(codes, self.h_dec, steps)
            if len(self.codes) < engine.max_iterations:  # the last image is never needed here
                self.x_hat = self.x_hat + engine.render(self.h_dec)


class RecurrentEngine:
    """A loaded recurrent model."""

    family = "recurrent"

    def __init__(self, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
        config = json.loads(metadata["config"])
        self.prime = config.pop("prime")
        self.max_iterations = json.loads(metadata["max_iterations"])
        self.model = RecurrentCodec(**config).eval()
        self.model.load_state_dict({k[6:]: v.float() for k, v in tensors.items() if k.startswith("float.")})
        # P(+1) per context (integers): the global table set (1, contexts)
        # and the dictionary of local table sets (K, contexts); None: plain bits.
        self.global_freqs, self.local_freqs = (
            None if tensors.get(key) is None else tensors[key].numpy().astype(np.int64) for key in ("bits.freqs", "bits.local")
        )
        for freqs in (self.global_freqs, self.local_freqs):
            if freqs is not None and (freqs.ndim != 2 or freqs.shape[1] != bitmodel.context_count(self.model.bits)):
                msg = "context tables do not match the model's code channels"
                raise ValueError(msg)
        # quality 1..100 -> level byte, calibrated at export against JPEG's MS-SSIM.
        self.quality_levels = json.loads(metadata["quality_levels"])

    def level_of(self, quality: int) -> int:
        return self.quality_levels[quality - 1]

    def iterations_of(self, level_byte: int) -> int:
        """Iterations coded at a level byte (0..255), monotonic."""
        return 1 + (level_byte * (self.max_iterations - 1) + 127) // 255

    def level_of_iterations(self, n: int) -> int:
        """The smallest level byte that codes ``n`` iterations."""
        return min(b for b in range(256) if self.iterations_of(b) == n)

    def render(self, h_dec: torch.Tensor) -> torch.Tensor:
        """:meth:`RecurrentCodec.render` in tiles (bounded memory, no seams)."""
        return tiled(self.model.render, h_dec, tile=TILE // 16, margin=4, scale=Fraction(16))

    # -- encoder ------------------------------------------------------------
    def analyse(self, rgb: np.ndarray) -> RecurrentState:
        return RecurrentState(self, rgb)

    def encode(self, state: RecurrentState, level_byte: int, entropy: str = "local") -> tuple[bytes, list[bytes]]:
        """Codec parameters and segments for the iterations of one level.
        ``entropy``: "raw" stores plain bits; "global" range-codes with the
        global context tables; "local" (the default) takes whichever of the
        global tables and the local entropy models codes smaller."""
        n = self.iterations_of(level_byte)
        codes = state.codes_up_to(n)
        h, w = codes[0].shape[-2:]
        per_segment = n if h * w * 256 < SINGLE_SEGMENT_PIXELS else 1
        if entropy == "raw" or self.global_freqs is None:
            packed = [np.packbits(c[0].numpy().ravel() > 0).tobytes() for c in codes]
            segments = [b"".join(packed[i : i + per_segment]) for i in range(0, n, per_segment)]
            return bytes([n, self.prime, per_segment, 0]), segments
        flat = [(c[0] > 0).reshape(c.shape[1], -1).numpy().astype(np.int64) for c in codes]
        local = self.local_freqs if entropy == "local" else None
        tile, tile_choice = bitmodel.choose_tables(flat, h, w, self.global_freqs, local)
        if tile is None:
            params, freqs, choice = bytes([n, self.prime, per_segment, 1]), self.global_freqs, np.zeros(h * w, np.int64)
        else:
            params, freqs = bytes([n, self.prime, per_segment, 2, tile]), self.local_freqs
            choice = bitmodel.block_choice(tile_choice, h, w, tile)
        segments = []
        writer = Writer()
        if tile is not None:
            writer.encode(tile_choice, self._choice_table())
        for t in range(n):
            bitmodel.encode_iteration(writer, flat[t], flat[t - 1] if t else None, t, freqs, choice)
            if (t + 1) % per_segment == 0 or t == n - 1:
                segments.append(writer.finish())
                writer = Writer()
        return params, segments

    def _choice_table(self) -> np.ndarray:
        """Uniform integer table over the K local table sets (spec 7.2)."""
        k = len(self.local_freqs)
        freqs = np.full(k, ((1 << PRECISION) - k) // k, np.int64)
        freqs[0] += (1 << PRECISION) - freqs.sum()
        return freqs

    # -- decoder ------------------------------------------------------------
    @torch.no_grad()
    def decode(self, params: bytes, segments: list[bytes], width: int, height: int) -> np.ndarray:
        """(H, W, 3) uint8 image from the codec parameters and 1+ segments."""
        if len(params) < 4:
            msg = "nnc: bad recurrent codec parameters"
            raise NncError(msg)
        n, prime, per_segment, coding = params[:4]
        if coding > 2:
            msg = f"nnc: code coding {coding} is not supported by this decoder; upgrade pillow-nnc"
            raise UnsupportedFileError(msg)
        if len(params) != (5 if coding == 2 else 4) or (coding == 2 and params[4] not in bitmodel.TILE_SIZES):
            msg = f"nnc: bad recurrent codec parameters {list(params)}"
            raise NncError(msg)
        if (coding == 1 and self.global_freqs is None) or (coding == 2 and self.local_freqs is None):
            msg = "nnc: the file's codes are context-coded but its model has no such context tables"
            raise NncError(msg)
        if not (1 <= n <= self.max_iterations and prime <= MAX_PRIME and 1 <= per_segment <= n):
            msg = f"nnc: bad recurrent codec parameters {list(params)}"
            raise NncError(msg)
        h, w = -(-height // 16), -(-width // 16)
        if len(segments) > -(-n // per_segment):
            msg = "nnc: more segments than iterations"
            raise NncError(msg)
        codes = self._read_codes(params, segments, h, w)
        model = self.model
        h_dec = torch.zeros(1, model.hidden, h, w)
        x_hat = torch.full((1, 3, h * 16, w * 16), 0.5)
        for t, c in enumerate(codes):
            h_dec = model.step_decoder(c, h_dec, gru_steps(t, prime))
            x_hat = x_hat + self.render(h_dec)
        x_hat = (x_hat[0, :, :height, :width].clamp(0, 1) * 255).round().to(torch.uint8)
        return x_hat.permute(1, 2, 0).numpy()

    def _read_codes(self, params: bytes, segments: list[bytes], h: int, w: int) -> list[torch.Tensor]:
        """The +1/-1 codes ``(1, bits, h, w)`` of every iteration the segments hold."""
        n, _, per_segment, coding = params[:4]
        bits = self.model.bits
        codes: list[np.ndarray] = []
        if coding == 0:
            size = -(-bits * h * w // 8)
            for i, segment in enumerate(segments):
                count = min(per_segment, n - i * per_segment)
                if len(segment) != count * size:
                    msg = f"nnc: segment {i} holds {len(segment)} bytes, expected {count * size}"
                    raise NncError(msg)
                for k in range(count):
                    chunk = np.frombuffer(segment, np.uint8, size, k * size)
                    codes.append(np.unpackbits(chunk)[: bits * h * w].reshape(bits, h * w))
        else:
            freqs, choice = self.global_freqs, np.zeros(h * w, np.int64)
            for i, segment in enumerate(segments):
                reader = Reader(segment)
                if i == 0 and coding == 2:
                    tile = params[4]
                    tiles = bitmodel.tile_index(h, w, tile)[1]
                    freqs = self.local_freqs
                    choice = bitmodel.block_choice(reader.decode(tiles, self._choice_table()), h, w, tile)
                for _ in range(min(per_segment, n - i * per_segment)):
                    prev = codes[-1] if codes else None
                    codes.append(bitmodel.decode_iteration(reader, (bits, h * w), prev, len(codes), freqs, choice))
        return [torch.from_numpy(c.reshape(1, bits, h, w).astype(np.float32) * 2 - 1) for c in codes]
