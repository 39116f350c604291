"""GPT-NeoX v1.0's ``AnnealingLR`` (cosine), the schedule Pythia was trained with.

Later GPT-NeoX versions changed the formula; a resumed run must continue this exact curve, so it
lives in one pure function that the trainer sets into the optimizer before every update.
"""

from __future__ import annotations

import math


def pythia_lr(
    step: int,
    peak: float,
    total_steps: int,
    *,
    warmup_fraction: float = 0.01,
    min_lr_ratio: float = 0.1,
) -> float:
    """The learning rate of the update that trains on 0-based batch ``step``.

    With ``T = total_steps``, ``w = warmup_fraction * T`` (a float, 1430.0 for Pythia) and
    ``m = min(step, T - w)``: ``peak * m / w`` while ``step <= w``, else
    ``max(min_lr, peak / 2 * (1 + cos(pi * (m - w) / T)))``. The first update uses ``lr(0) = 0``.
    """
    warmup = warmup_fraction * total_steps
    min_lr = min_lr_ratio * peak
    capped = min(step, total_steps - warmup)
    if warmup > 0 and step <= warmup:
        return peak * capped / warmup
    decayed = peak / 2.0 * (1.0 + math.cos(math.pi * (capped - warmup) / total_steps))
    return max(min_lr, decayed)


def floor_step(total_steps: int, *, warmup_fraction: float = 0.01, min_lr_ratio: float = 0.1) -> int:
    """The first step whose learning rate is the floor ``min_lr`` (115,139 for Pythia's schedule)."""
    lo, hi = 0, total_steps
    while lo < hi:
        mid = (lo + hi) // 2
        at = pythia_lr(mid, 1.0, total_steps, warmup_fraction=warmup_fraction, min_lr_ratio=min_lr_ratio)
        if mid > warmup_fraction * total_steps and at <= min_lr_ratio:
            hi = mid
        else:
            lo = mid + 1
    return lo
