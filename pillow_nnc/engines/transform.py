"""Pixels <-> segments with the content-weighted transform codec.

Payload (spec section 7.1):

* codec parameters, 2 bytes: ``level_byte`` (quality level = byte / 255 * 7)
  and ``groups_per_segment``;
* segment 0 starts with the hyper-latents ``z`` (each channel with its fixed
  ladder rung) and the importance map (groups kept per latent position, one
  table per integer quality level), then channel groups follow in order,
  ``groups_per_segment`` per segment. Within a group, the latents of the
  positions that keep that group are coded grouped by table (ladder rung,
  from the integer hyper-synthesis), each in (channel, row, column) order.

A file cut after any segment decodes with the missing groups set to zero.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from ..entropy import intnet
from ..entropy.coder import Ladder, Reader, Writer
from ..entropy.tables import uniform_table
from ..errors import NncError, UnsupportedFileError
from ..models.objective import DEFAULT_OBJECTIVE
from ..models.tiling import tiled
from ..models.transform import LEVELS, TransformCodec, pad_to
from . import SINGLE_SEGMENT_PIXELS, TILE, Payload, refine


@dataclass
class Analysis:
    """What :meth:`TransformEngine.analyse` keeps of an image for its encodes."""

    x: torch.Tensor  # (1, 3, H, W) in [0, 1]: the real pixels, what the distortion is judged on
    features: torch.Tensor  # g_a(x), before the rate level's gains


def describe_params(params: bytes) -> str:
    """Codec parameters in words, for ``nnc info`` (needs no weights)."""
    if len(params) not in (2, 3):
        return f"malformed ({params.hex()})"
    text = f"rate level {params[0]} (q = {params[0] / 255 * (LEVELS - 1):.2f}), {params[1]} channel groups per segment"
    return text + (", raw (uniform tables)" if params[2:] == b"\x01" else "")


class TransformEngine:
    """A loaded transform model with its integer tables."""

    family = "transform"

    def __init__(self, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
        config = json.loads(metadata["config"])
        self.model = TransformCodec(**config).eval()
        floats = {k[6:]: v.float() for k, v in tensors.items() if k.startswith("float.")}
        self.model.load_state_dict(floats)
        self.model.requires_grad_(False)  # inference only (see RecurrentEngine)
        self.int_params = {k[4:]: v for k, v in tensors.items() if k.startswith("int.")}
        radius = tensors["ladder.radius"].numpy()
        self.ladder = Ladder(tensors["ladder.freqs"].numpy(), radius)
        # entropy="raw": every symbol with a uniform table over its range (spec 7.1)
        self.raw_ladder = Ladder(np.concatenate([uniform_table(2 * int(r) + 1) for r in radius]), radius)
        self.z_rungs = tensors["z.rungs"].numpy().astype(np.int64)
        self.mask_freqs = tensors["mask.freqs"].numpy()
        # quality 1..100 -> rate byte, calibrated at export so that quality Q
        # gives about the MS-SSIM of JPEG quality Q (monotonic).
        self.quality_levels = json.loads(metadata["quality_levels"])
        # What the model was trained to minimise; the encoder's effort minimises it per image.
        self.objective = {**DEFAULT_OBJECTIVE, **json.loads(metadata.get("objective", "{}"))}
        self.groups = self.model.groups
        self.group_size = self.model.m // self.groups

    # -- helpers shared by encoder and decoder ------------------------------
    def _rungs(self, z: np.ndarray, h: int, w: int) -> np.ndarray:
        idx = intnet.scale_indices(self.int_params, torch.from_numpy(z)[None])
        return idx[0, :, :h, :w].numpy()

    def _cheapest_z(self, ladder: Ladder) -> float:
        """Bits of the cheapest possible hyper-latent column (one symbol per
        channel, each its table's most likely value)."""
        return float(sum(-np.log2(ladder.freqs(int(r)).max() / (1 << 16)) for r in self.z_rungs))

    def _z_rungs(self, z_shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(self.z_rungs[:, None, None], z_shape)

    def _group_select(self, levels: np.ndarray, g: int) -> np.ndarray:
        """Boolean (M, h, w) selection of the latents of group ``g`` that are coded."""
        sel = np.zeros((self.model.m, *levels.shape), bool)
        sel[g * self.group_size : (g + 1) * self.group_size] = levels > g
        return sel

    def _mask_table(self, level_byte: int, raw: bool = False) -> np.ndarray:
        """Importance table of the nearest integer quality level, in integers:
        round(level_byte * 7 / 255) (never a tie); uniform when ``raw``."""
        return uniform_table(self.groups) if raw else self.mask_freqs[(14 * level_byte + 255) // 510]

    def level_of(self, quality: int) -> int:
        return self.quality_levels[quality - 1]

    # -- encoder ------------------------------------------------------------
    @torch.no_grad()
    def analyse(self, rgb: np.ndarray) -> Analysis:
        """Rate-independent analysis of an (H, W, 3) uint8 image, reused by
        every :meth:`encode` of it (``max_bytes`` searches try many rates)."""
        x = pad_to(torch.tensor(rgb).permute(2, 0, 1)[None].float() / 255, 16)
        x_crop = x[..., : rgb.shape[0], : rgb.shape[1]]  # the distortion is judged on the real pixels
        return Analysis(x_crop, tiled(self.model.g_a, x, tile=TILE, margin=64, scale=Fraction(1, 16)))

    @torch.no_grad()
    def encode(
        self, analysis: Analysis, level_byte: int, entropy: str = "local", tolerance: float | None = None,
        effort: int = 1, progress: Callable[[int, int], None] | None = None,
    ) -> Payload:
        """Codec parameters and segments at one rate level. The hyperprior is
        already an image-dependent entropy model, so ``entropy`` "local" and
        "global" code the same way; "raw" codes the same symbols with
        uniform tables (no probability model: the cost of the latents
        without entropy coding, for comparison; the image is the same).
        ``tolerance`` (SABR) is ignored: the importance map is this codec's spatial
        adaptivity, and it is always on. ``effort`` above 1 refines the
        latents for this image (:mod:`.refine`; ``progress(done, total)`` is
        called after each of its steps)."""
        raw = entropy == "raw"
        ladder = self.raw_ladder if raw else self.ladder
        level = level_byte / 255 * (LEVELS - 1)
        q = torch.tensor([level], dtype=torch.float32)
        y = analysis.features * self.model.gain(q)
        kept = self.model.importance_of(y, q)
        h, w = y.shape[-2:]
        levels = kept[0, 0].ceil().clamp(1, self.groups).to(torch.int64).numpy()
        mask = self.model.group_mask(kept.ceil().clamp(1, self.groups))
        y, z = refine.refine(self.model, analysis.x, y, mask, q, refine.step_count(effort), self.objective, progress)
        z = self.ladder.clip(z.to(torch.int64).numpy()[0], self._z_rungs(z.shape[1:]))
        rungs = self._rungs(z, h, w)
        y_int = self.ladder.clip(y[0].to(torch.int64).numpy(), rungs)

        per_segment = self.groups if h * w * 256 < SINGLE_SEGMENT_PIXELS else 1
        segments = []
        writer = Writer()
        writer.encode_ladder(z.ravel(), self._z_rungs(z.shape).ravel(), ladder)
        writer.encode(levels.ravel() - 1, self._mask_table(level_byte, raw))
        for g in range(self.groups):
            sel = self._group_select(levels, g)
            writer.encode_ladder(y_int[sel], rungs[sel], ladder)
            if (g + 1) % per_segment == 0 or g == self.groups - 1:
                segments.append(writer.finish())
                writer = Writer()
        return Payload(bytes([level_byte, per_segment, *([1] if raw else [])]), segments)

    # -- decoder ------------------------------------------------------------
    @torch.no_grad()
    def decode(
        self, params: bytes, segments: list[bytes], width: int, height: int,
        rate_map: bytes | None = None, flat_blocks: bytes | None = None,
    ) -> np.ndarray:
        """(H, W, 3) uint8 image from the codec parameters and 1+ segments."""
        if rate_map is not None or flat_blocks is not None:
            msg = "nnc: a transform-codec file cannot carry a rate map or flat blocks"
            raise NncError(msg)
        if len(params) not in (2, 3) or not 1 <= params[1] <= self.groups:
            msg = "nnc: bad transform codec parameters"
            raise NncError(msg)
        level_byte, per_segment = params[:2]
        if params[2:] not in (b"", b"\x01"):
            msg = f"nnc: transform coding {params[2]} is not supported by this decoder; upgrade pillow-nnc"
            raise UnsupportedFileError(msg)
        raw = params[2:] == b"\x01"
        ladder = self.raw_ladder if raw else self.ladder
        if len(segments) > -(-self.groups // per_segment):
            msg = "nnc: more segments than channel groups"
            raise NncError(msg)
        level = level_byte / 255 * (LEVELS - 1)
        h, w = -(-height // 16), -(-width // 16)
        z_shape = (self.model.nz, -(-h // 4), -(-w // 4))
        # No stream holds the hyper-latents in fewer bits than their cheapest
        # symbols (less the coder's 64-bit state): a tiny file declaring a
        # huge image fails here, before the integer and float networks run.
        needed = z_shape[1] * z_shape[2] * self._cheapest_z(ladder) - 64
        if len(segments[0]) * 8 < needed:
            msg = f"nnc: segment 0 holds {len(segments[0])} bytes, too few for the hyper-latents of a {width}x{height} image"
            raise NncError(msg)
        reader = Reader(segments[0])
        z = reader.decode_ladder(self._z_rungs(z_shape), ladder)
        levels = (reader.decode(h * w, self._mask_table(level_byte, raw)) + 1).reshape(h, w)
        rungs = self._rungs(z, h, w)
        y = np.zeros((self.model.m, h, w), np.float32)
        for g in range(min(self.groups, len(segments) * per_segment)):
            if g and g % per_segment == 0:
                reader = Reader(segments[g // per_segment])
            sel = self._group_select(levels, g)
            y[sel] = reader.decode_ladder(rungs[sel], ladder)
        q = torch.tensor([level], dtype=torch.float32)
        y_scaled = torch.from_numpy(y)[None] * self.model.inv_gain(q)
        x_hat = tiled(self.model.g_s, y_scaled, tile=TILE // 16, margin=4, scale=Fraction(16))
        x_hat = (x_hat[0, :, :height, :width].clamp(0, 1) * 255).round().to(torch.uint8)
        return x_hat.permute(1, 2, 0).numpy()

