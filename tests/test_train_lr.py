"""GPT-NeoX v1.0's learning-rate curve, checked against DESIGN.md's formula written out here."""

from __future__ import annotations

import pytest

from debias.train.lr import floor_step, pythia_lr
from tests.lr_formula import design_lr

PEAK = 6e-4  # Pythia-160M
T = 143_000


@pytest.mark.parametrize("step", [0, 1, 713, 1429, 1430, 1431, 50_000, 113_000, 115_139, 115_140, 133_000,
                                  142_999])
def test_matches_design_formula_on_pythia_schedule(step: int) -> None:
    assert pythia_lr(step, PEAK, T) == design_lr(step, PEAK, T)


def test_warmup_boundary_and_floor() -> None:
    assert pythia_lr(0, PEAK, T) == 0.0  # the first update trains with lr 0
    assert pythia_lr(1430, PEAK, T) == PEAK  # n <= w still warms up, and reaches the peak
    assert pythia_lr(1431, PEAK, T) < PEAK
    assert floor_step(T) == 115_139
    assert pythia_lr(115_138, PEAK, T) > 0.1 * PEAK


def test_tails_sit_where_design_says() -> None:
    # the 7% tail runs entirely at min_lr; the 21% tail starts at about 0.114 of the peak
    assert all(pythia_lr(s, PEAK, T) == pytest.approx(0.1 * PEAK, rel=1e-12) for s in range(133_000, T, 97))
    assert pythia_lr(113_000, PEAK, T) / PEAK == pytest.approx(0.1145, abs=5e-4)


def test_scaled_schedule_keeps_the_shape() -> None:
    # the CPU suite's 1,430 steps: warmup ends inside step 14 (w = 14.3)
    assert pythia_lr(14, 1.0, 1430) == pytest.approx(14 / 14.3)
    assert pythia_lr(15, 1.0, 1430) < 1.0
    assert pythia_lr(1330, 1.0, 1430) == 0.1
    assert pythia_lr(1130, 1.0, 1430) == pytest.approx(design_lr(113_000, 1.0, T), abs=2e-3)
