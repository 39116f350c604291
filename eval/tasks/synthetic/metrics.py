"""Synthetic probes: scored like WinoBias pronoun preference (pair columns, prior, association, rank)."""

from __future__ import annotations

from debias.eval.tasks.measures import Metric, itemize_pairs, pairs_metrics

itemize = itemize_pairs

METRICS: list[Metric] = pairs_metrics("synthetic", "synthetic", "Synthetic probes")


# What eval.tasks.registry reads: the lm-eval tasks by item table (YAML here, how samples become
# columns), the metrics the command line's summary and the report's series show, and where the
# report's headline places this benchmark's metrics.
TABLES = {"synthetic": ("synthetic_probes.yaml", itemize)}
SUMMARY = ("synthetic/association",)
SERIES = ("synthetic/prior", "synthetic/association")
HEADLINE = {"synthetic/auc": 2, "synthetic/prior": 7, "synthetic/association": 8}
