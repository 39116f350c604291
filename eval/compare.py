"""Comparisons with intervals: two checkpoints item by item, or two arms across seeds, read under
a protocol (``eval.protocol``): each row is tested in its family (Holm within it), and a metric
with a margin also gets its equivalence test. ``eval.verdict`` turns a row into what may be said.

Study code calls::

    table = compare_arms(control_results, intervention_results, stats, protocol)   # lists of CheckpointResults
    row = table.row("synthetic/auc")     # row.diff, row.low, row.high, row.p_value, row.p_adjusted, row.family

Differences are always ``b - a`` (second argument minus first).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from debias.eval.config import StatsConfig
from debias.eval.metrics import BY_NAME, METRICS, Metric, item_columns
from debias.eval.protocol import ProtocolConfig
from debias.eval.results import CheckpointResults
from debias.eval.stats import Difference, holm, paired_comparison, seed_t, two_level

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
    margin: float | None = None  # the equivalence margin tested (absolute), None without one
    p_equivalence: float | None = None  # TOST p of |diff| < margin
    family: str | None = None  # the protocol's family it is tested in; None: exploratory
    p_adjusted: float = float("nan")  # Holm within its family (NaN for an exploratory row)
    p_equivalence_adjusted: float | None = None  # Holm over the TOST p's of its family
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
                 "family | seed sd | items | method |",
                 "|---|---:|---:|---:|---|---:|---:|---|---:|---:|---|"]
        for r in self.rows:
            fmt = metric_fmt(r.metric)
            star = " *" if r.significant else ""
            sd = "-" if r.seed_sd is None else f"{r.seed_sd:{fmt}}"
            lines.append(
                f"| {r.label} | {r.a:{fmt}} | {r.b:{fmt}} | {r.diff:+{fmt}}{star} | "
                f"[{r.low:+{fmt}}, {r.high:+{fmt}}] | {r.p_value:.3g} | {r.p_adjusted:.3g} | "
                f"{r.family or 'exploratory'} | {sd} | {r.n_items} | {r.method} |"
            )
        return "\n".join(lines)


def metric_fmt(name: str) -> str:
    return BY_NAME[name].fmt


def adjust(rows: list[ComparisonRow], protocol: ProtocolConfig) -> None:
    """Put each row in its protocol family and fill ``p_adjusted`` (Holm within the family) and
    ``p_equivalence_adjusted`` (Holm over the family's equivalence tests); exploratory rows (in no
    family) keep NaN. Rows are ordered primary endpoints first, then by family."""
    for row in rows:
        row.family = protocol.family_of(row.metric)
    families = [f.name for f in protocol.families]
    for family in families:
        members = [r for r in rows if r.family == family]
        for row, p in zip(members, holm([r.p_value for r in members]), strict=True):
            row.p_adjusted = p
        tested = [r for r in members if r.p_equivalence is not None]
        for row, p in zip(tested, holm([float(r.p_equivalence) for r in tested]), strict=True):  # type: ignore[arg-type]
            row.p_equivalence_adjusted = p
    primary = list(protocol.primary)
    rows.sort(key=lambda r: (r.metric not in primary, primary.index(r.metric) if r.metric in primary else 0,
                             families.index(r.family) if r.family in families else len(families)))


def _margin(m: Metric, protocol: ProtocolConfig, reference: float) -> float | None:
    margin = protocol.margin_of(m.name)
    return None if margin is None else margin.absolute(reference)


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


def compare_checkpoints(a: CheckpointResults, b: CheckpointResults, stats: StatsConfig | None = None,
                        protocol: ProtocolConfig | None = None, *, metrics: Sequence[str] | None = None,
                        a_name: str | None = None, b_name: str | None = None) -> ComparisonTable:
    """Per-item paired differences b - a for every metric both checkpoints support."""
    stats, protocol = stats or StatsConfig(), protocol or ProtocolConfig()
    table = ComparisonTable(a_name or a.name, b_name or b.name, confidence=protocol.confidence)
    for i, m in enumerate(_metrics_for([a, b], metrics)):
        ids = common_ids([a, b], m)
        _, ca = item_columns(m, a.tables, ids)
        _, cb = item_columns(m, b.tables, ids)
        if len(next(iter(ca.values()))) < 2:
            continue
        d = paired_comparison(ca, cb, m.fn, n_boot=stats.n_boot, n_perm=stats.n_perm,
                              confidence=protocol.confidence, seed=stats.seed + i,
                              margin=_margin(m, protocol, float(m.fn(ca))))
        table.rows.append(_row(m, d))
    adjust(table.rows, protocol)
    return table


def _seed_pairing(arm_a: Sequence[CheckpointResults], arm_b: Sequence[CheckpointResults]) -> list[int] | None:
    """Order of arm_b matching arm_a's seeds, when both arms hold the same distinct seeds."""
    seeds_a, seeds_b = [r.seed for r in arm_a], [r.seed for r in arm_b]
    if None in seeds_a or None in seeds_b or len(set(seeds_a)) != len(seeds_a) or sorted(seeds_a) != sorted(seeds_b):
        return None
    return [seeds_b.index(s) for s in seeds_a]


def compare_arms(arm_a: Sequence[CheckpointResults], arm_b: Sequence[CheckpointResults],
                 stats: StatsConfig | None = None, protocol: ProtocolConfig | None = None, *,
                 paired: bool | None = None, metrics: Sequence[str] | None = None, a_name: str | None = None,
                 b_name: str | None = None) -> ComparisonTable:
    """Arm b minus arm a, each a list of checkpoints from different seeds (one per seed), tested as
    ``protocol`` says (default: ``ProtocolConfig()``).

    Intervals come from a t over the per-seed values (``stats.method=seed_t``) or the two-level
    bootstrap (seeds, then items). ``paired=None`` pairs the arms
    by seed when both hold the same seeds (e.g. intervention and control resumed from the same
    pretraining runs); ``paired=False`` treats them as independent. With one model per arm the
    seed variation cannot be estimated, and the comparison falls back to the per-item test.
    """
    arm_a, arm_b = list(arm_a), list(arm_b)
    if not arm_a or not arm_b:
        raise ValueError("compare_arms needs at least one result in each arm")
    if len(arm_a) == 1 and len(arm_b) == 1:
        log.warning("one model per arm: the interval covers item variation only, not seed variation")
        return compare_checkpoints(arm_a[0], arm_b[0], stats, protocol, metrics=metrics, a_name=a_name,
                                   b_name=b_name)
    stats, protocol = stats or StatsConfig(), protocol or ProtocolConfig()
    order = _seed_pairing(arm_a, arm_b)
    if paired is True and order is None:
        raise ValueError(f"paired=True but the arms' seeds differ: {[r.seed for r in arm_a]} vs {[r.seed for r in arm_b]}")
    use_pairs = order is not None if paired is None else paired
    if use_pairs:
        arm_b = [arm_b[i] for i in order]  # type: ignore[union-attr]
    name_a = a_name or f"{arm_a[0].arm or 'arm a'} ({len(arm_a)} seeds)"
    name_b = b_name or f"{arm_b[0].arm or 'arm b'} ({len(arm_b)} seeds)"
    table = ComparisonTable(name_a, name_b, confidence=protocol.confidence)
    everyone = arm_a + arm_b
    for i, m in enumerate(_metrics_for(everyone, metrics)):
        ids = common_ids(everyone, m)
        cols_a = [item_columns(m, r.tables, ids)[1] for r in arm_a]
        cols_b = [item_columns(m, r.tables, ids)[1] for r in arm_b]
        if len(next(iter(cols_a[0].values()))) < 2:
            continue
        values_a = [float(m.fn(c)) for c in cols_a]
        margin = _margin(m, protocol, float(np.mean(values_a)))
        if stats.method == "two_level":
            d = two_level(cols_a, cols_b, m.fn, paired=use_pairs, n_boot=stats.n_boot, confidence=protocol.confidence,
                          seed=stats.seed + i, correct=stats.seed_correction, margin=margin)
        else:
            d = seed_t(cols_a, cols_b, m.fn, paired=use_pairs, confidence=protocol.confidence, margin=margin)
        row = _row(m, d)
        row.seed_sd = _seed_sd(values_a)
        table.rows.append(row)
    adjust(table.rows, protocol)
    return table


def _seed_sd(values: list[float]) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) >= 2 else None
