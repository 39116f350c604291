"""DESIGN.md section 1's learning-rate formula, written out literally for the tests to compare with."""

from __future__ import annotations

import math


def design_lr(n: int, peak: float, total: int) -> float:
    """DESIGN.md section 1, literally: w = 0.01 T, m = min(n, T - w), min_lr = 0.1 peak."""
    w = 0.01 * total
    m = min(n, total - w)
    if n <= w:
        return peak * m / w
    return max(0.1 * peak, peak / 2 * (1 + math.cos(math.pi * (m - w) / total)))
