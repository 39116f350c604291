"""Comparisons with intervals: two checkpoints item by item, or two arms across seeds.

Study code calls::

    table = compare_arms(control_results, intervention_results)   # lists of CheckpointResults
    row = table.row("winobias/association")                        # row.diff, row.low, row.high, row.p_value

Differences are always ``b - a`` (second argument minus first).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from eval.config import StatsConfig
from eval.metrics import BY_NAME, METRICS, Metric, item_columns
from eval.prior_push import association_residual, residual_metrics, residual_name
from eval.results import CheckpointResults
from eval.stats import Difference, holm, paired_comparison, seed_level, seed_t, two_level

log = logging.getLogger(__name__)


@dataclass
class ComparisonRow:
    """A metric's identity and its ``stats.Difference``, flat: one record of ``results.json``."""

    metric: str
    label: str
    kind: str
    part: str
    null: float | None
    higher_is_better: bool | None
    a: float
    b: float
    diff: float
    low: float
    high: float
    p_value: float
    n_items: int
    n_a: int
    n_b: int
    method: str
    family: str = "secondary"  # "primary" endpoints and the rest are Holm-adjusted apart
    p_adjusted: float = float("nan")
    seed_sd: float | None = None  # seed-to-seed sd of the metric in arm a: what seeds alone move

    @property
    def significant(self) -> bool:
        """The interval of the difference excludes zero."""
        return bool(self.low > 0 or self.high < 0)


@dataclass
class ComparisonTable:
    a_name: str
    b_name: str
    rows: list[ComparisonRow] = field(default_factory=list)
    confidence: float = 0.95

    def row(self, metric: str) -> ComparisonRow:
        for r in self.rows:
            if r.metric == metric:
                return r
        raise KeyError(f"no row for {metric!r} in {self.a_name} vs {self.b_name}; rows: {[r.metric for r in self.rows]}")

    def __contains__(self, metric: str) -> bool:
        return any(r.metric == metric for r in self.rows)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [{**asdict(r), "significant": r.significant} for r in self.rows]

    def to_markdown(self) -> str:
        pct = round(self.confidence * 100)
        lines = [f"| metric | {self.a_name} | {self.b_name} | difference | {pct}% interval | p | Holm p | "
                 "seed sd | items | method |",
                 "|---|---:|---:|---:|---|---:|---:|---:|---:|---|"]
        for r in self.rows:
            fmt = metric_fmt(r.metric)
            star = " *" if r.significant else ""
            sd = "-" if r.seed_sd is None else f"{r.seed_sd:{fmt}}"
            lines.append(
                f"| {r.label} | {r.a:{fmt}} | {r.b:{fmt}} | {r.diff:+{fmt}}{star} | "
                f"[{r.low:+{fmt}}, {r.high:+{fmt}}] | {r.p_value:.3g} | {r.p_adjusted:.3g} | {sd} | "
                f"{r.n_items} | {r.method} |"
            )
        return "\n".join(lines)


def metric_fmt(name: str) -> str:
    """Number format of a metric or of a residual (which takes its association's)."""
    return BY_NAME[name.removesuffix("_residual")].fmt


def adjust(rows: list[ComparisonRow], primary: Sequence[str]) -> None:
    """Mark each row primary or secondary and fill ``p_adjusted``: Holm within each family."""
    for row in rows:
        row.family = "primary" if row.metric in primary else "secondary"
    for family in ("primary", "secondary"):
        members = [r for r in rows if r.family == family]
        for row, p in zip(members, holm([r.p_value for r in members]), strict=True):
            row.p_adjusted = p
    rows.sort(key=lambda r: r.family != "primary")


def common_ids(results: Sequence[CheckpointResults], m: Metric) -> list[str]:
    """Items of metric ``m`` scored on every checkpoint, in the first checkpoint's order."""
    tables = [r.tables[m.table(r.tables)] for r in results]
    shared = set(tables[0].ids)
    for t in tables[1:]:
        shared &= set(t.ids)
    ids = [i for i in tables[0].ids if i in shared]
    if any(len(t.ids) != len(ids) for t in tables):
        log.info("%s: comparing on the %d items every checkpoint has", m.name, len(ids))
    return ids


def _metrics_for(results: Sequence[CheckpointResults], names: Sequence[str] | None) -> list[Metric]:
    chosen = [m for m in METRICS if names is None or m.name in names]
    return [m for m in chosen if all(m.table(r.tables) is not None for r in results)]


def _row(m: Metric, d: Difference) -> ComparisonRow:
    return ComparisonRow(m.name, m.label, m.kind, m.part, m.null, m.higher_is_better, **asdict(d))


def compare_checkpoints(a: CheckpointResults, b: CheckpointResults, stats: StatsConfig | None = None, *,
                        metrics: Sequence[str] | None = None, a_name: str | None = None,
                        b_name: str | None = None) -> ComparisonTable:
    """Per-item paired differences b - a for every metric both checkpoints support."""
    stats = stats or StatsConfig()
    table = ComparisonTable(a_name or a.name, b_name or b.name, confidence=stats.confidence)
    for i, m in enumerate(_metrics_for([a, b], metrics)):
        ids = common_ids([a, b], m)
        _, ca = item_columns(m, a.tables, ids)
        _, cb = item_columns(m, b.tables, ids)
        if len(next(iter(ca.values()))) < 2:
            continue
        d = paired_comparison(ca, cb, m.fn, n_boot=stats.n_boot, n_perm=stats.n_perm,
                              confidence=stats.confidence, seed=stats.seed + i)
        table.rows.append(_row(m, d))
    adjust(table.rows, stats.primary)
    return table


def _seed_pairing(arm_a: Sequence[CheckpointResults], arm_b: Sequence[CheckpointResults]) -> list[int] | None:
    """Order of arm_b matching arm_a's seeds, when both arms hold the same distinct seeds."""
    seeds_a, seeds_b = [r.seed for r in arm_a], [r.seed for r in arm_b]
    if None in seeds_a or None in seeds_b or len(set(seeds_a)) != len(seeds_a) or sorted(seeds_a) != sorted(seeds_b):
        return None
    return [seeds_b.index(s) for s in seeds_a]


def compare_arms(arm_a: Sequence[CheckpointResults], arm_b: Sequence[CheckpointResults],
                 stats: StatsConfig | None = None, *, paired: bool | None = None,
                 metrics: Sequence[str] | None = None, a_name: str | None = None,
                 b_name: str | None = None) -> ComparisonTable:
    """Arm b minus arm a, each a list of checkpoints from different seeds (one per seed).

    Intervals come from the two-level bootstrap (seeds, then items). ``paired=None`` pairs the arms
    by seed when both hold the same seeds (e.g. intervention and control resumed from the same
    pretraining runs); ``paired=False`` treats them as independent. With one model per arm the
    seed variation cannot be estimated, and the comparison falls back to the per-item test.
    """
    arm_a, arm_b = list(arm_a), list(arm_b)
    if not arm_a or not arm_b:
        raise ValueError("compare_arms needs at least one result in each arm")
    if len(arm_a) == 1 and len(arm_b) == 1:
        log.warning("one model per arm: the interval covers item variation only, not seed variation")
        return compare_checkpoints(arm_a[0], arm_b[0], stats, metrics=metrics, a_name=a_name, b_name=b_name)
    stats = stats or StatsConfig()
    order = _seed_pairing(arm_a, arm_b)
    if paired is True and order is None:
        raise ValueError(f"paired=True but the arms' seeds differ: {[r.seed for r in arm_a]} vs {[r.seed for r in arm_b]}")
    use_pairs = order is not None if paired is None else paired
    if use_pairs:
        arm_b = [arm_b[i] for i in order]  # type: ignore[union-attr]
    name_a = a_name or f"{arm_a[0].arm or 'arm a'} ({len(arm_a)} seeds)"
    name_b = b_name or f"{arm_b[0].arm or 'arm b'} ({len(arm_b)} seeds)"
    table = ComparisonTable(name_a, name_b, confidence=stats.confidence)
    everyone = arm_a + arm_b
    for i, m in enumerate(_metrics_for(everyone, metrics)):
        ids = common_ids(everyone, m)
        cols_a = [item_columns(m, r.tables, ids)[1] for r in arm_a]
        cols_b = [item_columns(m, r.tables, ids)[1] for r in arm_b]
        if len(next(iter(cols_a[0].values()))) < 2:
            continue
        if stats.method == "two_level":
            d = two_level(cols_a, cols_b, m.fn, paired=use_pairs, n_boot=stats.n_boot,
                          confidence=stats.confidence, seed=stats.seed + i, correct=stats.seed_correction)
        else:
            d = seed_t(cols_a, cols_b, m.fn, paired=use_pairs, confidence=stats.confidence)
        row = _row(m, d)
        row.seed_sd = _seed_sd([float(m.fn(c)) for c in cols_a])
        table.rows.append(row)
    if use_pairs:
        table.rows.extend(_residual_rows(arm_a, arm_b, stats))
    adjust(table.rows, stats.primary)
    return table


def _seed_sd(values: list[float]) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) >= 2 else None


def _residual_rows(arm_a: list[CheckpointResults], arm_b: list[CheckpointResults],
                   stats: StatsConfig) -> list[ComparisonRow]:
    """Per association metric: the change a prior push alone predicts (a), the observed change (b),
    and their difference, the residual, with a t-interval over seed pairs (``eval.prior_push``)."""
    rows = []
    everyone = arm_a + arm_b
    for m in residual_metrics():
        table = next((t for t in m.tasks if all(t in r.tables for r in everyone)), None)
        if table is None:
            continue
        ids = common_ids(everyone, m)
        parts = np.array([association_residual(m, table, item_columns(m, a.tables, ids)[1],
                                               item_columns(m, b.tables, ids)[1])
                          for a, b in zip(arm_a, arm_b, strict=True)])
        if len(ids) < 2 or len(parts) < 2:
            continue
        predicted, observed, residual = parts.T
        diff, low, high, p = seed_level(np.zeros_like(residual), residual, paired=True, confidence=stats.confidence)
        label = m.label.split(":")[0] + ": association residual, observed change minus prior-push prediction"
        # Seeds alone: how far two controls' associations lie apart (sd over seeds, times sqrt 2).
        sd = _seed_sd([float(m.fn(item_columns(m, r.tables, ids)[1])) for r in arm_a])
        rows.append(ComparisonRow(
            residual_name(m.name), label, m.kind, "residual", 0.0, None, float(predicted.mean()),
            float(observed.mean()), diff, low, high, p, len(ids), len(arm_a), len(arm_b),
            f"paired t over seeds, {len(arm_a)} vs {len(arm_b)}; a: prior-push prediction, b: observed",
            seed_sd=None if sd is None else sd * float(np.sqrt(2))))
    return rows
