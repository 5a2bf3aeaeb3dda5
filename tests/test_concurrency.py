"""Threads: concurrent use gives the same bytes and pixels as sequential
use, the plugin leaves torch's global settings alone, its own thread count
is configurable (``pillow_nnc.set_threads`` / ``NNC_THREADS``), and a
process forked after using threads still decodes."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import pillow_nnc
from pillow_nnc import codec

from conftest import nnc_decode, nnc_encode


def test_thread_pool_gives_the_sequential_bytes_and_pixels(crop, thumb32, odd33x17, gradient) -> None:
    images = [crop, thumb32, odd33x17, gradient]
    qualities = [20, 50, 90]
    jobs = [(im, q) for im in images for q in qualities]
    sequential = [nnc_encode(im, quality=q) for im, q in jobs]
    decoded = [np.asarray(nnc_decode(data)) for data in sequential]
    with ThreadPoolExecutor(4) as pool:
        # One Image object per job: Pillow's save() stores its options on the
        # Image (im.encoderinfo), so saving the *same* object from two threads
        # at once races for every format, not only this one.
        parallel = list(pool.map(lambda job: nnc_encode(job[0].copy(), quality=job[1]), jobs))
        pixels = list(pool.map(lambda data: np.asarray(nnc_decode(data)), sequential))
    assert parallel == sequential
    for a, b in zip(pixels, decoded):
        np.testing.assert_array_equal(a, b)


def test_torch_global_settings_are_left_alone(crop) -> None:
    before = (torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled())
    nnc_decode(nnc_encode(crop))
    assert (torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled()) == before


@pytest.mark.parametrize("how", ["api", "env"])
def test_configured_thread_count_is_used_then_restored(crop, monkeypatch, how) -> None:
    seen = []
    real = codec._encode_with
    monkeypatch.setattr(codec, "_encode_with", lambda *a: (seen.append(torch.get_num_threads()), real(*a))[1])
    before = torch.get_num_threads()
    if how == "api":
        monkeypatch.setattr(codec, "_threads", None)  # restored after the test
        pillow_nnc.set_threads(3)
    else:
        monkeypatch.setenv("NNC_THREADS", "3")
    data = nnc_encode(crop)
    assert seen == [3] and torch.get_num_threads() == before
    assert nnc_decode(data).size == crop.size


def test_bad_thread_settings_are_refused(crop, monkeypatch) -> None:
    monkeypatch.setattr(codec, "_threads", None)
    with pytest.raises(ValueError, match="threads"):
        pillow_nnc.set_threads(0)
    monkeypatch.setenv("NNC_THREADS", "many")
    with pytest.raises(ValueError, match="NNC_THREADS"):
        nnc_encode(crop)


def _decoded_size(data: bytes) -> tuple[int, int]:
    return nnc_decode(data).size


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
@pytest.mark.parametrize("how", ["torch", "set_threads"])
def test_fork_pool_decodes_after_the_parent_used_two_threads(crop_nnc, monkeypatch, how) -> None:
    """torch's OpenMP pool does not survive fork: the child used to hang in
    its first parallel op, whether torch's own setting or set_threads() gave
    the parent two threads. The timeout keeps a regression from hanging CI
    (leaving the Pool's with block terminates the stuck worker)."""
    before = torch.get_num_threads()
    monkeypatch.setattr(codec, "_threads", None)  # restored after the test
    if how == "torch":
        torch.set_num_threads(2)
    else:
        pillow_nnc.set_threads(2)
    try:
        nnc_decode(crop_nnc)  # starts the pool in this process
        with multiprocessing.get_context("fork").Pool(1) as pool:
            size = pool.apply_async(_decoded_size, (crop_nnc,)).get(timeout=60)
    finally:
        torch.set_num_threads(before)
    assert size == (64, 48)
