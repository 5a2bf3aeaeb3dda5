"""Context models for the recurrent codec's binary codes.

The probability that a code is +1 depends only on integers already known to
the decoder (spec section 7.2):

* the iteration ``t`` (iterations from ``ITERATION_CONTEXTS - 1`` on share),
* the code channel ``c``,
* the same code in the previous iteration (none / -1 / +1),
* the code of channel ``c - 1`` at the same block in this iteration
  (none / -1 / +1): channels are coded one after the other,
* with local entropy models (Minnen et al. 2018), the table set chosen for
  the block's tile, sent as side information.

Each context has an integer frequency of "+1" out of 2**16, counted on
training photos at export and shipped with the model, so the coder never
sees a floating-point network output. Every channel of an iteration is one
vectorised call per (table set, context) present, not a loop over bits.
"""

from __future__ import annotations

import numpy as np

from .coder import Reader, Writer
from .tables import PRECISION

ITERATION_CONTEXTS = 8
NONE = 2  # "no previous code" state of a context input
SCALE = 1 << PRECISION


def context_count(channels: int) -> int:
    return ITERATION_CONTEXTS * channels * 9


def _channel_contexts(t: int, c: int, codes: np.ndarray, prev: np.ndarray | None) -> np.ndarray:
    """Context index of every block of channel ``c`` in iteration ``t``, from
    the 0/1 codes ``(C, h*w)`` of this iteration (only channel ``c - 1`` is
    read, so a decoder may pass a partly decoded array) and of the previous
    one (``None`` at ``t = 0``)."""
    channels, size = codes.shape
    base = (min(t, ITERATION_CONTEXTS - 1) * channels + c) * 9
    p = np.full(size, NONE, np.int64) if prev is None else prev[c].astype(np.int64)
    q = codes[c - 1].astype(np.int64) if c else np.full(size, NONE, np.int64)
    return base + p * 3 + q


def iteration_contexts(codes: np.ndarray, prev: np.ndarray | None, t: int) -> np.ndarray:
    """Contexts ``(C, h*w)`` of a whole known iteration (encoder and training side)."""
    return np.stack([_channel_contexts(t, c, codes, prev) for c in range(codes.shape[0])])


def tile_index(h: int, w: int, tile: int) -> tuple[np.ndarray, int]:
    """The tile (raster order) of every block of an ``h x w`` grid cut into
    tiles of ``tile x tile`` blocks, and the number of tiles."""
    ty, tx = np.divmod(np.arange(h * w), w)
    across = -(-w // tile)
    return (ty // tile) * across + tx // tile, -(-h // tile) * across


def _table(p1: int) -> np.ndarray:
    return np.array([SCALE - p1, p1], np.int32)


def encode_iteration(
    writer: Writer, codes: np.ndarray, prev: np.ndarray | None, t: int, freqs: np.ndarray, choice: np.ndarray
) -> None:
    """Code one iteration's 0/1 codes ``(C, h*w)`` with table sets ``freqs``
    ``(K, contexts)``; ``choice`` is the table set of every block (``h*w``)."""
    n_ctx = freqs.shape[1]
    flat = freqs.ravel()
    for c in range(codes.shape[0]):
        key = choice * n_ctx + _channel_contexts(t, c, codes, prev)
        for k in np.unique(key):
            writer.encode(codes[c][key == k], _table(int(flat[k])))


def decode_iteration(
    reader: Reader, shape: tuple[int, int], prev: np.ndarray | None, t: int, freqs: np.ndarray, choice: np.ndarray
) -> np.ndarray:
    """Inverse of :func:`encode_iteration`: 0/1 codes ``(C, h*w)``."""
    n_ctx = freqs.shape[1]
    flat = freqs.ravel()
    codes = np.zeros(shape, np.int64)
    for c in range(shape[0]):
        key = choice * n_ctx + _channel_contexts(t, c, codes, prev)
        for k in np.unique(key):
            where = key == k
            codes[c][where] = reader.decode(int(where.sum()), _table(int(flat[k])))
    return codes


def _quantize(p1: np.ndarray) -> np.ndarray:
    """Integer P(+1) in 1..2**16-1, so both symbols stay codable."""
    return np.clip(np.round(p1 * SCALE), 1, SCALE - 1).astype(np.int32)


def code_lengths(freqs: np.ndarray) -> np.ndarray:
    """Bits of a 0 and of a 1 under every table: ``(K, contexts, 2)``."""
    p1 = freqs.astype(np.float64) / SCALE
    return -np.log2(np.stack([1 - p1, p1], axis=-1))


def tile_counts(image: list[np.ndarray], h: int, w: int, tile: int, n_ctx: int) -> tuple[np.ndarray, np.ndarray]:
    """Per tile of ``tile x tile`` blocks, how often each context occurred and
    was +1, over the iterations of one image (0/1 codes ``(C, h*w)`` each)."""
    tile_of, tiles = tile_index(h, w, tile)
    ones = np.zeros((tiles, n_ctx))
    total = np.zeros((tiles, n_ctx))
    for t, codes in enumerate(image):
        key = tile_of[None] * n_ctx + iteration_contexts(codes, image[t - 1] if t else None, t)
        ones += np.bincount(key.ravel(), weights=codes.ravel(), minlength=tiles * n_ctx).reshape(tiles, n_ctx)
        total += np.bincount(key.ravel(), minlength=tiles * n_ctx).reshape(tiles, n_ctx)
    return ones, total


def count_frequencies(images: list[list[np.ndarray]], shapes: list[tuple[int, int]], channels: int) -> np.ndarray:
    """The global table set ``(1, contexts)``, counted over all images."""
    n_ctx = context_count(channels)
    ones = total = 0
    for image, (h, w) in zip(images, shapes):
        o, n = tile_counts(image, h, w, max(h, w), n_ctx)
        ones, total = ones + o.sum(0), total + n.sum(0)
    return _quantize((ones + 0.5) / (total + 1))[None]


def learn_dictionary(
    images: list[list[np.ndarray]], shapes: list[tuple[int, int]], channels: int, k: int, tile: int = 4, rounds: int = 12
) -> np.ndarray:
    """``k`` table sets ``(k, contexts)`` for local entropy models: Lloyd
    iterations over training tiles, assigning each tile to the set that
    codes it in the fewest bits and re-counting each set from its tiles
    (shrunk towards the global counts, so rare contexts stay sensible)."""
    n_ctx = context_count(channels)
    parts = [tile_counts(image, h, w, tile, n_ctx) for image, (h, w) in zip(images, shapes)]
    ones = np.concatenate([p[0] for p in parts])
    total = np.concatenate([p[1] for p in parts])
    global_p = (ones.sum(0) + 0.5) / (total.sum(0) + 1)
    prior = 8.0

    def fit(members: np.ndarray) -> np.ndarray:
        return (ones[members].sum(0) + prior * global_p) / (total[members].sum(0) + prior)

    def costs(p: np.ndarray) -> np.ndarray:  # (tiles, sets)
        return -(ones @ np.log2(p).T + (total - ones) @ np.log2(1 - p).T)

    rng = np.random.default_rng(0)
    sets = [global_p]
    while len(sets) < k:  # k-means++-like seeding: tiles the current sets code worst
        worst = costs(np.clip(np.stack(sets), 1e-4, 1 - 1e-4)).min(1)
        pick = rng.choice(len(worst), p=worst / worst.sum())
        sets.append(fit(np.array([pick])))
    p = np.clip(np.stack(sets), 1e-4, 1 - 1e-4)
    for _ in range(rounds):
        assign = costs(p).argmin(1)
        p = np.clip(np.stack([fit(assign == j) if (assign == j).any() else p[j] for j in range(k)]), 1e-4, 1 - 1e-4)
    return _quantize(p)


TILE_SIZES = (2, 4, 8, 16)  # tile sides in blocks the encoder may choose for local models


def block_choice(tile_choice: np.ndarray, h: int, w: int, tile: int) -> np.ndarray:
    """The table set of every block (``h*w``) from one choice per tile (raster order)."""
    return tile_choice[tile_index(h, w, tile)[0]]


def fill_stopped(codes: np.ndarray, stopped: np.ndarray, prev: np.ndarray | None, t: int, freqs: np.ndarray) -> np.ndarray:
    """Iteration ``t``'s 0/1 codes ``(C, h*w)`` with the entries of stopped
    blocks (mask ``stopped``) set, channel by channel, to the more probable
    symbol of their context under the table set ``freqs`` (``(1, contexts)``,
    +1 on a tie); ``prev`` is the previous iteration filled the same way.
    A stopped block sends nothing, but its neighbours' decoder states still
    read its codes: these are the codes it most likely would have sent,
    inputs of the kind the decoder was trained on, where zeros never occur
    in training. (On the half-flat test image both gave the same errors
    within 0.5 levels; the choice rests on the training distribution.)"""
    out = codes.copy()
    for c in range(out.shape[0]):
        likely = freqs[0, _channel_contexts(t, c, out, prev)] >= SCALE // 2
        out[c, stopped] = likely[stopped]
    return out


def previous(image: list[np.ndarray], active: list[np.ndarray], t: int) -> np.ndarray | None:
    """Codes of iteration ``t - 1`` at the blocks that code iteration ``t``:
    ``image[t]`` holds the codes of the blocks where ``active[t]`` (a mask
    of ``h*w``) is set, and a block that stops never resumes (spec 7.2)."""
    return image[t - 1][:, active[t][active[t - 1]]] if t else None


def choose_tables(
    image: list[np.ndarray], active: list[np.ndarray], h: int, w: int,
    global_freqs: np.ndarray, local_freqs: np.ndarray | None,
) -> tuple[int | None, int, np.ndarray]:
    """The cheapest way to code ``image`` (0/1 codes ``(C, blocks)`` per
    iteration, at the blocks ``active[t]`` of the ``h x w`` grid), side
    information included: ``(None, 1, [0])`` for the global table set, or
    ``(tile, k, choice per tile)`` for local models restricted to the
    first ``k`` table sets, with tiles of ``tile x tile`` blocks (fewer sets
    make each tile's choice cheaper). Costs are the exact code lengths of
    the integer tables (the range coder adds a few bytes either way)."""
    lengths_g = code_lengths(global_freqs)[0]
    contexts = [iteration_contexts(codes, previous(image, active, t), t) for t, codes in enumerate(image)]
    best_bits = sum(lengths_g[ctx, codes].sum() for ctx, codes in zip(contexts, image))
    best: tuple[int | None, int, np.ndarray] = (None, 1, np.zeros(1, np.int64))
    if local_freqs is None:
        return best
    lengths = code_lengths(local_freqs)
    per_block = np.zeros((len(local_freqs), h * w))
    for ctx, codes, a in zip(contexts, image, active):
        per_block[:, a] += lengths[:, ctx, codes].sum(1)
    for k in range(2, len(local_freqs) + 1):
        for tile in TILE_SIZES:
            tile_of, tiles = tile_index(h, w, tile)
            per_tile = np.stack([np.bincount(tile_of, weights=row, minlength=tiles) for row in per_block[:k]])
            bits = per_tile.min(0).sum() + tiles * np.log2(k)
            if bits < best_bits:
                best_bits, best = bits, (tile, k, per_tile.argmin(0))
    return best
