"""Every benchmark, one entry each: its folder, its lm-eval tasks, its reader and options, its
metrics and the names the summary and the report show. ``eval.metrics``, ``eval.suite``,
``eval.summary``, ``eval.config`` and ``eval.report`` read their lists from here, so a new
benchmark is one folder under ``eval/tasks`` plus one entry below (and its options' field in
``eval.config.TasksConfig``, which a test checks).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.tasks import TASKS_DIR, crows_pairs, heldout, lambada, synthetic, winobias, winogender
from eval.tasks.common import Columns, Planned
from eval.tasks.measures import Metric


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
    series show, in registry order; ``headline`` places metrics (and their ``_residual``) in the
    report's and README's headline list by position; ``push`` names the prior metrics whose
    items the report plots against the push a one-sided rewrite gives (titled ``title``)."""

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
    push: tuple[str, ...] = ()  # prior metrics of she/he pairs whose items the report's push plot shows

    @property
    def folder(self) -> Path:
        return TASKS_DIR / self.name


def _tasks(folder: str, data: Callable[[dict[str, Any]], dict[str, str]],
           **yaml_itemize: tuple[str, Callable[[list[dict[str, Any]]], Columns]]) -> dict[str, TaskDef]:
    return {name: TaskDef(name, f"{folder}/{yaml}", itemize, data) for name, (yaml, itemize) in yaml_itemize.items()}


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "crows_pairs", "CrowS-Pairs", crows_pairs.config.CrowsPairsTask,
        _tasks("crows_pairs", crows_pairs.reader.data_sources,
               crows_pairs=("crows_pairs_english.yaml", crows_pairs.metrics.itemize),
               crows_pairs_gender=("crows_pairs_english_gender.yaml", crows_pairs.metrics.itemize)),
        crows_pairs.config.plans, crows_pairs.reader.crows_pairs_docs, tuple(crows_pairs.metrics.METRICS),
        summary=("crows_pairs_gender/pct_stereotype",),
        series=("crows_pairs_gender/pct_stereotype",),
        headline={"crows_pairs_gender/pct_stereotype": 15},
    ),
    Benchmark(
        "winobias", "WinoBias", winobias.config.WinoBiasTask,
        _tasks("winobias", winobias.reader.data_sources,
               winobias_preference=("winobias_preference.yaml", winobias.metrics.itemize_preference),
               winobias_coreference=("winobias_coreference.yaml", winobias.metrics.itemize_coreference)),
        winobias.config.plans, winobias.reader.load_pairs, tuple(winobias.metrics.METRICS),
        summary=("winobias/prior", "winobias/association", "winobias/auc", "winobias_coref_type1_test/net_bias",
                 "winobias_coref_type2_test/net_bias"),
        series=("winobias/pref_pro", "winobias/prior", "winobias/association", "winobias_coref/net_bias"),
        headline={"winobias/association_residual": 0, "winobias/prior": 4, "winobias/association": 5,
                  "winobias/auc": 6, "winobias_coref_type1_test/net_bias": 13,
                  "winobias_coref_type2_test/net_bias": 14},
        push=("winobias/prior",),
    ),
    Benchmark(
        "winogender", "WinoGender", winogender.config.WinoGenderTask,
        _tasks("winogender", winogender.reader.data_sources,
               winogender=("winogender.yaml", winogender.metrics.itemize)),
        winogender.config.plans, winogender.reader.winogender_docs, tuple(winogender.metrics.METRICS),
        summary=("winogender/association_occupation",),
        series=("winogender/prior", "winogender/association_occupation"),
        headline={"winogender/association_occupation_residual": 3, "winogender/prior": 10,
                  "winogender/association_occupation": 11, "winogender/association_participant": 12},
    ),
    Benchmark(
        "synthetic", "Synthetic probes", synthetic.config.SyntheticProbesTask,
        _tasks("synthetic", synthetic.reader.data_sources,
               synthetic=("synthetic_probes.yaml", synthetic.metrics.itemize)),
        synthetic.config.plans, synthetic.reader.synthetic_probe_docs, tuple(synthetic.metrics.METRICS),
        summary=("synthetic/association",),
        series=("synthetic/prior", "synthetic/association"),
        headline={"synthetic/association_residual": 2, "synthetic/prior": 7, "synthetic/association": 8,
                  "synthetic/auc": 9},
        push=("synthetic/prior",),
    ),
    Benchmark(
        "lambada", "LAMBADA", lambada.config.LambadaTask,
        _tasks("lambada", lambada.reader.data_sources, lambada=("lambada.yaml", lambada.metrics.itemize)),
        lambada.config.plans, lambada.reader.lambada_docs, tuple(lambada.metrics.METRICS),
        summary=("lambada/acc", "lambada/ppl"),
        series=("lambada/acc", "lambada/ppl"),
        headline={"lambada/acc": 20},
    ),
    Benchmark(
        "heldout", "Held-out perplexity", heldout.config.HeldoutTask,
        _tasks("heldout", heldout.reader.data_sources,
               heldout=("heldout_perplexity.yaml", heldout.metrics.itemize)),
        heldout.config.plans, heldout.reader.heldout_docs, tuple(heldout.metrics.METRICS),
        summary=("heldout/ppl_token", "heldout/ppl_other"),
        series=("heldout/ppl_token", "heldout/ppl_other"),
        headline={"heldout/ppl_other": 1, "heldout/ppl_token": 16, "heldout/ppl_gendered": 17,
                  "heldout_to_feminine/ppl_token": 18, "heldout_both/ppl_token": 19},
    ),
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


def push_metrics() -> tuple[tuple[str, str], ...]:
    """(prior metric, benchmark title) of each push plot, in registry order."""
    return tuple((n, b.title) for b in BENCHMARKS for n in b.push)
