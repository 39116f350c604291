"""Every metric of DESIGN.md section 3, as the benchmark folders define them (``eval.tasks.registry``),
and how one checkpoint's item tables give them.

A metric reduces along the last axis, so the same function gives the point estimate (columns of
shape ``[n]``) and a whole bootstrap at once (columns of shape ``[replicates, n]``); the record and
the reductions are in ``eval.tasks.measures``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from debias.eval.tasks.measures import Metric, pair_logodds
from debias.eval.tasks.registry import metrics as _registry_metrics
from debias.eval.tasks.winogender.metrics import occupation_correlation, winogender_logodds

__all__ = ["BY_NAME", "METRICS", "Metric", "available", "item_columns", "metric", "occupation_correlation",
           "pair_logodds", "point_estimates", "winogender_logodds"]

METRICS: list[Metric] = _registry_metrics()

BY_NAME = {m.name: m for m in METRICS}


def metric(name: str) -> Metric:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(BY_NAME)}") from None


def available(tables: Mapping[str, object]) -> list[Metric]:
    """The metrics that the given item tables support, in the canonical order."""
    return [m for m in METRICS if m.table(tables) is not None]


def item_columns(m: Metric, tables: Mapping[str, object], ids: list[str] | None = None) -> tuple[list[str], dict[str, np.ndarray]]:
    """(ids, columns) of the items metric ``m`` reads, restricted to its subset (and to ``ids`` if given)."""
    table = tables[m.table(tables)]  # type: ignore[index]
    cols = table.columns if ids is None else table.select(ids)  # type: ignore[attr-defined]
    keep_ids = list(table.ids) if ids is None else list(ids)  # type: ignore[attr-defined]
    if m.subset is not None:
        mask = np.asarray(m.subset(cols), dtype=bool)
        cols = {k: v[mask] for k, v in cols.items()}
        keep_ids = [i for i, k in zip(keep_ids, mask, strict=True) if k]
    return keep_ids, cols


def point_estimates(results) -> dict[str, float]:
    """Every available metric of one checkpoint's results."""
    out = {}
    for m in available(results.tables):
        _, cols = item_columns(m, results.tables)
        if len(next(iter(cols.values()), [])) == 0:
            continue
        out[m.name] = float(m.fn(cols))
    return out
