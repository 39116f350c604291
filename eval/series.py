"""Metrics along a checkpoint series, against normalized progress ``step / total_steps``, and
normalized emergence timing (DESIGN.md section 3): the first progress from which a metric stays
beyond a threshold, by default its interval excluding the unbiased value on one side throughout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from debias.eval.compare import common_ids
from debias.eval.config import StatsConfig
from debias.eval.metrics import item_columns, metric
from debias.eval.results import CheckpointResults
from debias.eval.stats import arm_interval, bootstrap_ci


@dataclass(frozen=True)
class SeriesPoint:
    step: int
    fraction: float | None
    value: float
    low: float
    high: float
    n_models: int = 1


def run_series(results: Sequence[CheckpointResults], name: str, stats: StatsConfig | None = None, *,
               confidence: float = 0.95) -> list[SeriesPoint]:
    """One run's checkpoints: the metric and its item-bootstrap interval at each step."""
    stats = stats or StatsConfig()
    m = metric(name)
    points = []
    for r in sorted(results, key=lambda r: r.step or 0):
        if m.table(r.tables) is None:
            continue
        _, cols = item_columns(m, r.tables)
        if len(next(iter(cols.values()))) < 2:
            continue
        ci = bootstrap_ci(cols, m.fn, n_boot=stats.n_boot_series, confidence=confidence, seed=stats.seed)
        points.append(SeriesPoint(r.step or 0, r.fraction, ci.estimate, ci.low, ci.high))
    return points


def arm_series(runs: Sequence[Sequence[CheckpointResults]], name: str, stats: StatsConfig | None = None, *,
               confidence: float = 0.95) -> list[SeriesPoint]:
    """Several seeds of one arm: the mean over seeds at each step that every run evaluated, with a
    seeds-then-items interval."""
    stats = stats or StatsConfig()
    m = metric(name)
    by_step: dict[int, list[CheckpointResults]] = defaultdict(list)
    for run in runs:
        for r in run:
            if m.table(r.tables) is not None:
                by_step[r.step or 0].append(r)
    points = []
    for step in sorted(by_step):
        group = by_step[step]
        if len(group) != len(runs):
            continue
        ids = common_ids(group, m)
        cols = [item_columns(m, r.tables, ids)[1] for r in group]
        if len(ids) < 2:
            continue
        ci = arm_interval(cols, m.fn, n_boot=stats.n_boot_series, confidence=confidence, seed=stats.seed,
                          correct=stats.seed_correction)
        points.append(SeriesPoint(step, group[0].fraction, ci.estimate, ci.low, ci.high, len(group)))
    return points


def emergence(points: Sequence[SeriesPoint], threshold: float, *, use_interval: bool = True) -> float | None:
    """First progress (``step/total_steps``, or the step when unknown) from which every later point
    lies beyond ``threshold`` on the same side as the last point; None if the last point does not.

    With ``use_interval`` a point counts only when its whole interval is beyond the threshold.
    """
    def side(p: SeriesPoint) -> int:
        lo, hi = (p.low, p.high) if use_interval else (p.value, p.value)
        return 1 if lo > threshold else -1 if hi < threshold else 0

    if not points or side(points[-1]) == 0:
        return None
    want = side(points[-1])
    first = len(points) - 1
    while first > 0 and side(points[first - 1]) == want:
        first -= 1
    p = points[first]
    return p.fraction if p.fraction is not None else float(p.step)
