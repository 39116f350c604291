"""The headline measures of each benchmark computed inside lm-eval, by this project's own definitions.

lm-eval aggregates a task's per-document values with a function its YAML names. A mean is all it
ships for our measures, and an association, a rank measure or a net bias is not a mean of
per-document values. So the YAML names ``process_results`` made by ``with_records``, which files
each document with its responses under the keys of those measures, and aggregations made by
``aggregate``, which turn the filed documents into item columns with the benchmark's own itemizer
and apply the metric of ``eval.metrics``. ``lm_eval --include_path eval/tasks --tasks debias_bias``
then prints the numbers ``debias-eval`` prints, computed by the same code.

The split of held-out perplexity by token class is not among them: lm-eval hands a rolling
log-likelihood to ``process_results`` as one sum per document, and the split needs each token's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

Results = list[Any]


def with_records(process: Callable[[Mapping[str, Any], Results], dict[str, Any]] | None,
                 *keys: str) -> Callable[[Mapping[str, Any], Results], dict[str, Any]]:
    """``process``'s per-document values, plus the document and its responses under each of ``keys``
    (the shape of a logged sample, which the itemizers read)."""

    def process_results(doc: Mapping[str, Any], results: Results) -> dict[str, Any]:
        out = dict(process(doc, results)) if process is not None else {}
        record = {"doc": dict(doc), "filtered_resps": [list(r) if isinstance(r, (tuple, list)) else r for r in results]}
        out.update({key: record for key in keys})
        return out

    return process_results


def aggregate(metric: str) -> Callable[[list[dict[str, Any]]], float]:
    """lm-eval's aggregation of ``metric`` (a name of ``eval.metrics``) over filed documents."""

    def aggregation(records: list[dict[str, Any]]) -> float:
        import numpy as np

        from debias.eval.metrics import BY_NAME
        from debias.eval.tasks.registry import task_defs

        m = BY_NAME[metric]
        table = m.tasks[0]
        try:
            columns = task_defs()[table].itemize(records)
        except ValueError as exc:  # lm-eval's --limit can cut a WinoBias pair in two
            logging.getLogger(__name__).warning("%s: not computed (%s); run every document of the task", metric, exc)
            return float("nan")
        arrays = {k: np.asarray(v) for k, v in columns.items() if k != "id"}
        if m.subset is not None:
            keep = np.asarray(m.subset(arrays), dtype=bool)
            arrays = {k: v[keep] for k, v in arrays.items()}
        return float(m.fn(arrays))

    aggregation.__name__ = aggregation.__qualname__ = f"debias_{metric.replace('/', '_')}"
    return aggregation
