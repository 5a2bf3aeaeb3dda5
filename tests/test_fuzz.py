"""The fuzz target (fuzz/fuzz_nnc.py) in CI: every seed and every saved
crash input replays cleanly, plus a short bounded run of random mutations of
the engine-mode seeds (which reach the entropy decoders behind the CRCs).
The long coverage-guided runs use atheris; see the target's docstring."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
sys.path.insert(0, str(FUZZ))
import fuzz_nnc  # noqa: E402

from test_hostile import MUTATION, mutate, time_limit  # noqa: E402

SEEDS = sorted(fuzz_nnc.CORPUS.iterdir())
CRASHES = sorted(fuzz_nnc.CRASHES.iterdir()) if fuzz_nnc.CRASHES.exists() else []


def test_corpus_has_seeds_of_every_kind() -> None:
    names = {p.name for p in SEEDS}
    for kind in ("transform-rgb", "transform-rgba", "recurrent-raw", "recurrent-coded", "recurrent-sabr"):
        assert kind in names and f"engine-{kind}" in names


@pytest.mark.parametrize("path", SEEDS + CRASHES, ids=lambda p: p.name)
def test_saved_inputs_replay_cleanly(path: Path) -> None:
    with time_limit(60):
        fuzz_nnc.check(path.read_bytes())


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(seed=st.sampled_from([p for p in SEEDS if p.name.startswith("engine-")]),
       mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_engine_inputs_fail_cleanly(seed: Path, mutations) -> None:
    data = seed.read_bytes()
    with time_limit(60):
        fuzz_nnc.check(data[:1] + mutate(data[1:], mutations))
