"""Synthetic probes: scored like WinoBias pronoun preference (pair columns, prior, association, rank)."""

from __future__ import annotations

from eval.tasks.measures import Metric, itemize_pairs, pairs_metrics

itemize = itemize_pairs

METRICS: list[Metric] = pairs_metrics("synthetic", "synthetic", "Synthetic probes")
