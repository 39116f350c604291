"""Every benchmark, one entry each: its folder, its lm-eval tasks, its reader and options, its
metrics and the names the summary and the report show. ``eval.metrics``, ``eval.suite``,
``eval.summary``, ``eval.config`` and ``eval.report`` read their lists from here, so a new
benchmark is one folder under ``eval/tasks`` plus one line below (and its options' field in
``eval.config.TasksConfig``, which a test checks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from debias.eval.tasks import (
    TASKS_DIR,
    crows_pairs,
    heldout,
    lambada,
    synthetic,
    winobias,
    winogender,
)
from debias.eval.tasks.common import Columns, Planned
from debias.eval.tasks.measures import Metric


@dataclass(frozen=True)
class TaskDef:
    """One lm-eval task: its YAML in the benchmark's folder, how its logged samples become item
    columns, and which data decide its scores (options -> {data source: sha256})."""

    name: str
    yaml: str  # relative to TASKS_DIR
    itemize: Callable[[list[dict[str, Any]]], Columns]
    data: Callable[[dict[str, Any]], dict[str, str]]


@dataclass(frozen=True)
class Benchmark:
    """One folder of ``eval/tasks``. ``name`` is the folder and the key of its options (``options``)
    under ``eval.tasks``; ``tasks`` its lm-eval tasks by item-table name; ``plans`` maps its options
    and the subsample seed to the tasks they ask for; ``reader`` gives its docs.

    ``summary`` and ``series`` list metric names the command line's summary and the report's
    series show, in registry order; ``headline`` places metrics in the
    report's and README's headline list by position."""

    name: str
    title: str
    options: type  # its options' dataclass: the type of ``eval.config.TasksConfig.<name>``
    tasks: Mapping[str, TaskDef]
    plans: Callable[[Any, int], list[Planned]]
    reader: Callable[..., Any]
    metrics: tuple[Metric, ...]
    summary: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    headline: Mapping[str, int] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return TASKS_DIR / self.name


def _entry(folder: ModuleType, title: str, reader: Callable[..., Any]) -> Benchmark:
    """A folder's entry, read from its modules: ``config.OPTIONS`` and ``config.plans``,
    ``reader.data_sources``, and ``metrics.METRICS``, ``TABLES``, ``SUMMARY``, ``SERIES``,
    ``HEADLINE``."""
    name = folder.__name__.rsplit(".", 1)[-1]
    m = folder.metrics
    tasks = {table: TaskDef(table, f"{name}/{yaml}", itemize, folder.reader.data_sources)
             for table, (yaml, itemize) in m.TABLES.items()}
    return Benchmark(name, title, folder.config.OPTIONS, tasks, folder.config.plans, reader, tuple(m.METRICS),
                     summary=m.SUMMARY, series=m.SERIES, headline=m.HEADLINE)


BENCHMARKS: tuple[Benchmark, ...] = (
    _entry(crows_pairs, "CrowS-Pairs", crows_pairs.reader.crows_pairs_docs),
    _entry(winobias, "WinoBias", winobias.reader.load_pairs),
    _entry(winogender, "WinoGender", winogender.reader.winogender_docs),
    _entry(synthetic, "Synthetic probes", synthetic.reader.synthetic_probe_docs),
    _entry(lambada, "LAMBADA", lambada.reader.lambada_docs),
    _entry(heldout, "Held-out perplexity", heldout.reader.heldout_docs),
)

BY_NAME: dict[str, Benchmark] = {b.name: b for b in BENCHMARKS}


def task_defs() -> dict[str, TaskDef]:
    """Every lm-eval task of every benchmark, by item-table name."""
    return {name: t for b in BENCHMARKS for name, t in b.tasks.items()}


def metrics() -> list[Metric]:
    """Every metric, in the canonical order (the registry's, then each folder's)."""
    return [m for b in BENCHMARKS for m in b.metrics]


def summary_metrics() -> tuple[str, ...]:
    return tuple(n for b in BENCHMARKS for n in b.summary)


def series_metrics() -> tuple[str, ...]:
    return tuple(n for b in BENCHMARKS for n in b.series)


def headline_metrics() -> tuple[str, ...]:
    placed = sorted((pos, i, n) for i, b in enumerate(BENCHMARKS) for n, pos in b.headline.items())
    return tuple(n for _, _, n in placed)
