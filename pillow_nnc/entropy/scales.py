"""The fixed ladder of Gaussian scales that every latent is coded with.

Training predicts a continuous log-scale; coding snaps it to one of
``NUM_SCALES`` log-spaced rungs, each with an integer probability table.
The ladder is part of the format: changing it needs a new model id.
"""

from __future__ import annotations

import math

SCALE_MIN = 0.11
SCALE_MAX = 64.0
NUM_SCALES = 64
LOG_STEP = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (NUM_SCALES - 1)


def scale_of(index: int) -> float:
    """Standard deviation of rung ``index``."""
    return math.exp(math.log(SCALE_MIN) + index * LOG_STEP)
