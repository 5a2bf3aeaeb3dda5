"""Pixels <-> segments with the progressive recurrent codec.

Payload (spec section 7.2):

* codec parameters, 4 bytes: ``iterations`` coded, ``prime`` (priming steps
  the decoder repeats on the first iteration), ``iterations_per_segment``,
  and ``coding``: 0 for plain bits, 1 for range coding with the model's
  global context tables, 2 for local entropy models (a table set chosen
  per tile; a fifth byte gives the tile side in blocks), 3 for local
  entropy models among the first k sets only (a sixth byte gives k). With
  context tables in the model the encoder takes whichever codes smallest
  (:mod:`pillow_nnc.entropy.bits`);
* segments hold the codes of consecutive iterations: with coding 0 the codes
  of one iteration are ``bits x h x w`` binary values in (channel, row,
  column) order, +1 as bit 1, packed MSB first, padded with zero bits to a
  whole byte; otherwise each segment is one range-coded stream, the first
  starting with the per-tile table choices (codings 2 and 3);
* with spatially adaptive bit rates, the RATE_MAP chunk (iterations per
  block, :mod:`pillow_nnc.entropy.rate_map`) and the FLAT_BLOCKS chunk
  (blocks painted from a colour, :mod:`pillow_nnc.entropy.flat_blocks`).

A file cut after any segment decodes to the image of the iterations it holds.
The bitstream is parsed without any floating point; only the pixels come
from the network.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from fractions import Fraction

import numpy as np
import torch

from ..entropy import bits as bitmodel
from ..entropy.coder import Reader, Writer
from ..entropy.tables import uniform_table
from ..entropy.flat_blocks import decode_flat, encode_flat
from ..entropy.rate_map import decode_map, encode_map
from ..errors import NncError, UnsupportedFileError
from ..metrics import block_ssim_mse
from ..models.recurrent import RecurrentCodec
from ..models.tiling import tiled
from ..models.transform import pad_to
from . import SINGLE_SEGMENT_PIXELS, Payload

MAX_PRIME = 15
# Pixels per tile side for the convolution stacks of large images: half the
# transform engine's (engines.TILE), since SABR's encoder holds two passes'
# images beside a tile's temporaries (~0.4 GB at 1024 pixels, 0.13 at 512).
# 6000x4000 sample, default quality: encode peak 2733 MiB with 512, 2948
# with 1024 (3186 before tiles were written straight into their output).
TILE = 512
BLOCK_MSE_WEIGHT = 20.0  # as train.recurrent_task.MSE_WEIGHT
NEVER = 1 << 30  # iterations of a block that has not stopped
# Iterations a painted flat block codes: one inside a flat area; two beside
# a coded block, whose synthesis reads its latent (low-complexity images,
# MS-SSIM BD-rate of SABR against sabr=False, an early version of the rule:
# -32.0% with one there, -35.4% with two, -36.2% with the block's own chosen
# count, which costs more on photographs).
RIM_ITERATIONS = 2
# Largest block loss (1 - SSIM + 20 MSE) a painted block may have. Painting
# photo blocks that the rate trade-off alone picked lost MS-SSIM the block
# loss did not foresee (Kodak images 1 and 2: 12-18% of blocks painted,
# BD-rate +9.0% against sabr=False, instead of +0.8% unpainted); at 0.01 no
# Kodak block is painted, and the low-complexity images keep -28.8% (0.005: -25.3%).
FLAT_MAX_LOSS = 0.01


CODINGS = {0: "plain bits", 1: "global context tables", 2: "local entropy models", 3: "local entropy models"}
PARAM_BYTES = {0: 4, 1: 4, 2: 5, 3: 6}  # codec parameter bytes per coding


def describe_params(params: bytes) -> str:
    """Codec parameters in words, for ``nnc info`` (needs no weights)."""
    if len(params) < 4 or len(params) != PARAM_BYTES.get(params[3], len(params)):
        return f"malformed ({params.hex()})"
    text = f"{params[0]} iterations, priming {params[1]}, {params[2]} per segment, {CODINGS.get(params[3], f'coding {params[3]}')}"
    if params[3] in (2, 3):
        text += f" (tiles of {params[4]} blocks" + (f", first {params[5]} table sets)" if params[3] == 3 else ")")
    return text


def block_loss(x_hat: torch.Tensor, x: torch.Tensor, flat: np.ndarray | None = None, colours: np.ndarray | None = None) -> np.ndarray:
    """Per 16x16 block, ``1 - SSIM + 20 MSE``: the training distortion,
    measured block by block. SSIM alone is blind to a colour offset on a
    flat area (15 levels passed as SSIM 0.99: observed on flat blocks that
    stopped after one iteration); the MSE term catches it. ``x_hat`` is
    clamped to [0, 1]; both run in bands of rows (:func:`block_ssim_mse`).
    With ``flat`` and ``colours``, the loss of ``x_hat`` with those blocks
    painted (:func:`paint_flat`), band by band."""
    paint = None if flat is None else lambda band, row0: paint_flat(band, flat, colours, inplace=True, row0=row0)
    ssim, mse = block_ssim_mse(x_hat, x, 16, prepare=paint)
    return (1 - ssim + BLOCK_MSE_WEIGHT * mse).numpy()


def _upsample(grid: torch.Tensor) -> torch.Tensor:
    """A block grid upsampled 16 times bilinearly, with half-pixel centres."""
    return torch.nn.functional.interpolate(grid, scale_factor=16, mode="bilinear", align_corners=False)


def paint_flat(
    picture: torch.Tensor, flat: np.ndarray, colours: np.ndarray, inplace: bool = False, row0: int = 0, band: int = 256
) -> torch.Tensor:
    """``picture`` (1, 3, rows, 16w: the image's rows from ``row0`` on) with
    its flat blocks (``flat``, (h, w)) painted: each pixel of a flat block
    gets the bilinear interpolation of the colours (``colours``, (h, w, 3)
    uint8) of the flat blocks around it, normalised by their weights, so a
    flat area is smooth (a gradient between block centres), no stopped
    network output shows through, and no colour of a coded neighbour bleeds
    in. A coded block beside flat ones fades toward their colours with
    their bilinear weight (half at the shared edge, none at its centre), so
    the network's error at the edge shows as half a step, spread (generated
    low-complexity images: MS-SSIM BD-rate against sabr=False -31.8% with
    the fade, -28.8% without; step across painted/coded edges in excess of
    the original 2.58 levels with it, 5.13 without, uniform file 1.3-1.5, at
    two iterations). Works in bands of ``band``
    rows (bilinear weights reach one block row further), so a 24-megapixel
    image needs no full-size temporaries; ``inplace`` paints a float32
    ``picture`` itself."""
    out = picture.to(torch.float32, copy=not inplace)
    h, w = flat.shape
    f = torch.from_numpy(flat.astype(np.float32)).view(1, 1, h, w)
    c = torch.from_numpy(colours.astype(np.float32) / 255).permute(2, 0, 1)[None] * f
    for p0 in range(0, out.shape[2], band):
        p1 = min(out.shape[2], p0 + band)
        y0, y1 = row0 + p0, row0 + p1  # image rows of this band
        b0, b1 = y0 // 16, -(-y1 // 16)
        a, b = max(0, b0 - 1), min(h, b1 + 1)
        if not flat[a:b].any():
            continue
        rows = slice(y0 - 16 * a, y1 - 16 * a)
        up_c, up_f = _upsample(c[:, :, a:b])[:, :, rows], _upsample(f[:, :, a:b])[:, :, rows]
        inside = f[:, :, a:b].repeat_interleave(16, 2)[:, :, rows].repeat_interleave(16, 3) > 0
        region = out[:, :, p0:p1]
        region.copy_(torch.where(inside, up_c / up_f.clamp_min(1e-6), region * (1 - up_f) + up_c))
    return out


def colour_bits(means: np.ndarray) -> np.ndarray:
    """Estimated bits of each block's colour in the FLAT_BLOCKS chunk
    ((h, w) from (h, w, 3) block means): per channel, an Elias-gamma length
    of its difference from the left block's, ``1 + 2 log2(1 + |d|)``, since
    the chunk stores differences from the previous flat block (3 bits for a
    repeat, which zlib makes smaller still; about 25 for a typical photo block)."""
    m = means.astype(np.int64)
    d = np.abs(np.diff(m, axis=1, prepend=m[:, :1]))
    return (1 + 2 * np.log2(1 + d)).sum(-1)


def _erode(mask: np.ndarray) -> np.ndarray:
    """Blocks of ``mask`` whose 8 neighbours are in it too (outside the grid counts as in)."""
    padded = np.pad(mask, 1, constant_values=True)
    h, w = mask.shape
    out = mask.copy()
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            out &= padded[dy : dy + h, dx : dx + w]
    return out


def active_pixels(active: np.ndarray, h: int, w: int) -> torch.Tensor:
    """(1, 1, 16h, 16w) weights of this iteration's image update: the mask
    of the blocks that code it (``active``, ``h*w``) upsampled bilinearly
    (block centres at 1 or 0, linear in between), so the update fades out
    across the edge of a stopped block instead of stepping. Measured on
    generated low-complexity images (MS-SSIM BD-rate against sabr=False):
    a hard mask left steps at the edges (+5.2%, seam excess +2 levels);
    fading only inside the active block, +4.0%; this, +2.5% with seams
    equal to the uniform file's. Without a mask, stopped blocks drifted:
    their decoder state keeps changing."""
    return _upsample(torch.from_numpy(active.reshape(1, 1, h, w).astype(np.float32)))


class _Run:
    """One pass of the encoder over an image, extended on demand, keeping the
    codes and the :func:`block_loss` of every iteration. Without ``targets``
    every block codes every iteration; with them, a block stops after the
    first iteration whose loss reaches its target, or after ``latest``
    iterations, and from then on behaves as the decoder will treat it
    (:meth:`RecurrentEngine.stopped_codes`, :func:`active_pixels`). Blocks
    set in ``flat`` are painted with ``colours`` (:func:`paint_flat`) in
    every reconstruction, as the decoder will."""

    def __init__(
        self, engine: RecurrentEngine, x: torch.Tensor, targets: np.ndarray | None = None,
        latest: np.ndarray | None = None, flat: np.ndarray | None = None, colours: np.ndarray | None = None,
    ) -> None:
        self.engine, self.x, self.targets, self.latest = engine, x, targets, latest
        self.flat, self.colours = flat, colours
        self.h_enc, self.h_dec, self.canvas = engine.model.init_state(x)
        self.x_hat = engine.picture(self.canvas)
        self.target = engine.target(x)
        self.bits: list[np.ndarray] = []  # 0/1 codes (C, h*w) per iteration, stopped blocks filled
        self.block_loss: list[np.ndarray] = []
        self.stop = np.full((x.shape[2] // 16, x.shape[3] // 16), NEVER, np.int64)  # iterations per block

    def extend(self, iterations: int) -> None:
        engine, model = self.engine, self.engine.model
        h, w = self.stop.shape
        while len(self.bits) < iterations and (self.stop > len(self.bits)).any():
            t = len(self.bits)
            steps = model.gru_steps(t, engine.prime)
            residual = model.residual(self.target, self.canvas, self.x_hat)
            if model.latent_input:
                features = model.analysis(residual, t)
            else:
                features = tiled(partial(model.analysis, t=t), residual, tile=TILE, margin=64, scale=Fraction(1, 16))
            # Image-sized, like the old picture: neither is held while the new one is made.
            del residual
            self.x_hat = None
            self.h_enc = model.step_encoder(features, self.h_enc, steps)
            active = (self.stop > t).ravel()
            bits = (model.binarizer(self.h_enc) >= 0).reshape(model.bits, -1).numpy().astype(np.int64)
            bits = engine.stopped_codes(bits, active, self.bits[-1] if t else None, t)
            self.bits.append(bits)
            codes = torch.from_numpy(bits.reshape(1, model.bits, h, w).astype(np.float32) * 2 - 1)
            self.h_dec = model.step_decoder(codes, self.h_dec, steps)
            self.canvas = engine.advance(self.canvas, self.h_dec, codes, t, active)
            self.x_hat = engine.picture(self.canvas)
            with torch.autocast("cpu", enabled=False):
                loss = block_loss(self.x_hat, self.x, self.flat, self.colours)
            self.block_loss.append(loss)
            if self.targets is not None:
                self.stop[(self.stop == NEVER) & ((loss <= self.targets) | (self.latest <= t + 1))] = t + 1


class RecurrentState:
    """The encoder's view of one image: iterations run on demand and kept,
    so that trying many rates (``max_bytes``) runs each iteration once."""

    def __init__(self, engine: RecurrentEngine, rgb: np.ndarray) -> None:
        self.engine = engine
        self.x = pad_to(torch.tensor(rgb).permute(2, 0, 1)[None].float() / 255, 16)
        # Each block's mean colour: its colour if SABR paints it flat.
        means = torch.nn.functional.avg_pool2d(self.x, 16)[0].permute(1, 2, 0) * 255
        self.means = means.round().clamp(0, 255).numpy().astype(np.uint8)
        self._full = _Run(engine, self.x)  # every block, every iteration
        # Adaptive results by (iterations, tolerance): only codes and counts
        # are kept (a max_bytes search tries several; a run's images are large).
        self._adaptive: dict[tuple[int, float], tuple[list[np.ndarray], np.ndarray]] = {}
        self._painted: dict[tuple[int, float], np.ndarray | None] = {}

    @staticmethod
    def _extend(run: _Run, iterations: int) -> _Run:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            run.extend(iterations)
        return run

    @torch.no_grad()
    def codes(self, iterations: int, tolerance: float | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        """0/1 codes ``(C, h*w)`` (1 for +1) of up to ``iterations``
        iterations and the iterations each block carries (``(h, w)``); a
        stopped block's entries are the codes the decoder assumes for it.

        Without a ``tolerance`` every block gets every iteration. With one
        (spatially adaptive bit rates, after Johnston et al. 2018), a first
        pass codes every block with all ``iterations`` and records each
        block's :func:`block_loss` and estimated bits after every iteration;
        each block's iteration count is the one that minimises
        ``loss + tolerance * bits / 32`` (one iteration of plain bits is
        worth ``tolerance`` of loss): blocks whose further iterations gain
        little for their bits stop, blocks whose codes are cheap or that
        keep improving go on. A block whose best count is 2 or more (at one,
        painting saves no code: on Kodak image 2 it painted 40% of the blocks
        for 23% more bits and 0.002 MS-SSIM) and whose cost painted flat in its mean
        colour (:func:`paint_flat`; :func:`colour_bits` and one iteration as
        its bits) is lower still is painted (:meth:`painted`): it codes one
        iteration inside a flat area, :data:`RIM_ITERATIONS` beside a coded
        block. A second pass codes with the decoder's exact behaviour and stops
        a block once its loss is within ``tolerance / 4`` of what the first
        pass had at its chosen count, or one iteration after that count,
        since a stopped neighbour changes what a block's state sees. What
        was measured on the way (validation photos, Kodak image 1,
        generated low-complexity images): a fixed SSIM target per block
        spent every iteration on textures that never reach it (+85% bits at
        equal MS-SSIM); the loss of the last iteration as the target let
        flat blocks of model 2 keep a colour offset (their loss rises again
        in late iterations, so the target is the loss at the chosen count).
        Fewer iterations come back when every block stops earlier. The
        second pass's network sees the unpainted image (painting its
        residual away left the latent of painted blocks at its first
        iteration, and coded blocks beside them, whose synthesis reads it,
        lost up to 0.01 MS-SSIM on a chart); its losses are the painted ones.

        The encoder runs under bf16 autocast, as in training: 2.8x faster
        here (AMX), and only the encoder's choices depend on it; the
        decoder parses the codes exactly and renders in fp32.
        """
        full = self._extend(self._full, iterations)
        if tolerance is None:
            return full.bits[:iterations], np.full(full.stop.shape, iterations)
        key = (iterations, tolerance)
        if key not in self._adaptive:
            loss = np.stack(full.block_loss[:iterations])
            h, w = loss.shape[1:]
            bits = np.stack([self.engine.block_bits(full.bits, t).reshape(h, w) for t in range(iterations)])
            cost = loss + tolerance / self.engine.model.bits * np.cumsum(bits, 0)
            chosen = np.argmin(cost, axis=0)  # iterations - 1 per block
            targets = np.take_along_axis(loss, chosen[None], 0)[0] + tolerance / 4
            latest = chosen + 2
            side = tolerance / self.engine.model.bits * (colour_bits(self.means) + bits[0])  # colour, one iteration
            flat = self._flat(np.take_along_axis(cost, chosen[None], 0)[0], side, chosen > 0)
            if flat is not None:  # painted: codes only for their coded neighbours' sake
                targets[flat], latest[flat] = -1, np.where(_erode(flat), 1, RIM_ITERATIONS)[flat]
            run = self._extend(_Run(self.engine, self.x, targets, latest, flat, self.means), iterations)
            counts = np.minimum(run.stop, iterations)
            self._adaptive[key] = (run.bits[: counts.max()], counts)
            self._painted[key] = flat
        return self._adaptive[key]

    def painted(self, iterations: int, tolerance: float | None) -> np.ndarray | None:
        """The blocks :meth:`codes` paints flat at these settings ((h, w) mask), or ``None``."""
        self.codes(iterations, tolerance)
        return self._painted.get((iterations, tolerance))

    def _flat(self, coded_cost: np.ndarray, side: np.ndarray, eligible: np.ndarray) -> np.ndarray | None:
        """The ``eligible`` blocks whose loss painted flat plus ``side`` (the
        cost of their colour and codes) is below their cost coded at their
        best count (``coded_cost``; all (h, w)). Candidates are the blocks that
        pass painted in their own colour alone (flat colours beside an edge
        block) or with every block painted (gradients); the candidates are
        then painted together and judged again, twice (a block loses the
        colours of neighbours that drop out). ``None`` if none."""
        if not eligible.any():  # e.g. one iteration: every block's best count is 1
            return None
        with torch.autocast("cpu", enabled=False):
            alone = np.empty(coded_cost.shape)  # each block painted with the image around it
            for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
                picked = np.zeros(coded_cost.shape, bool)
                picked[dy::2, dx::2] = True
                alone[picked] = block_loss(self.x, self.x, picked, self.means)[picked]
            flat = eligible & (alone + side < coded_cost)
            flat |= eligible & (block_loss(self.x, self.x, np.ones_like(flat), self.means) + side < coded_cost)
            for _ in range(2):
                loss = block_loss(self.x, self.x, flat, self.means)
                kept = flat & (loss + side < coded_cost) & (loss < FLAT_MAX_LOSS)
                if np.array_equal(kept, flat):  # judging the same set again gives the same answer
                    break
                flat = kept
        return flat if flat.any() else None


class RecurrentEngine:
    """A loaded recurrent model."""

    family = "recurrent"

    def __init__(self, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
        config = json.loads(metadata["config"])
        self.prime = config.pop("prime")
        self.max_iterations = json.loads(metadata["max_iterations"])
        # Inference only: no parameter asks for gradients, so no call can keep
        # an autograd graph (a latent model's first pass once held 380 MB for
        # a 768x768 image).
        self.model = RecurrentCodec(**config).eval().requires_grad_(False)
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

    def block_bits(self, image: list[np.ndarray], t: int) -> np.ndarray:
        """Estimated bits of each block's codes in iteration ``t`` (``h*w``),
        under the global context tables (32 per block without them)."""
        codes = image[t]
        if self.global_freqs is None:
            return np.full(codes.shape[1], float(codes.shape[0]))
        ctx = bitmodel.iteration_contexts(codes, image[t - 1] if t else None, t)
        return bitmodel.code_lengths(self.global_freqs)[0][ctx, codes].sum(0)

    def stopped_codes(self, bits: np.ndarray, active: np.ndarray, prev: np.ndarray | None, t: int) -> np.ndarray:
        """0/1 codes ``(C, h*w)`` of iteration ``t`` with those of stopped
        blocks replaced by the codes the decoder assumes for them (spec
        7.2): the likeliest under the global context tables."""
        if active.all():
            return bits
        if self.global_freqs is None:  # no tables: not reachable, SABR needs them (see encode)
            msg = "nnc: spatially adaptive bit rates need a model with context tables"
            raise NncError(msg)
        return bitmodel.fill_stopped(bits, ~active, prev, t, self.global_freqs)

    def advance(
        self, canvas: torch.Tensor, h_dec: torch.Tensor, codes: torch.Tensor, t: int, active: np.ndarray
    ) -> torch.Tensor:
        """The canvas after iteration ``t``, changed at the blocks that code
        it (``active``, ``h*w``): an image model adds the rendered
        correction (in tiles: bounded memory, no seams) faded by
        :func:`active_pixels`; a latent model adds the latent increment at
        the active blocks only, and its synthesis blends across block edges."""
        model = self.model
        h, w = h_dec.shape[2:]
        if model.latent:
            mask = torch.from_numpy(active.reshape(1, 1, h, w).astype(np.float32))
            return canvas + model.increment(h_dec, codes, t) * mask
        correction = tiled(partial(model.render, t=t), h_dec, tile=TILE // 16, margin=4, scale=Fraction(16))
        return canvas + correction * active_pixels(active, h, w)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`RecurrentCodec.target`, the analysis in tiles."""
        if not self.model.latent_input:
            return x
        return tiled(self.model.target, x, tile=TILE, margin=64, scale=Fraction(1, 16))

    def picture(self, canvas: torch.Tensor) -> torch.Tensor:
        """:meth:`RecurrentCodec.picture` in tiles."""
        if not self.model.latent:
            return canvas
        return tiled(self.model.picture, canvas, tile=TILE // 16, margin=4, scale=Fraction(16))

    # -- encoder ------------------------------------------------------------
    @torch.no_grad()
    def analyse(self, rgb: np.ndarray) -> RecurrentState:
        return RecurrentState(self, rgb)

    def encode(
        self, state: RecurrentState, level_byte: int, entropy: str = "local", tolerance: float | None = None,
        effort: int = 1, progress: Callable[[int, int], None] | None = None,
    ) -> Payload:
        """Codec parameters, segments and rate map for up to the iterations
        of one level. ``entropy``: "raw" stores plain bits; "global"
        range-codes with the global context tables; "local" (the default)
        takes whichever of the global tables and the local entropy models
        codes smaller. ``tolerance``: spatially adaptive bit rates, see
        :meth:`RecurrentState.codes` (``None``: every block gets every
        iteration, and there is no map). ``effort`` has no effect here: the
        spatially adaptive search is this codec's encoder effort, always on."""
        if self.global_freqs is None:  # stopped blocks' codes come from the tables
            tolerance = None
        codes, counts = state.codes(self.iterations_of(level_byte), tolerance)
        n = len(codes)
        rate_map = None if (counts == n).all() else encode_map(counts)
        painted = state.painted(self.iterations_of(level_byte), tolerance)
        flat_blocks = None if painted is None else encode_flat(painted, state.means)
        active = [(counts > t).ravel() for t in range(n)]
        h, w = counts.shape
        per_segment = n if h * w * 256 < SINGLE_SEGMENT_PIXELS else 1
        flat = [c[:, a] for c, a in zip(codes, active)]
        if entropy == "raw" or self.global_freqs is None:
            packed = [np.packbits(f.ravel()).tobytes() for f in flat]
            segments = [b"".join(packed[i : i + per_segment]) for i in range(0, n, per_segment)]
            return Payload(bytes([n, self.prime, per_segment, 0]), segments, rate_map, flat_blocks)
        local = self.local_freqs if entropy == "local" else None
        tile, k, tile_choice = bitmodel.choose_tables(flat, active, h, w, self.global_freqs, local)
        if tile is None:
            params, freqs, choice = bytes([n, self.prime, per_segment, 1]), self.global_freqs, np.zeros(h * w, np.int64)
        else:  # coding 2 uses all K table sets, coding 3 the first k
            extra = [2, tile] if k == len(self.local_freqs) else [3, tile, k]
            params, freqs = bytes([n, self.prime, per_segment, *extra]), self.local_freqs[:k]
            choice = bitmodel.block_choice(tile_choice, h, w, tile)
        segments = []
        writer = Writer()
        if tile is not None:
            writer.encode(tile_choice, uniform_table(k))
        for t in range(n):
            prev = bitmodel.previous(flat, active, t)
            bitmodel.encode_iteration(writer, flat[t], prev, t, freqs, choice[active[t]])
            if (t + 1) % per_segment == 0 or t == n - 1:
                segments.append(writer.finish())
                writer = Writer()
        return Payload(params, segments, rate_map, flat_blocks)

    # -- decoder ------------------------------------------------------------
    @torch.no_grad()
    def decode(
        self, params: bytes, segments: list[bytes], width: int, height: int,
        rate_map: bytes | None = None, flat_blocks: bytes | None = None,
    ) -> np.ndarray:
        """(H, W, 3) uint8 image from the codec parameters, 1+ segments and
        the RATE_MAP and FLAT_BLOCKS chunks, if the file has them."""
        if len(params) < 4:
            msg = "nnc: bad recurrent codec parameters"
            raise NncError(msg)
        n, prime, per_segment, coding = params[:4]
        if coding > 3:
            msg = f"nnc: code coding {coding} is not supported by this decoder; upgrade pillow-nnc"
            raise UnsupportedFileError(msg)
        if len(params) != PARAM_BYTES[coding] or (coding >= 2 and params[4] not in bitmodel.TILE_SIZES):
            msg = f"nnc: bad recurrent codec parameters {list(params)}"
            raise NncError(msg)
        if (coding == 1 and self.global_freqs is None) or (coding >= 2 and self.local_freqs is None):
            msg = "nnc: the file's codes are context-coded but its model has no such context tables"
            raise NncError(msg)
        if coding == 3 and not 2 <= params[5] <= len(self.local_freqs):
            msg = f"nnc: bad recurrent codec parameters {list(params)}"
            raise NncError(msg)
        if not (1 <= n <= self.max_iterations and prime <= MAX_PRIME and 1 <= per_segment <= n):
            msg = f"nnc: bad recurrent codec parameters {list(params)}"
            raise NncError(msg)
        h, w = -(-height // 16), -(-width // 16)
        if len(segments) > -(-n // per_segment):
            msg = "nnc: more segments than iterations"
            raise NncError(msg)
        counts = np.full(h * w, n) if rate_map is None else decode_map(rate_map, h, w, n).ravel()
        flat, colours = (None, None) if flat_blocks is None else decode_flat(flat_blocks, h, w)
        active = [counts > t for t in range(n)]
        codes = self._read_codes(params, segments, active, h, w)
        model = self.model
        # init_state reads only the shape: an uninitialised tensor costs no
        # memory where a latent model never touches it.
        _, h_dec, canvas = model.init_state(torch.empty(1, 3, h * 16, w * 16))
        for t, c in enumerate(codes):
            h_dec = model.step_decoder(c, h_dec, model.gru_steps(t, prime))
            canvas = self.advance(canvas, h_dec, c, t, active[t])
        x_hat = self.picture(canvas)
        if flat is not None:
            x_hat = paint_flat(x_hat, flat, colours, inplace=True)
        x_hat = (x_hat[0, :, :height, :width].clamp(0, 1) * 255).round().to(torch.uint8)
        return x_hat.permute(1, 2, 0).numpy()

    def _read_codes(
        self, params: bytes, segments: list[bytes], active: list[np.ndarray], h: int, w: int
    ) -> list[torch.Tensor]:
        """The +1/-1 codes ``(1, bits, h, w)`` of every iteration the segments
        hold; at the blocks that do not code it (``active[t]`` unset), the
        codes of :meth:`stopped_codes`."""
        n, _, per_segment, coding = params[:4]
        bits = self.model.bits
        image: list[np.ndarray] = []  # 0/1 codes (bits, active blocks) per iteration
        for i, segment in enumerate(segments):
            first, last = i * per_segment, min(n, (i + 1) * per_segment)
            if coding == 0:
                sizes = [-(-bits * int(active[t].sum()) // 8) for t in range(first, last)]
                if len(segment) != sum(sizes):
                    msg = f"nnc: segment {i} holds {len(segment)} bytes, expected {sum(sizes)}"
                    raise NncError(msg)
                for t, offset in zip(range(first, last), np.cumsum([0, *sizes])):
                    count = bits * int(active[t].sum())
                    chunk = np.frombuffer(segment, np.uint8, -(-count // 8), offset)
                    image.append(np.unpackbits(chunk)[:count].reshape(bits, -1))
                continue
            reader = Reader(segment)
            if i == 0:
                freqs, choice = self.global_freqs, np.zeros(h * w, np.int64)
                if coding >= 2:
                    tile, k = params[4], params[5] if coding == 3 else len(self.local_freqs)
                    freqs = self.local_freqs[:k]
                    tiles = bitmodel.tile_index(h, w, tile)[1]
                    choice = bitmodel.block_choice(reader.decode(tiles, uniform_table(k)), h, w, tile)
                cheapest = bitmodel.code_lengths(freqs).min(axis=(1, 2))[choice]  # bits per code, per block
            # No stream can hold its codes in fewer bits than the cheapest
            # code of each block's tables (less the coder's 64-bit state): a
            # tiny file declaring a huge image fails here, before the network runs.
            needed = sum(bits * cheapest[active[t]].sum() for t in range(first, last)) - 64
            if len(segment) * 8 < needed:
                msg = f"nnc: segment {i} holds {len(segment)} bytes, too few for its {bits} codes per block"
                raise NncError(msg)
            for t in range(first, last):
                shape = (bits, int(active[t].sum()))
                prev = bitmodel.previous(image, active, t)
                image.append(bitmodel.decode_iteration(reader, shape, prev, t, freqs, choice[active[t]]))
        codes, prev = [], None
        for t, part in enumerate(image):
            full = np.zeros((bits, h * w), np.int64)
            full[:, active[t]] = part
            prev = self.stopped_codes(full, active[t], prev, t)
            codes.append(torch.from_numpy(prev.reshape(1, bits, h, w).astype(np.float32) * 2 - 1))
        return codes
